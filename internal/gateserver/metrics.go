package gateserver

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, named as Promote's KPIs are
// (promote_gate_*), in a registry of its own so that servers in one
// process (tests) do not share them.
type metrics struct {
	reg              *prometheus.Registry
	decisions        *prometheus.CounterVec
	duration         prometheus.Histogram
	callbackFailures prometheus.Counter
	pending          prometheus.Gauge
	refused          *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promote_gate_decisions_total",
			Help: "Decisions of the gate server, by GitHub environment and result (allow, deny, warn).",
		}, []string{"environment", "result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "promote_gate_decision_duration_seconds",
			Help:    "Time from a request coming due (its delivery, or the end of its soak) to its decision, the answer to GitHub excluded.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		callbackFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promote_gate_callback_failures_total",
			Help: "Answers to GitHub (deployment_protection_rule callbacks) that failed; each is retried or checked.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promote_gate_pending_decisions",
			Help: "Requests received and not yet answered, those waiting for a soak to end included.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promote_gate_refused_deliveries_total",
			Help: "Webhook deliveries refused (unsigned, mis-signed, replayed, oversized, malformed, another event), by HTTP status text.",
		}, []string{"status"}),
	}
	m.reg.MustRegister(m.decisions, m.duration, m.callbackFailures, m.pending, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
