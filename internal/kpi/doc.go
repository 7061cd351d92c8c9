// Package kpi computes Promote's KPIs from its own signed records: promotion
// results and timings, the runs' parallel efficiency, the four DORA keys,
// the evidence chain's integrity, the WORM bucket and the mesh, and exports
// them to Prometheus (a collector, OpenMetrics and text output, a
// Pushgateway push, an exporter that refreshes on an interval).
//
// Every figure is traced to evidence: Gather reads the log through
// evidence.Verifier, and Compute computes nothing from a chain that does
// not verify but the integrity figures that say so. Counters and histograms
// count the whole verified chain, so they only grow as it does and rate()
// and increase() work; ratios and DORA gauges cover a window. Desc lists
// every metric once; docs/kpi.md defines each.
package kpi
