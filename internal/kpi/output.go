package kpi

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// WriteOpenMetrics writes what g gathers as OpenMetrics text, "# EOF"
// included, with client_golang's encoder.
func WriteOpenMetrics(w io.Writer, g prometheus.Gatherer) error {
	return writeText(w, g, expfmt.TypeOpenMetrics)
}

// WritePrometheusText writes what g gathers in Prometheus's text
// exposition format (0.0.4), what promtool check metrics and the node
// exporter's textfile collector read.
func WritePrometheusText(w io.Writer, g prometheus.Gatherer) error {
	return writeText(w, g, expfmt.TypeTextPlain)
}

func writeText(w io.Writer, g prometheus.Gatherer, t expfmt.FormatType) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gathering the metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(t))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("writing the metrics: %w", err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}

// Registry returns a registry that exports s.
func Registry(s *Snapshot) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	c := NewCollector()
	c.Set(s)
	reg.MustRegister(c)
	return reg
}

// jsonSample is a series in the JSON output, with named labels.
type jsonSample struct {
	Labels  map[string]string `json:"labels,omitempty"`
	Value   *float64          `json:"value,omitempty"`
	Count   *uint64           `json:"count,omitempty"`
	Sum     *float64          `json:"sum,omitempty"`
	Buckets map[string]uint64 `json:"buckets,omitempty"`
}

type jsonFamily struct {
	Name    string       `json:"name"`
	Type    Type         `json:"type"`
	Help    string       `json:"help"`
	Samples []jsonSample `json:"samples"`
}

// WriteJSON writes s as JSON: whether the chain verified, the problems,
// and every metric with its series.
func WriteJSON(w io.Writer, s *Snapshot) error {
	out := struct {
		ChainOK  bool         `json:"chain_ok"`
		Problems []string     `json:"problems"`
		Metrics  []jsonFamily `json:"metrics"`
	}{ChainOK: s.ChainOK, Problems: append([]string{}, s.Problems...), Metrics: []jsonFamily{}}
	for _, f := range s.Families {
		jf := jsonFamily{Name: f.Desc.Name, Type: f.Desc.Type, Help: f.Desc.Help}
		for _, smp := range f.Samples {
			js := jsonSample{}
			if len(f.Desc.Labels) > 0 {
				js.Labels = map[string]string{}
				for i, l := range f.Desc.Labels {
					js.Labels[l] = smp.Labels[i]
				}
			}
			if f.Desc.Type == Histogram {
				js.Count, js.Sum = &smp.Count, &smp.Sum
				js.Buckets = map[string]uint64{}
				for i, n := range smp.Buckets {
					js.Buckets[strconv.FormatFloat(f.Desc.Buckets[i], 'g', -1, 64)] = n
				}
			} else {
				js.Value = &smp.Value
			}
			jf.Samples = append(jf.Samples, js)
		}
		out.Metrics = append(out.Metrics, jf)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// WriteTable writes s as an aligned table for a terminal: one row per
// series; a histogram shows its count and mean.
func WriteTable(w io.Writer, s *Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tLABELS\tVALUE")
	for _, f := range s.Families {
		for _, smp := range f.Samples {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Desc.Name, labelText(f.Desc, smp), valueText(f.Desc, smp))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeProblems(w, s)
}

func writeProblems(w io.Writer, s *Snapshot) error {
	if s.ChainOK && len(s.Problems) == 0 {
		return nil
	}
	if !s.ChainOK {
		if _, err := fmt.Fprintln(w, "\nThe evidence chain does not verify: only the integrity figures are shown."); err != nil {
			return err
		}
	}
	for _, p := range s.Problems {
		if _, err := fmt.Fprintf(w, "  %s\n", p); err != nil {
			return err
		}
	}
	return nil
}

func labelText(d *Desc, smp Sample) string {
	parts := make([]string, len(d.Labels))
	for i, l := range d.Labels {
		parts[i] = l + "=" + smp.Labels[i]
	}
	return strings.Join(parts, " ")
}

func valueText(d *Desc, smp Sample) string {
	if d.Type == Histogram {
		mean := 0.0
		if smp.Count > 0 {
			mean = smp.Sum / float64(smp.Count)
		}
		return fmt.Sprintf("count %d, mean %s", smp.Count, number(mean))
	}
	return number(smp.Value)
}

func number(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// WriteFile writes what g gathers to path in the text format, atomically
// (a temporary file renamed over it), as the node exporter's textfile
// collector requires: it must never read half a file.
func WriteFile(path string, g prometheus.Gatherer) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write the metrics file: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = WritePrometheusText(tmp, g)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write the metrics file: %w", err)
	}
	return nil
}
