package kpi

import "time"

// Type is how Prometheus reads a metric.
type Type string

// The metric types Promote exports.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Desc describes one metric: everything about it in one place, from which
// the collector, the JSON and table outputs and docs/kpi.md's list follow.
type Desc struct {
	Name   string
	Help   string
	Type   Type
	Labels []string
	// Buckets are a histogram's upper bounds, in the metric's unit.
	Buckets []float64
}

func seconds(ds ...time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

var (
	svcEnv       = []string{"service", "environment"}
	svcEnvResult = []string{"service", "environment", "result"}

	nodeBuckets    = seconds(5*time.Second, 15*time.Second, 30*time.Second, time.Minute, 2*time.Minute, 5*time.Minute, 10*time.Minute, 20*time.Minute, 30*time.Minute, time.Hour, 2*time.Hour)
	waitBuckets    = seconds(time.Second, 5*time.Second, 15*time.Second, 30*time.Second, time.Minute, 5*time.Minute, 15*time.Minute, 30*time.Minute, time.Hour, 4*time.Hour, 24*time.Hour)
	runBuckets     = seconds(time.Minute, 5*time.Minute, 10*time.Minute, 20*time.Minute, 30*time.Minute, time.Hour, 2*time.Hour, 4*time.Hour)
	leadBuckets    = seconds(10*time.Minute, time.Hour, 4*time.Hour, 24*time.Hour, 3*24*time.Hour, 7*24*time.Hour, 14*24*time.Hour, 30*24*time.Hour)
	recoverBuckets = seconds(5*time.Minute, 15*time.Minute, time.Hour, 4*time.Hour, 24*time.Hour, 7*24*time.Hour)
	verifyBuckets  = seconds(time.Second, 5*time.Second, 15*time.Second, 30*time.Second, time.Minute, 2*time.Minute, 5*time.Minute, 10*time.Minute, 15*time.Minute, 30*time.Minute, time.Hour)
)

// The metrics, in the order the outputs list them. docs/kpi.md defines
// each; its test checks that it names every one.
var (
	PromotionsTotal    = &Desc{"promote_promotions_total", "Promotion records by outcome, over the whole verified evidence chain.", Counter, svcEnvResult, nil}
	PromotionSuccess   = &Desc{"promote_promotion_success_ratio", "Succeeded node promotions divided by those that tried to deploy (attempts > 0), over the window.", Gauge, svcEnv, nil}
	NodeDuration       = &Desc{"promote_node_duration_seconds", "Node time from start to end, approval wait included, of the nodes that tried to deploy.", Histogram, svcEnv, nodeBuckets}
	NodeQueueWait      = &Desc{"promote_node_queue_wait_seconds", "Time from a node's dependencies done (queued_at) to its start: waiting for a slot in the rollout window.", Histogram, svcEnv, waitBuckets}
	NodeApprovalWait   = &Desc{"promote_node_approval_wait_seconds", "Time a node's deploy waited on required reviewers and wait timers.", Histogram, svcEnv, waitBuckets}
	NodeRetries        = &Desc{"promote_node_retries_total", "Retries of nodes after transient failures (attempts - 1, summed).", Counter, svcEnv, nil}
	NodeGitHubRequests = &Desc{"promote_node_github_requests", "GitHub API requests per node.", Histogram, svcEnv, []float64{5, 10, 20, 50, 100, 200, 500}}
	RunDuration        = &Desc{"promote_run_duration_seconds", "Makespan of promotion runs: first node start to last node end, one per run.", Histogram, nil, runBuckets}
	RunEfficiency      = &Desc{"promote_run_parallel_efficiency_ratio", "Busy time / (makespan * max_parallel) of the last run.", Gauge, nil, nil}
	RunLowerBound      = &Desc{"promote_run_makespan_lower_bound_ratio", "Makespan / lower bound of the last run (1 is optimal).", Gauge, nil, nil}
	DORADeployments    = &Desc{"promote_dora_deployments_total", "Deployments, deduplicated by deployment id, by result.", Counter, svcEnvResult, nil}
	DORAFrequency      = &Desc{"promote_dora_deployment_frequency_per_day", "Successful deployments per day over the window.", Gauge, svcEnv, nil}
	DORALeadTime       = &Desc{"promote_dora_change_lead_time_seconds", "Commit time to its first successful deployment, one per commit.", Histogram, svcEnv, leadBuckets}
	DORAFailureRatio   = &Desc{"promote_dora_change_failure_ratio", "Failed deployments / deployments over the window, per deployment.", Gauge, svcEnv, nil}
	DORARecovery       = &Desc{"promote_dora_failed_deployment_recovery_time_seconds", "Time from a failed deployment to the next successful one of the same service and environment.", Histogram, svcEnv, recoverBuckets}
	RollbacksTotal     = &Desc{"promote_rollbacks_total", "Rollbacks (recorded as such, or deployments of an earlier version that already ran there) by result.", Counter, svcEnvResult, nil}
	VerificationsTotal = &Desc{"promote_verifications_total", "Post-deploy and soak checks by type and outcome, over the whole verified evidence chain.", Counter, []string{"service", "environment", "type", "outcome"}, nil}
	VerificationTime   = &Desc{"promote_verification_duration_seconds", "Time a post-deploy check took to pass or fail, by type (soak checks left out: they last the soak).", Histogram, []string{"service", "environment", "type"}, verifyBuckets}
	EvidenceRecords    = &Desc{"promote_evidence_records_total", "Evidence records in the verified chain, by kind.", Counter, []string{"kind"}, nil}
	EvidenceHead       = &Desc{"promote_evidence_head_seq", "Highest sequence number in the evidence log.", Gauge, nil, nil}
	EvidenceChainOK    = &Desc{"promote_evidence_chain_ok", "1 when the evidence chain verified, 0 when it is broken or cannot be read.", Gauge, nil, nil}
	EvidenceBroken     = &Desc{"promote_evidence_broken_records", "Records with at least one verification failure.", Gauge, nil, nil}
	EvidenceFailures   = &Desc{"promote_evidence_verification_failures_total", "Problems the last verification found (records, checkpoints, keys).", Counter, nil, nil}
	EvidenceCheckpoint = &Desc{"promote_evidence_last_checkpoint_timestamp_seconds", "When the largest verified checkpoint was written.", Gauge, nil, nil}
	EvidenceLastRecord = &Desc{"promote_evidence_last_record_timestamp_seconds", "finished_at of the newest record.", Gauge, nil, nil}
	EvidenceSpool      = &Desc{"promote_evidence_spool_records", "Signed records waiting in the local spool for the store.", Gauge, nil, nil}
	EvidenceInfo       = &Desc{"promote_evidence_info", "The evidence store the figures come from.", Gauge, []string{"store"}, nil}
	WORMObjects        = &Desc{"promote_worm_objects", "Object versions under the store's prefix.", Gauge, nil, nil}
	WORMBytes          = &Desc{"promote_worm_bytes", "Bytes of the object versions under the store's prefix.", Gauge, nil, nil}
	WORMMinRetain      = &Desc{"promote_worm_min_retain_until_timestamp_seconds", "The earliest Object Lock retain-until date of any version.", Gauge, nil, nil}
	WORMNoncompliant   = &Desc{"promote_worm_noncompliant_versions", "Versions not under COMPLIANCE retention (GOVERNANCE or none).", Gauge, nil, nil}
	WORMDeleteMarkers  = &Desc{"promote_worm_delete_markers", "Delete markers under the store's prefix: attempts to delete evidence.", Gauge, nil, nil}
	MeshFindings       = &Desc{"promote_mesh_findings", "Findings of the last mesh check, by rule and severity.", Gauge, []string{"service", "rule", "severity"}, nil}
	MeshIgnored        = &Desc{"promote_mesh_ignored_findings", "Findings the last mesh check set aside by ignore annotations.", Gauge, []string{"service"}, nil}
	MeshMTLSMode       = &Desc{"promote_mesh_mtls_mode", "1 for the mTLS mode in force per namespace and workload (workload empty: the namespace default).", Gauge, []string{"service", "namespace", "workload", "mode"}, nil}
	MeshMTLSStrict     = &Desc{"promote_mesh_mtls_strict", "1 when a namespace's default mTLS mode is STRICT, else 0.", Gauge, []string{"service", "namespace"}, nil}
	MeshPolicies       = &Desc{"promote_mesh_policies", "AuthorizationPolicies the service ships.", Gauge, []string{"service"}, nil}
	MeshLastCheck      = &Desc{"promote_mesh_last_check_timestamp_seconds", "When the service's last mesh check finished.", Gauge, []string{"service"}, nil}
	KPILastRefresh     = &Desc{"promote_kpi_last_refresh_timestamp_seconds", "When the figures were last computed from every source without error.", Gauge, nil, nil}
	KPIRefreshErrors   = &Desc{"promote_kpi_refresh_errors_total", "Refreshes that failed, by source (evidence, bucket, spool, github).", Counter, []string{"source"}, nil}
	KPIRefreshDuration = &Desc{"promote_kpi_refresh_duration_seconds", "How long the last refresh took.", Gauge, nil, nil}
)

// Descs lists the metrics computed from the sources, in output order.
var Descs = []*Desc{
	PromotionsTotal, PromotionSuccess, NodeDuration, NodeQueueWait, NodeApprovalWait, NodeRetries, NodeGitHubRequests,
	RunDuration, RunEfficiency, RunLowerBound,
	DORADeployments, DORAFrequency, DORALeadTime, DORAFailureRatio, DORARecovery, RollbacksTotal,
	VerificationsTotal, VerificationTime,
	EvidenceRecords, EvidenceHead, EvidenceChainOK, EvidenceBroken, EvidenceFailures, EvidenceCheckpoint, EvidenceLastRecord, EvidenceSpool, EvidenceInfo,
	WORMObjects, WORMBytes, WORMMinRetain, WORMNoncompliant, WORMDeleteMarkers,
	MeshFindings, MeshIgnored, MeshMTLSMode, MeshMTLSStrict, MeshPolicies, MeshLastCheck,
}
