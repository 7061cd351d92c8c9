package kpi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
)

// Input is what the figures are computed from.
type Input struct {
	// Store names the evidence store, e.g. "s3://bucket/prefix".
	Store string
	// Report is the verification of the evidence log; nil when the store
	// could not be read at all (ReadErr says why).
	Report  *evidence.Report
	ReadErr error
	// Entries are the log's records, from evidence.Verifier.Read; only
	// used when Report is OK.
	Entries []evidence.Entry
	// LastCheckpoint is when the largest verified checkpoint was written;
	// zero when unknown.
	LastCheckpoint time.Time
	// Spool is the number of records waiting in the spool; SpoolErr is why
	// it could not be counted.
	Spool    int
	SpoolErr error
	// WORM holds the bucket's figures, nil for a store that is not S3 or
	// when BucketErr says the audit failed.
	WORM      *WORM
	BucketErr error
	// Deployments are GitHub Deployments that Promote did not make, for
	// the DORA figures, when asked for.
	Deployments []Deployment
	// Nodes are the service@environment nodes the manifest names, whose
	// counters and histograms start at 0 before any record names them.
	Nodes []Node
}

// Node is a service in an environment, as the manifest names it, with the
// types of the checks that verify it there (http, prometheus, command,
// workflow).
type Node struct {
	Service, Environment string
	Checks               []string
}

// WORM is what an audit of the bucket found.
type WORM struct {
	Objects, Bytes int64
	// MinRetainUntil is the earliest retain-until date of any version;
	// zero when no version has one.
	MinRetainUntil time.Time
	Noncompliant   int
	DeleteMarkers  int
}

// Deployment is a GitHub Deployment that Promote did not make, with its
// final state.
type Deployment struct {
	ID          int64
	Service     string
	Environment string
	Commit      string
	// Succeeded is true for a final state of success, false for failure
	// or error.
	Succeeded bool
	// FinishedAt is when its final status was written.
	FinishedAt time.Time
	// CommitTime is when its commit was made, if known.
	CommitTime time.Time

	// rollback is set when its record says it is a rollback (predicate
	// v2); left when such a rollback left it.
	rollback, left bool
}

// Options choose the window of the ratios and DORA gauges.
type Options struct {
	// Now ends the window; Since is its length.
	Now   time.Time
	Since time.Duration
}

// Compute computes every figure from in. The counters and histograms count
// the whole verified chain, so that they only grow as it does; the ratios
// and DORA gauges cover the window. When the chain does not verify or
// cannot be read, only the integrity figures are computed, saying so:
// records that cannot be trusted never make numbers.
func Compute(in Input, o Options) *Snapshot {
	b := newBuilder()
	s := &Snapshot{}
	if in.Store != "" {
		b.set(EvidenceInfo, 1, in.Store)
	}
	switch {
	case in.Report == nil:
		b.set(EvidenceChainOK, 0)
		s.Problems = append(s.Problems, fmt.Sprintf("the evidence store cannot be read: %v", in.ReadErr))
	case !in.Report.OK():
		integrity(b, in.Report)
		for _, f := range in.Report.Failures {
			s.Problems = append(s.Problems, f.String())
		}
	default:
		s.ChainOK = true
		integrity(b, in.Report)
		records(b, in, o)
	}
	if !in.LastCheckpoint.IsZero() {
		b.set(EvidenceCheckpoint, unix(in.LastCheckpoint))
	}
	if in.SpoolErr != nil {
		s.Problems = append(s.Problems, fmt.Sprintf("the spool cannot be read: %v", in.SpoolErr))
	} else {
		b.set(EvidenceSpool, float64(in.Spool))
	}
	if in.BucketErr != nil {
		s.Problems = append(s.Problems, fmt.Sprintf("the bucket cannot be audited: %v", in.BucketErr))
	}
	if w := in.WORM; w != nil {
		b.set(WORMObjects, float64(w.Objects))
		b.set(WORMBytes, float64(w.Bytes))
		if !w.MinRetainUntil.IsZero() {
			b.set(WORMMinRetain, unix(w.MinRetainUntil))
		}
		b.set(WORMNoncompliant, float64(w.Noncompliant))
		b.set(WORMDeleteMarkers, float64(w.DeleteMarkers))
	}
	s.Families = b.snapshot()
	return s
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// integrity sets the chain's figures from its verification.
func integrity(b *builder, r *evidence.Report) {
	b.set(EvidenceChainOK, boolValue(r.OK()))
	b.set(EvidenceHead, float64(r.Head))
	b.set(EvidenceFailures, float64(len(r.Failures)))
	broken := map[string]bool{}
	for _, f := range r.Failures {
		if strings.HasPrefix(f.Key, evidence.RecordsPrefix) {
			broken[f.Key] = true
		}
	}
	b.set(EvidenceBroken, float64(len(broken)))
}

func boolValue(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}

// parseTime parses a predicate's RFC 3339 time; the zero time if it does
// not parse.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// records computes the figures of a verified chain.
func records(b *builder, in Input, o Options) {
	from := o.Now.Add(-o.Since)
	for _, k := range []evidence.Kind{evidence.KindPromotion, evidence.KindGate, evidence.KindMeshCheck} {
		b.set(EvidenceRecords, 0, string(k))
	}
	type tried struct{ succeeded, all int }
	window := map[[2]string]*tried{}
	runs := map[string]*evidence.RunSummary{}
	var last time.Time
	lastMesh := map[string]*evidence.Entry{}
	named := map[[2]string]bool{}
	checked := map[[3]string]bool{}
	// The manifest's nodes start at 0 before their first record, so
	// that its increase() counts from the first: a new node's first
	// failure reaches the failure-ratio alert.
	for _, n := range in.Nodes {
		if k := [2]string{n.Service, n.Environment}; !named[k] {
			named[k] = true
			zero(b, n.Service, n.Environment)
		}
		for _, t := range n.Checks {
			zeroChecks(b, n.Service, n.Environment, t, checked)
		}
	}
	for i := range in.Entries {
		e := &in.Entries[i]
		b.add(EvidenceRecords, 1, string(e.Kind))
		finished := parseTime(e.FinishedAt)
		if finished.After(last) {
			last = finished
		}
		switch e.Kind {
		case evidence.KindMeshCheck:
			lastMesh[e.Service] = e
			continue
		case evidence.KindPromotion:
		default:
			continue
		}
		svc, env := e.Service, e.Environment
		if k := [2]string{svc, env}; !named[k] {
			named[k] = true
			zero(b, svc, env)
		}
		verifications(b, e, checked)
		if e.Rollback != nil {
			// A rollback is no node's promotion: it enters the
			// rollbacks and DORA figures (dora), not the nodes'.
			continue
		}
		b.add(PromotionsTotal, 1, svc, env, e.Outcome)
		b.add(NodeRetries, float64(max(e.Attempts-1, 0)), svc, env)
		if e.Attempts == 0 {
			continue
		}
		started := parseTime(e.StartedAt)
		b.observe(NodeDuration, finished.Sub(started).Seconds(), svc, env)
		if !finished.Before(from) && !finished.After(o.Now) {
			k := [2]string{svc, env}
			if window[k] == nil {
				window[k] = &tried{}
			}
			window[k].all++
			if e.Outcome == "succeeded" {
				window[k].succeeded++
			}
		}
		if q := parseTime(e.QueuedAt); !q.IsZero() {
			b.observe(NodeQueueWait, max(started.Sub(q), 0).Seconds(), svc, env)
		}
		// A record a v2 run wrote has its run: absent waits and
		// requests are zero there, unknown in older records.
		if e.Run != nil {
			b.observe(NodeApprovalWait, e.ApprovalWaitSeconds, svc, env)
			b.observe(NodeGitHubRequests, float64(e.APIRequests), svc, env)
			runs[e.Run.ID] = e.Run
		}
	}
	for k, t := range window {
		b.set(PromotionSuccess, float64(t.succeeded)/float64(t.all), k[0], k[1])
	}
	if !last.IsZero() {
		b.set(EvidenceLastRecord, unix(last))
	}
	var lastRun *evidence.RunSummary
	for _, r := range runs {
		b.observe(RunDuration, r.MakespanSeconds)
		if lastRun == nil || r.FinishedAt.After(lastRun.FinishedAt) || r.FinishedAt.Equal(lastRun.FinishedAt) && r.ID > lastRun.ID {
			lastRun = r
		}
	}
	if r := lastRun; r != nil && r.MakespanSeconds > 0 {
		b.set(RunEfficiency, r.BusySeconds/(r.MakespanSeconds*float64(r.MaxParallel)))
		if r.LowerBoundSeconds > 0 {
			b.set(RunLowerBound, r.MakespanSeconds/r.LowerBoundSeconds)
		}
	}
	dora(b, deployments(in), o)
	services := slices.Sorted(func(yield func(string) bool) {
		for s := range lastMesh {
			if !yield(s) {
				return
			}
		}
	})
	for _, svc := range services {
		mesh(b, lastMesh[svc])
	}
}

// zero creates a service and environment's counters and histograms at 0,
// for every result, when the manifest or the chain first names them. A series that first
// appears already counting is invisible to increase() and rate(): without
// this, a dashboard or alert would miss the first failure or recovery of
// every service and environment.
func zero(b *builder, svc, env string) {
	for _, r := range []string{"succeeded", "failed", "skipped", "cancelled"} {
		b.add(PromotionsTotal, 0, svc, env, r)
	}
	for _, r := range []string{"succeeded", "failed"} {
		b.add(DORADeployments, 0, svc, env, r)
		b.add(RollbacksTotal, 0, svc, env, r)
	}
	b.add(NodeRetries, 0, svc, env)
	for _, d := range []*Desc{NodeDuration, NodeQueueWait, NodeApprovalWait, NodeGitHubRequests, DORALeadTime, DORARecovery} {
		b.get(d, []string{svc, env})
	}
	b.get(RunDuration, nil)
}

// verifications counts a promotion record's checks. Soak checks (named
// soak/<check>), which the record's node ran on the previous environment
// while it soaked, count under the record's service and environment, the
// node they gated; their duration is the soak's, so the duration histogram
// leaves them out.
func verifications(b *builder, e *evidence.Entry, checked map[[3]string]bool) {
	svc, env := e.Service, e.Environment
	for i := range e.Verification {
		v := &e.Verification[i]
		zeroChecks(b, svc, env, v.Type, checked)
		b.add(VerificationsTotal, 1, svc, env, v.Type, v.Outcome)
		if !strings.HasPrefix(v.Name, "soak/") {
			b.observe(VerificationTime, v.FinishedAt.Sub(v.StartedAt).Seconds(), svc, env, v.Type)
		}
	}
}

// zeroChecks creates a service, environment and check type's
// verification series at 0, both outcomes, as zero does for the others,
// the first time it is called for them.
func zeroChecks(b *builder, svc, env, typ string, checked map[[3]string]bool) {
	k := [3]string{svc, env, typ}
	if checked[k] {
		return
	}
	checked[k] = true
	b.add(VerificationsTotal, 0, svc, env, typ, evidence.VerificationPassed)
	b.add(VerificationsTotal, 0, svc, env, typ, evidence.VerificationFailed)
	b.get(VerificationTime, []string{svc, env, typ})
}

// mesh sets a service's figures from its last mesh-check record.
func mesh(b *builder, e *evidence.Entry) {
	svc := e.Service
	b.set(MeshLastCheck, unix(parseTime(e.FinishedAt)), svc)
	m := e.Mesh
	if m == nil {
		return // a v1 record: no figures
	}
	for _, f := range m.Findings {
		b.add(MeshFindings, float64(f.Count), svc, f.Rule, f.Severity)
	}
	b.set(MeshIgnored, float64(m.Ignored), svc)
	for _, t := range m.MTLS {
		b.set(MeshMTLSMode, 1, svc, t.Namespace, t.Workload, t.Mode)
		if t.Workload == "" {
			b.set(MeshMTLSStrict, boolValue(t.Mode == "STRICT"), svc, t.Namespace)
		}
	}
	b.set(MeshPolicies, float64(len(m.Policies)), svc)
}

// deployments returns the chain's deployments for DORA, one per deployment
// id, and those given from GitHub, ordered by when they finished.
func deployments(in Input) []Deployment {
	var out []Deployment
	// A deployment is known by its GitHub id, or by its record's seq
	// when it has none.
	type key struct {
		seq bool
		n   int64
	}
	index := map[key]int{}
	// The rollback records' deployments, when they started, and the
	// commit they left.
	type rollback struct {
		i    int
		at   time.Time
		from string
	}
	var rollbacks []rollback
	for i := range in.Entries {
		e := &in.Entries[i]
		if e.Kind != evidence.KindPromotion || e.Attempts == 0 || (e.Outcome != "succeeded" && e.Outcome != "failed") {
			continue
		}
		d := Deployment{ID: e.DeploymentID, Service: e.Service, Environment: e.Environment, Commit: e.Commit,
			Succeeded: e.Outcome == "succeeded", FinishedAt: parseTime(e.FinishedAt), CommitTime: parseTime(e.CommitTime),
			rollback: e.Rollback != nil}
		// A rerun that finds the same deployment records it again: count
		// it once, as its latest record says it ended.
		k := key{seq: true, n: int64(e.Seq)}
		if e.DeploymentID != 0 {
			k = key{n: e.DeploymentID}
		}
		j, ok := index[k]
		if ok {
			out[j] = d
		} else {
			j = len(out)
			index[k] = j
			out = append(out, d)
		}
		if e.Rollback != nil {
			rollbacks = append(rollbacks, rollback{j, parseTime(e.StartedAt), e.Rollback.FromCommit})
		}
	}
	// A rollback left the newest deployment of its from_commit there
	// before it, in the chain's order. Rollbacks are rare: a scan back
	// costs less than indexing every deployment by commit.
	for _, rb := range rollbacks {
		r := out[rb.i]
		for j := rb.i - 1; j >= 0; j-- {
			d := &out[j]
			if d.Commit != rb.from || d.Service != r.Service || d.Environment != r.Environment {
				continue
			}
			d.left = true
			// The failed node's record ends after its rollback (the
			// node finishes once the rollback has), so the deployment
			// failed when the rollback started, if not earlier.
			if !rb.at.IsZero() && rb.at.Before(d.FinishedAt) {
				d.FinishedAt = rb.at
			}
			break
		}
	}
	for _, d := range in.Deployments {
		if _, ok := index[key{n: d.ID}]; ok {
			continue
		}
		index[key{n: d.ID}] = len(out)
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Deployment) int { return a.FinishedAt.Compare(b.FinishedAt) })
	return out
}

// markRollbacks finds the rollbacks among deps, in the order they
// finished. A deployment whose record has the rollback field is one, and
// left the deployment of the commit it names. Without the field (v1
// records, rollbacks made outside Promote), a rollback is a deployment of
// a commit that the service and environment already ran successfully,
// other than the one running there, that is an earlier version deployed
// again (as Sleuth and Datadog count them), and it left the one running.
// left marks the deployments that rollbacks left: change failures,
// recovered when the rollback succeeds.
func markRollbacks(deps []Deployment) (rollback, left []bool) {
	rollback, left = make([]bool, len(deps)), make([]bool, len(deps))
	type state struct {
		current int // the deployment running now, or -1
		shipped map[string]bool
	}
	states := map[[2]string]*state{}
	for i, d := range deps {
		k := [2]string{d.Service, d.Environment}
		st := states[k]
		if st == nil {
			st = &state{current: -1, shipped: map[string]bool{}}
			states[k] = st
		}
		rollback[i] = d.rollback
		left[i] = left[i] || d.left
		if !d.rollback && st.current >= 0 && d.Commit != deps[st.current].Commit && st.shipped[d.Commit] {
			rollback[i] = true
			left[st.current] = true
		}
		if d.Succeeded {
			st.current = i
			st.shipped[d.Commit] = true
		}
	}
	return rollback, left
}

// dora sets the four keys from deployments in the order they finished.
func dora(b *builder, deps []Deployment, o Options) {
	from := o.Now.Add(-o.Since)
	days := o.Since.Hours() / 24
	type counts struct{ succeeded, failed int }
	window := map[[2]string]*counts{}
	shipped := map[[3]string]bool{}
	failedSince := map[[2]string]time.Time{}
	rollback, left := markRollbacks(deps)
	for i, d := range deps {
		k := [2]string{d.Service, d.Environment}
		// A deployment that a rollback left was a change failure,
		// whatever its own record says.
		d.Succeeded = d.Succeeded && !left[i]
		result := "failed"
		if d.Succeeded {
			result = "succeeded"
		}
		b.add(DORADeployments, 1, d.Service, d.Environment, result)
		if rollback[i] {
			b.add(RollbacksTotal, 1, d.Service, d.Environment, result)
		}
		if window[k] == nil {
			window[k] = &counts{}
		}
		if !d.FinishedAt.Before(from) && !d.FinishedAt.After(o.Now) {
			c := window[k]
			if d.Succeeded {
				c.succeeded++
			} else {
				c.failed++
			}
		}
		if !d.Succeeded {
			if _, ok := failedSince[k]; !ok {
				failedSince[k] = d.FinishedAt
			}
			continue
		}
		if t, ok := failedSince[k]; ok {
			b.observe(DORARecovery, d.FinishedAt.Sub(t).Seconds(), d.Service, d.Environment)
			delete(failedSince, k)
		}
		c := [3]string{d.Service, d.Environment, d.Commit}
		if !shipped[c] && !d.CommitTime.IsZero() {
			b.observe(DORALeadTime, max(d.FinishedAt.Sub(d.CommitTime), 0).Seconds(), d.Service, d.Environment)
		}
		shipped[c] = true
	}
	keys := slices.SortedFunc(func(yield func([2]string) bool) {
		for k := range window {
			if !yield(k) {
				return
			}
		}
	}, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range keys {
		c := window[k]
		if days > 0 {
			b.set(DORAFrequency, float64(c.succeeded)/days, k[0], k[1])
		}
		if n := c.succeeded + c.failed; n > 0 {
			b.set(DORAFailureRatio, float64(c.failed)/float64(n), k[0], k[1])
		}
	}
}
