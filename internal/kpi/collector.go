package kpi

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the latest Snapshot to Prometheus. Set replaces it
// atomically, so a scrape sees one refresh's figures, never a mix; until
// the first Set it exports nothing.
type Collector struct {
	descs    map[*Desc]*prometheus.Desc
	snapshot atomic.Pointer[Snapshot]
}

// NewCollector returns a Collector of the metrics in Descs.
func NewCollector() *Collector {
	c := &Collector{descs: map[*Desc]*prometheus.Desc{}}
	for _, d := range Descs {
		c.descs[d] = prometheus.NewDesc(d.Name, d.Help, d.Labels, nil)
	}
	return c
}

// Set makes s the snapshot the collector exports.
func (c *Collector) Set(s *Snapshot) { c.snapshot.Store(s) }

// Snapshot returns the snapshot the collector exports, or nil.
func (c *Collector) Snapshot() *Snapshot { return c.snapshot.Load() }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range Descs {
		ch <- c.descs[d]
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot.Load()
	if s == nil {
		return
	}
	for _, f := range s.Families {
		pd := c.descs[f.Desc]
		for _, smp := range f.Samples {
			switch f.Desc.Type {
			case Counter:
				ch <- prometheus.MustNewConstMetric(pd, prometheus.CounterValue, smp.Value, smp.Labels...)
			case Gauge:
				ch <- prometheus.MustNewConstMetric(pd, prometheus.GaugeValue, smp.Value, smp.Labels...)
			case Histogram:
				buckets := make(map[float64]uint64, len(smp.Buckets))
				for i, n := range smp.Buckets {
					buckets[f.Desc.Buckets[i]] = n
				}
				ch <- prometheus.MustNewConstHistogram(pd, smp.Count, smp.Sum, buckets, smp.Labels...)
			}
		}
	}
}
