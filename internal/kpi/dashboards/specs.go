package dashboards

import "fmt"

// The panels of the four dashboards. Counters (every _total, and a
// histogram's _bucket, _sum and _count) count the whole verified chain, so
// panels show their increase over the dashboard's range or their rate over
// Grafana's rate interval; gauges (_ratio, DORA figures, the last report's
// figures) are shown as they are.

// quantile is the φ-quantile of a histogram's observations that were added
// in window.
func quantile(phi, histogram, matcher, window string) string {
	return fmt.Sprintf(`histogram_quantile(%s, sum by (le) (increase(%s_bucket{%s}[%s])))`, phi, histogram, matcher, window)
}

// mean is the mean of a histogram's observations that were added in window.
func mean(histogram, matcher, window string) string {
	return fmt.Sprintf(`sum(increase(%[1]s_sum{%[2]s}[%[3]s])) / sum(increase(%[1]s_count{%[2]s}[%[3]s]))`, histogram, matcher, window)
}

func specs() []spec {
	return []spec{promotionKPIs(), meshStatus(), evidenceIntegrity(), wormStorage()}
}

func promotionKPIs() spec {
	return spec{
		file:          "promotion-kpis.json",
		uid:           "promote-promotion-kpis",
		title:         "Promote: Promotion KPIs",
		description:   "Promotions by result, durations, waits, parallel efficiency, verification and rollbacks, and the four DORA keys, computed by promote kpi from the verified evidence chain.",
		serviceMetric: "promote_promotions_total",
		rows: []row{
			{title: "Promotions", panels: []panel{
				{kind: statPanel, title: "Promotions", unit: "short",
					description: "Nodes promoted in the time range, any result.",
					queries:     []query{{expr: `sum(increase(promote_promotions_total{` + sel + `}[$__range]))`}}},
				{kind: statPanel, title: "Succeeded", unit: "percentunit",
					description: "Share of the nodes promoted in the time range that succeeded.",
					queries:     []query{{expr: `sum(increase(promote_promotions_total{` + sel + `,result="succeeded"}[$__range])) / sum(increase(promote_promotions_total{` + sel + `}[$__range]))`}}},
				{kind: statPanel, title: "Retries", unit: "short",
					description: "Attempts beyond the first, in the time range.",
					queries:     []query{{expr: `sum(increase(promote_node_retries_total{` + sel + `}[$__range]))`}}},
				{kind: statPanel, title: "Mean node duration", unit: "s",
					description: "Mean time from a node's start to its end, in the time range.",
					queries:     []query{{expr: mean("promote_node_duration_seconds", sel, "$__range")}}},
				{kind: timeSeries, title: "Promotions by result", unit: "short", width: 12,
					description: "Nodes promoted per rate interval, by result (succeeded, failed, skipped, cancelled).",
					queries:     []query{{expr: `sum by (result) (increase(promote_promotions_total{` + sel + `}[$__rate_interval]))`, legend: "{{result}}"}}},
				{kind: barGauge, title: "Success ratio (promote kpi --since window)", unit: "percentunit", width: 12,
					description: "promote_promotion_success_ratio: succeeded ÷ promoted over the window promote kpi was given, per service and environment.",
					queries:     []query{{expr: `promote_promotion_success_ratio{` + sel + `}`, legend: "{{service}}@{{environment}}"}}},
			}},
			{title: "Durations and waits", panels: []panel{
				{kind: timeSeries, title: "Node duration", unit: "s", width: 8,
					description: "Median and 90th percentile of node durations, per rate interval.",
					queries: []query{
						{expr: quantile("0.5", "promote_node_duration_seconds", sel, "$__rate_interval"), legend: "p50"},
						{expr: quantile("0.9", "promote_node_duration_seconds", sel, "$__rate_interval"), legend: "p90"},
					}},
				{kind: timeSeries, title: "Queue and approval wait", unit: "s", width: 8,
					description: "90th percentile of the time a ready node waited for a slot (queue) and for reviewers and wait timers (approval).",
					queries: []query{
						{expr: quantile("0.9", "promote_node_queue_wait_seconds", sel, "$__rate_interval"), legend: "queue p90"},
						{expr: quantile("0.9", "promote_node_approval_wait_seconds", sel, "$__rate_interval"), legend: "approval p90"},
					}},
				{kind: timeSeries, title: "GitHub requests per node", unit: "short", width: 8,
					description: "90th percentile of the GitHub API requests one node made.",
					queries:     []query{{expr: quantile("0.9", "promote_node_github_requests", sel, "$__rate_interval"), legend: "p90"}}},
				{kind: timeSeries, title: "Run makespan", unit: "s", width: 12,
					description: "Median and 90th percentile of whole runs' makespans (all services and environments).",
					queries: []query{
						{expr: `histogram_quantile(0.5, sum by (le) (increase(promote_run_duration_seconds_bucket[$__rate_interval])))`, legend: "p50"},
						{expr: `histogram_quantile(0.9, sum by (le) (increase(promote_run_duration_seconds_bucket[$__rate_interval])))`, legend: "p90"},
					}},
				{kind: statPanel, title: "Parallel efficiency (last run)", unit: "percentunit",
					description: "Busy time ÷ (makespan × max_parallel) of the last run.",
					queries:     []query{{expr: `max(promote_run_parallel_efficiency_ratio)`}}},
				{kind: statPanel, title: "Makespan ÷ lower bound (last run)", unit: "suffix:×",
					description: "The last run's makespan over its critical-path lower bound: 1 is the best any schedule could do.",
					queries:     []query{{expr: `max(promote_run_makespan_lower_bound_ratio)`}}},
			}},
			{title: "DORA", panels: []panel{
				{kind: statPanel, title: "Deployment frequency", unit: "suffix: /day",
					description: "Successful deployments per day over the promote kpi --since window (DORA: deployment frequency).",
					queries:     []query{{expr: `sum(promote_dora_deployment_frequency_per_day{` + sel + `})`}}},
				{kind: statPanel, title: "Change lead time (median)", unit: "s",
					description: "Median time from a commit to its successful deployment, one observation per commit, in the time range (DORA: change lead time).",
					queries:     []query{{expr: quantile("0.5", "promote_dora_change_lead_time_seconds", sel, "$__range")}}},
				{kind: statPanel, title: "Change failure rate", unit: "percentunit",
					description: "Failed deployments ÷ deployments in the time range, counted per deployment; a rollback counts as a failure of the change it left (DORA: change failure rate).",
					queries:     []query{{expr: `sum(increase(promote_dora_deployments_total{` + sel + `,result="failed"}[$__range])) / sum(increase(promote_dora_deployments_total{` + sel + `}[$__range]))`}}},
				{kind: statPanel, title: "Failed deployment recovery time (median)", unit: "s",
					description: "Median time from a failed deployment to the next successful one of the same service and environment, in the time range (DORA: failed deployment recovery time).",
					queries:     []query{{expr: quantile("0.5", "promote_dora_failed_deployment_recovery_time_seconds", sel, "$__range")}}},
				{kind: timeSeries, title: "Deployments per day", unit: "short", width: 12,
					description: "Deployments in the day before each point, by environment and result.",
					queries:     []query{{expr: `sum by (environment, result) (increase(promote_dora_deployments_total{` + sel + `}[1d]))`, legend: "{{environment}} {{result}}"}}},
				{kind: barGauge, title: "Change failure rate (promote kpi --since window)", unit: "percentunit", width: 12,
					description: "promote_dora_change_failure_ratio per service and environment, over the window promote kpi was given.",
					queries:     []query{{expr: `promote_dora_change_failure_ratio{` + sel + `}`, legend: "{{service}}@{{environment}}"}}},
			}},
			// Last, so that the panels above keep their ids (Grafana links
			// to a panel by id).
			{title: "Verification and rollback", panels: []panel{
				{kind: barGauge, title: "Verification failure ratio by type", unit: "percentunit", width: 8,
					description: "Failed ÷ all post-deploy and soak checks in the time range, by check type (http, prometheus, command, workflow); a failed check fails its node, and may roll it back.",
					queries:     []query{{expr: `sum by (type) (increase(promote_verifications_total{` + sel + `,outcome="failed"}[$__range])) / sum by (type) (increase(promote_verifications_total{` + sel + `}[$__range]))`, legend: "{{type}}"}}},
				{kind: timeSeries, title: "Verification duration", unit: "s", width: 8,
					description: "90th percentile of the time a post-deploy check took to pass or fail, by check type, per rate interval (soak checks left out: they last the soak).",
					queries:     []query{{expr: `histogram_quantile(0.9, sum by (le, type) (increase(promote_verification_duration_seconds_bucket{` + sel + `}[$__rate_interval])))`, legend: "{{type}} p90"}}},
				{kind: timeSeries, title: "Rollbacks by result", unit: "short", width: 8,
					description: "Rollbacks per rate interval, by result: automatic ones after a failed node (rollback: in the manifest), manual ones (promote rollback), and redeploys of an earlier version.",
					queries:     []query{{expr: `sum by (result) (increase(promote_rollbacks_total{` + sel + `}[$__rate_interval]))`, legend: "{{result}}"}}},
			}},
		},
	}
}

func meshStatus() spec {
	const svc = `service=~"$service"`
	return spec{
		file:          "mesh-status.json",
		uid:           "promote-mesh-status",
		title:         "Promote: Service mesh status",
		description:   "The last promote mesh check of each service, from its signed evidence record: findings, mTLS mode per namespace and workload, policies in force.",
		serviceMetric: "promote_mesh_last_check_timestamp_seconds",
		rows: []row{
			{title: "Last mesh check", panels: []panel{
				{kind: statPanel, title: "Namespaces without STRICT mTLS", unit: "short",
					description: "Namespaces where the last check did not find STRICT mTLS in force (0 is the goal).",
					queries:     []query{{expr: `sum(1 - promote_mesh_mtls_strict{` + svc + `})`}}},
				{kind: statPanel, title: "Findings", unit: "short",
					description: "Findings of the last mesh check, all rules and severities.",
					queries:     []query{{expr: `sum(promote_mesh_findings{` + svc + `})`}}},
				{kind: statPanel, title: "Ignored findings", unit: "short",
					description: "Findings the last mesh check set aside by ignore annotations.",
					queries:     []query{{expr: `sum(promote_mesh_ignored_findings{` + svc + `})`}}},
				{kind: statPanel, title: "Oldest last check", unit: "s",
					description: "Time since the least recently checked service's last mesh check.",
					queries:     []query{{expr: `time() - min(promote_mesh_last_check_timestamp_seconds{` + svc + `})`}}},
				{kind: barGauge, title: "Findings by rule", unit: "short", width: 12,
					description: "Findings of the last check, by rule and severity.",
					queries:     []query{{expr: `sum by (rule, severity) (promote_mesh_findings{` + svc + `})`, legend: "{{rule}} ({{severity}})"}}},
				{kind: timeSeries, title: "Findings by severity", unit: "short", width: 12,
					description: "Findings of each service's last check over time, by severity.",
					queries:     []query{{expr: `sum by (severity) (promote_mesh_findings{` + svc + `})`, legend: "{{severity}}"}}},
			}},
			{title: "mTLS and policies", panels: []panel{
				{kind: tablePanel, title: "mTLS mode by namespace and workload", unit: "short", width: 12,
					description: "The mTLS mode the last check found in force for each namespace and workload.",
					queries:     []query{{expr: `promote_mesh_mtls_mode{` + svc + `}`}}},
				{kind: timeSeries, title: "STRICT mTLS by namespace", unit: "bool_on_off", width: 12,
					description: "1 while STRICT mTLS is in force in the namespace; a drop to 0 is what the PromoteMeshStrictMTLSLost alert fires on.",
					queries:     []query{{expr: `max by (namespace) (promote_mesh_mtls_strict{` + svc + `})`, legend: "{{namespace}}"}}},
				{kind: barGauge, title: "Policies in force", unit: "short", width: 12,
					description: "AuthorizationPolicies each service ships, as its last mesh check found them.",
					queries:     []query{{expr: `sum by (service) (promote_mesh_policies{` + svc + `})`, legend: "{{service}}"}}},
				{kind: barGauge, title: "Promotions of these services", unit: "short", width: 12,
					description: "Nodes promoted in the time range by environment, to set mesh changes beside the deployments that shipped them.",
					queries:     []query{{expr: `sum by (environment) (increase(promote_promotions_total{` + sel + `}[$__range]))`, legend: "{{environment}}"}}},
			}},
		},
	}
}

func evidenceIntegrity() spec {
	return spec{
		file:          "evidence-integrity.json",
		uid:           "promote-evidence-integrity",
		title:         "Promote: Evidence chain integrity",
		description:   "Whether the evidence chain verifies, how fresh it is, what it holds and what is still spooled; every figure comes from verifying the chain as promote kpi reads it.",
		serviceMetric: "promote_promotions_total",
		rows: []row{
			{title: "Integrity", panels: []panel{
				{kind: statPanel, title: "Chain verified", unit: "bool_yes_no", width: 4,
					description: "1 when every record's signature, hash link and checkpoint verified; 0 when the chain is broken (the PromoteEvidenceChainBroken alert).",
					queries:     []query{{expr: `min(promote_evidence_chain_ok)`}}},
				{kind: statPanel, title: "Broken records", unit: "short", width: 4,
					description: "Records with at least one verification failure in the last read of the chain.",
					queries:     []query{{expr: `max(promote_evidence_broken_records)`}}},
				{kind: statPanel, title: "Verification failures", unit: "short", width: 4,
					description: "Problems verification found (records, checkpoints, keys), added in the time range.",
					queries:     []query{{expr: `sum(increase(promote_evidence_verification_failures_total[$__range]))`}}},
				{kind: statPanel, title: "Last record age", unit: "s", width: 4,
					description: "Time since the newest record was sealed.",
					queries:     []query{{expr: `time() - max(promote_evidence_last_record_timestamp_seconds)`}}},
				{kind: statPanel, title: "Last checkpoint age", unit: "s", width: 4,
					description: "Time since the newest verified checkpoint was signed.",
					queries:     []query{{expr: `time() - max(promote_evidence_last_checkpoint_timestamp_seconds)`}}},
				{kind: statPanel, title: "Spooled records", unit: "short", width: 4,
					description: "Records sealed but not yet uploaded to the store (retried on the next run).",
					queries:     []query{{expr: `sum(promote_evidence_spool_records)`}}},
			}},
			{title: "Records", panels: []panel{
				{kind: timeSeries, title: "Records sealed by kind", unit: "short", width: 12,
					description: "Records appended to the chain per rate interval, by kind (promotion, gate, mesh-check, …).",
					queries:     []query{{expr: `sum by (kind) (increase(promote_evidence_records_total[$__rate_interval]))`, legend: "{{kind}}"}}},
				{kind: timeSeries, title: "Chain head and spool", unit: "short", width: 12,
					description: "The chain's head sequence number and the records waiting in the spool.",
					queries: []query{
						{expr: `max(promote_evidence_head_seq)`, legend: "head seq"},
						{expr: `sum(promote_evidence_spool_records)`, legend: "spooled"},
					}},
				{kind: barGauge, title: "Promotion records by service and environment", unit: "short", width: 12,
					description: "Promotion records sealed in the time range.",
					queries:     []query{{expr: `sum by (service, environment) (increase(promote_promotions_total{` + sel + `}[$__range]))`, legend: "{{service}}@{{environment}}"}}},
				{kind: tablePanel, title: "Evidence store", unit: "short", width: 12,
					description: "The store the chain was read from.",
					queries:     []query{{expr: `promote_evidence_info`}}},
			}},
		},
	}
}

func wormStorage() spec {
	return spec{
		file:          "worm-storage.json",
		uid:           "promote-worm-storage",
		title:         "Promote: WORM storage",
		description:   "The evidence bucket under S3 Object Lock, as the audit of promote evidence verify sees it: objects, bytes, retention margin, versions not in COMPLIANCE mode, delete markers.",
		serviceMetric: "promote_promotions_total",
		rows: []row{
			{title: "Bucket", panels: []panel{
				{kind: statPanel, title: "Retention margin", unit: "s", width: 4,
					description: "Time until the earliest retain-until date of any object: when it passes, that object may be deleted (the PromoteWORMRetentionMarginShort alert).",
					queries:     []query{{expr: `min(promote_worm_min_retain_until_timestamp_seconds) - time()`}}},
				{kind: statPanel, title: "Not COMPLIANCE", unit: "short", width: 4,
					description: "Object versions without COMPLIANCE-mode retention: anyone with the permission could delete them.",
					queries:     []query{{expr: `sum(promote_worm_noncompliant_versions)`}}},
				{kind: statPanel, title: "Delete markers", unit: "short", width: 4,
					description: "Delete markers in the bucket: the verifier treats each as tampering.",
					queries:     []query{{expr: `sum(promote_worm_delete_markers)`}}},
				{kind: statPanel, title: "Objects", unit: "short", width: 4,
					description: "Objects in the evidence bucket.",
					queries:     []query{{expr: `sum(promote_worm_objects)`}}},
				{kind: statPanel, title: "Stored", unit: "bytes", width: 4,
					description: "Bytes in the evidence bucket.",
					queries:     []query{{expr: `sum(promote_worm_bytes)`}}},
				{kind: statPanel, title: "Spooled records", unit: "short", width: 4,
					description: "Records sealed but not yet in the bucket.",
					queries:     []query{{expr: `sum(promote_evidence_spool_records)`}}},
			}},
			{title: "Over time", panels: []panel{
				{kind: timeSeries, title: "Bucket size", unit: "bytes", width: 12,
					description: "Bytes under Object Lock.",
					queries:     []query{{expr: `sum(promote_worm_bytes)`, legend: "bytes"}}},
				{kind: timeSeries, title: "Retention margin", unit: "s", width: 12,
					description: "Time left until the earliest retain-until date.",
					queries:     []query{{expr: `min(promote_worm_min_retain_until_timestamp_seconds) - time()`, legend: "margin"}}},
				{kind: barGauge, title: "Promotion records written, by service and environment", unit: "short", width: 24,
					description: "Promotion records sealed into the bucket in the time range.",
					queries:     []query{{expr: `sum by (service, environment) (increase(promote_promotions_total{` + sel + `}[$__range]))`, legend: "{{service}}@{{environment}}"}}},
			}},
		},
	}
}
