package kpi

import (
	"cmp"
	"slices"
	"strings"
)

// Sample is one series of a metric: its label values, in the order of the
// Desc's labels, and its value or, for a histogram, its observations'
// count, sum and cumulative bucket counts.
type Sample struct {
	Labels []string `json:"labels,omitempty"`
	Value  float64  `json:"value"`
	// Count, Sum and Buckets are a histogram's; Buckets[i] counts the
	// observations up to Desc.Buckets[i].
	Count   uint64   `json:"count,omitempty"`
	Sum     float64  `json:"sum,omitempty"`
	Buckets []uint64 `json:"buckets,omitempty"`
}

// Family is a metric and its series.
type Family struct {
	Desc    *Desc
	Samples []Sample
}

// Snapshot is every figure computed in one pass over the sources.
type Snapshot struct {
	Families []Family
	// ChainOK reports whether the evidence chain verified; when it did
	// not, Snapshot holds the integrity metrics only, never figures from
	// records that cannot be trusted.
	ChainOK bool
	// Problems says what went wrong, one line each: the chain's failures,
	// a source that could not be read.
	Problems []string
}

// Family returns the family of d, or nil.
func (s *Snapshot) Family(d *Desc) *Family {
	for i := range s.Families {
		if s.Families[i].Desc == d {
			return &s.Families[i]
		}
	}
	return nil
}

// Value returns the value of d's series with the label values, and whether
// there is one.
func (s *Snapshot) Value(d *Desc, labels ...string) (float64, bool) {
	if f := s.Family(d); f != nil {
		for _, smp := range f.Samples {
			if slices.Equal(smp.Labels, labels) {
				return smp.Value, true
			}
		}
	}
	return 0, false
}

// builder collects series by label values.
type builder struct {
	series map[*Desc]map[labelKey]*series
}

// labelKey is a series' label values as a map key that costs no
// allocation; no metric has more than four labels.
type labelKey [4]string

type series struct {
	labels []string
	value  float64
	obs    []float64
}

func newBuilder() *builder { return &builder{series: map[*Desc]map[labelKey]*series{}} }

func (b *builder) get(d *Desc, labels []string) *series {
	if len(labels) != len(d.Labels) || len(labels) > len(labelKey{}) {
		panic("kpi: " + d.Name + " takes labels " + strings.Join(d.Labels, ", "))
	}
	m := b.series[d]
	if m == nil {
		m = map[labelKey]*series{}
		b.series[d] = m
	}
	var k labelKey
	copy(k[:], labels)
	s := m[k]
	if s == nil {
		s = &series{labels: slices.Clone(labels)}
		m[k] = s
	}
	return s
}

// set sets a gauge or counter series.
func (b *builder) set(d *Desc, v float64, labels ...string) { b.get(d, labels).value = v }

// add adds to a gauge or counter series, creating it at 0.
func (b *builder) add(d *Desc, v float64, labels ...string) { b.get(d, labels).value += v }

// observe adds an observation to a histogram series.
func (b *builder) observe(d *Desc, v float64, labels ...string) {
	s := b.get(d, labels)
	s.obs = append(s.obs, v)
}

// snapshot returns the families in Descs order, series sorted by labels.
func (b *builder) snapshot() []Family {
	var out []Family
	for _, d := range Descs {
		m := b.series[d]
		if len(m) == 0 {
			continue
		}
		f := Family{Desc: d}
		for _, s := range m {
			smp := Sample{Labels: s.labels, Value: s.value}
			if d.Type == Histogram {
				smp.Value = 0
				smp.Count = uint64(len(s.obs))
				smp.Buckets = make([]uint64, len(d.Buckets))
				for _, v := range s.obs {
					smp.Sum += v
					if i, _ := slices.BinarySearch(d.Buckets, v); i < len(d.Buckets) {
						smp.Buckets[i]++
					}
				}
				for i := 1; i < len(smp.Buckets); i++ {
					smp.Buckets[i] += smp.Buckets[i-1]
				}
			}
			f.Samples = append(f.Samples, smp)
		}
		slices.SortFunc(f.Samples, func(a, b Sample) int {
			return cmp.Compare(strings.Join(a.Labels, "\x00"), strings.Join(b.Labels, "\x00"))
		})
		out = append(out, f)
	}
	return out
}
