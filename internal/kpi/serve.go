package kpi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Exporter serves the figures on /metrics and refreshes them from the
// sources on an interval. A source that fails keeps its last good part of
// the figures, and the failure counts in promote_kpi_refresh_errors_total;
// promote_kpi_last_refresh_timestamp_seconds says when every source last
// answered, so an alert sees stale figures rather than none.
type Exporter struct {
	sources Sources
	since   time.Duration
	now     func() time.Time
	log     *slog.Logger

	collector   *Collector
	registry    *prometheus.Registry
	lastRefresh prometheus.Gauge
	errors      *prometheus.CounterVec
	duration    prometheus.Gauge
	ready       atomic.Bool

	mu   sync.Mutex // one refresh at a time; guards last
	last Gathered
}

// NewExporter returns an exporter of the figures of src over the window
// since; now is the clock (time.Now when nil), log where refreshes are
// logged.
func NewExporter(src Sources, since time.Duration, now func() time.Time, log *slog.Logger) *Exporter {
	if now == nil {
		now = time.Now
	}
	e := &Exporter{sources: src, since: since, now: now, log: log, collector: NewCollector(), registry: prometheus.NewRegistry()}
	e.lastRefresh = prometheus.NewGauge(prometheus.GaugeOpts{Name: KPILastRefresh.Name, Help: KPILastRefresh.Help})
	e.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: KPIRefreshErrors.Name, Help: KPIRefreshErrors.Help}, KPIRefreshErrors.Labels)
	e.duration = prometheus.NewGauge(prometheus.GaugeOpts{Name: KPIRefreshDuration.Name, Help: KPIRefreshDuration.Help})
	for _, s := range []string{SourceEvidence, SourceBucket, SourceSpool, SourceGitHub} {
		e.errors.WithLabelValues(s) // every source's series exists from the start, at 0
	}
	e.registry.MustRegister(e.collector, e.lastRefresh, e.errors, e.duration)
	return e
}

// Registry returns the exporter's registry.
func (e *Exporter) Registry() *prometheus.Registry { return e.registry }

// Snapshot returns the figures served now, or nil before the first refresh.
func (e *Exporter) Snapshot() *Snapshot { return e.collector.Snapshot() }

// Refresh reads every source and replaces the figures served, keeping the
// last good part of each source that failed. It returns the errors by
// source.
func (e *Exporter) Refresh(ctx context.Context) map[string]error {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := e.now()
	g := Gather(ctx, e.sources)
	if _, down := g.Errors[SourceEvidence]; down && e.last.Report != nil {
		g.Report, g.Entries, g.LastCheckpoint, g.ReadErr = e.last.Report, e.last.Entries, e.last.LastCheckpoint, nil
	}
	if _, down := g.Errors[SourceBucket]; down && e.last.WORM != nil {
		g.WORM, g.BucketErr = e.last.WORM, nil
	}
	if _, down := g.Errors[SourceSpool]; down && e.last.Errors != nil {
		g.Spool, g.SpoolErr = e.last.Spool, e.last.SpoolErr
	}
	if _, down := g.Errors[SourceGitHub]; down {
		g.Deployments = e.last.Deployments
	}
	e.last = g
	if g.Report != nil {
		e.collector.Set(Compute(g.Input, Options{Now: e.now(), Since: e.since}))
		e.ready.Store(true)
	}
	for source, err := range g.Errors {
		e.errors.WithLabelValues(source).Inc()
		e.log.Warn("refresh: a source failed; serving its last good figures", "source", source, "error", err)
	}
	if len(g.Errors) == 0 {
		e.lastRefresh.Set(unix(e.now()))
	}
	took := e.now().Sub(start)
	e.duration.Set(took.Seconds())
	e.log.Info("refreshed", "took", took, "errors", len(g.Errors))
	return g.Errors
}

// Run refreshes every interval until ctx ends.
func (e *Exporter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Refresh(ctx)
		}
	}
}

// Handler serves /metrics (Prometheus text or OpenMetrics, as the scraper
// asks), /healthz (the process answers) and /readyz (figures computed at
// least once).
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !e.ready.Load() {
			http.Error(w, "not ready: the evidence store has not been read yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
