package run

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/plan"
)

// The subjects of a promotion record besides the commit: the plan the run
// executed and the manifest it was planned from, by SHA-256.
const (
	PlanSubject     = "plan.json"
	ManifestSubject = "manifest"
)

// Origin is who and what ran a promotion, as its evidence records name it.
type Origin struct {
	// Repository is the repository's URL, or empty outside GitHub.
	Repository string
	// RunURL is the workflow run that promoted, or empty outside Actions.
	RunURL string
	// Actor is who started the promotion.
	Actor string
	// RunID names the run in its records, e.g. the workflow run's id and
	// attempt ("9000000-1"); empty means the run's start time.
	RunID string
	// CommitTime is when the promoted commit was made, if known, for
	// change lead time.
	CommitTime time.Time
}

// Records returns the evidence records of a finished run: a promotion
// record for every node the run decided, and a gate record for every node
// whose environment's reviewers decided. A node resumed from an earlier
// success (NodeStatus.Resumed) gets none: the run did nothing to it, and
// the record it resumed from already holds its promotion.
func Records(p *plan.Plan, st *Status, o Origin) ([]evidence.Record, error) {
	planJSON, err := p.JSON()
	if err != nil {
		return nil, err
	}
	planSum := sha256.Sum256(planJSON)
	subjects := []evidence.Subject{{Name: PlanSubject, SHA256: hex.EncodeToString(planSum[:])}}
	if p.ManifestSHA256 != "" {
		subjects = append(subjects, evidence.Subject{Name: ManifestSubject, SHA256: p.ManifestSHA256})
	}
	nodes := map[string]plan.Node{}
	for _, n := range p.Nodes {
		nodes[n.ID] = n
	}
	summary := Summary(p, st, o.RunID)
	var records []evidence.Record
	for _, n := range st.Nodes {
		if n.Resumed {
			continue
		}
		pn := nodes[n.ID]
		r := evidence.Record{
			Kind:           evidence.KindPromotion,
			Repository:     o.Repository,
			Commit:         p.Commit,
			Subjects:       subjects,
			Service:        pn.Service,
			Environment:    pn.Environment,
			Node:           n.ID,
			DeploymentID:   n.DeploymentID,
			WorkflowRunURL: cmp.Or(o.RunURL, n.RunURL),
			Actor:          cmp.Or(o.Actor, "unknown"),
			Approvers:      []string{},
			Outcome:        string(n.State),
			Attempts:       n.Attempts,
			ApprovalWait:   seconds(n.ApprovalWaitSeconds),
			CommitTime:     o.CommitTime,
			APIRequests:    n.APICalls,
			Run:            summary,
			Verification:   n.Verification,
		}
		if n.ReadyAt != nil {
			r.QueuedAt = *n.ReadyAt
		}
		if n.StartedAt != nil {
			r.StartedAt = *n.StartedAt
		}
		if n.FinishedAt != nil {
			r.FinishedAt = *n.FinishedAt
		}
		if r.StartedAt.IsZero() {
			r.StartedAt = st.StartedAt
		}
		if r.FinishedAt.IsZero() {
			r.FinishedAt = cmp.Or(st.UpdatedAt, r.StartedAt)
		}
		records = append(records, r)
		if gate, ok := gateRecord(r, n); ok {
			records[len(records)-1].Approvers = gate.Approvers
			records = append(records, gate)
		}
		if rb, ok := RollbackRecord(r, n.Rollback); ok {
			records = append(records, rb)
		}
	}
	return records, nil
}

// Summary describes a finished run for its evidence records: its span, its
// makespan (first node start to last node end), the sum of the nodes'
// durations (busy time), its concurrency limit, and the lower bound no
// schedule could beat: the longer of the critical path with the durations
// the nodes took (each need's soak included) and the busy time spread over
// max_parallel slots, as BENCHMARKS.md defines it. It is nil when no node
// started, as in a run that resumed every node.
func Summary(p *plan.Plan, st *Status, id string) *evidence.RunSummary {
	soak := map[string]time.Duration{}
	for _, n := range p.Nodes {
		soak[n.ID] = time.Duration(n.SoakSeconds) * time.Second
	}
	var first, last time.Time
	var busy time.Duration
	// finish is each node's end on the critical path, from the run's
	// first start, in the plan's topological order.
	finish := map[string]time.Duration{}
	status := map[string]NodeStatus{}
	for _, n := range st.Nodes {
		status[n.ID] = n
	}
	var longest time.Duration
	for _, pn := range p.Nodes {
		n, ok := status[pn.ID]
		var took time.Duration
		if ok && !n.Resumed && n.StartedAt != nil && n.FinishedAt != nil {
			took = n.FinishedAt.Sub(*n.StartedAt)
			if first.IsZero() || n.StartedAt.Before(first) {
				first = *n.StartedAt
			}
			if n.FinishedAt.After(last) {
				last = *n.FinishedAt
			}
			busy += took
		}
		var ready time.Duration
		for _, need := range pn.Needs {
			ready = max(ready, finish[need]+soak[need])
		}
		finish[pn.ID] = ready + took
		longest = max(longest, finish[pn.ID])
	}
	if first.IsZero() {
		return nil
	}
	parallel := max(cmp.Or(st.MaxParallel, p.Settings.MaxParallel), 1)
	if id == "" {
		id = st.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	finished := cmp.Or(st.UpdatedAt, last)
	if st.FinishedAt != nil {
		finished = *st.FinishedAt
	}
	if last.After(finished) {
		finished = last
	}
	started := st.StartedAt
	if started.IsZero() || first.Before(started) {
		started = first
	}
	return &evidence.RunSummary{
		ID:                id,
		StartedAt:         started,
		FinishedAt:        finished,
		MakespanSeconds:   last.Sub(first).Seconds(),
		LowerBoundSeconds: max(longest, busy/time.Duration(parallel)).Seconds(),
		MaxParallel:       parallel,
		BusySeconds:       busy.Seconds(),
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// gateRecord is the decision of the required reviewers of a node's
// environment, when it had any: approved when the last decision approved,
// rejected otherwise, naming every reviewer who decided. It spans the
// node's start to the end of its approval wait.
func gateRecord(promotion evidence.Record, n NodeStatus) (evidence.Record, bool) {
	if len(n.Approvals) == 0 {
		return evidence.Record{}, false
	}
	gate := promotion
	gate.Kind = evidence.KindGate
	gate.Attempts = 0
	// A node's timings, the run, its checks and its rollback belong to its
	// promotion record; the evidence refuses them on a gate record.
	gate.QueuedAt, gate.ApprovalWait, gate.CommitTime, gate.APIRequests, gate.Run = time.Time{}, 0, time.Time{}, 0, nil
	gate.Verification, gate.Rollback = nil, nil
	gate.Approvers = nil
	for _, a := range n.Approvals {
		if !slices.Contains(gate.Approvers, a.Reviewer) {
			gate.Approvers = append(gate.Approvers, a.Reviewer)
		}
	}
	gate.Outcome = "rejected"
	if n.Approvals[len(n.Approvals)-1].State == "approved" {
		gate.Outcome = "approved"
	}
	gate.FinishedAt = gate.StartedAt.Add(seconds(n.ApprovalWaitSeconds))
	if gate.FinishedAt.After(promotion.FinishedAt) {
		gate.FinishedAt = promotion.FinishedAt
	}
	return gate, true
}

// Earlier answers, from a verified evidence log, whether a node already
// succeeded for a plan's commit: it is the Resumer of executors that keep no
// record of their own, such as commands.
//
// A node counts as done when its newest promotion record for the commit
// that tried to deploy it (see evidence.LastPromotions) succeeded and names
// the same manifest as the plan (the manifest subject). The commit fixes
// the code, and the manifest fixes how each node is deployed (its command,
// its environment): a success recorded under another manifest, such as one
// edited after that run and not committed, is deployed again. A success
// followed by a failed or interrupted deploy of the same node is deployed
// again too. Dry runs seal nothing, so they never count.
type Earlier struct {
	commit, manifest string
	last             map[string]evidence.Entry
	planned          map[string]bool
}

// NewEarlier returns the Resumer of p's commit over entries, which must
// come from a log that verified (evidence.Verifier.Read).
func NewEarlier(p *plan.Plan, entries []evidence.Entry) *Earlier {
	e := &Earlier{commit: p.Commit, manifest: p.ManifestSHA256, last: evidence.LastPromotions(entries, p.Commit), planned: map[string]bool{}}
	for _, n := range p.Nodes {
		e.planned[n.ID] = true
	}
	return e
}

// Succeeded reports whether n already succeeded for the commit; the detail
// names the record, e.g. "evidence record #12, 2026-12-03T07:40:01Z".
func (e *Earlier) Succeeded(_ context.Context, n *plan.Node) (bool, string, error) {
	r, ok := e.last[n.ID]
	if !ok || r.Outcome != string(Succeeded) || r.Subject(ManifestSubject) != e.manifest {
		return false, "", nil
	}
	return true, fmt.Sprintf("evidence record #%d, %s", r.Seq, r.Finished().UTC().Format(time.RFC3339)), nil
}

// OtherManifest lists, sorted, the plan's nodes whose newest record for the
// commit is a success under another manifest than the plan's: they are
// deployed again, and a run says why.
func (e *Earlier) OtherManifest() []string {
	var ids []string
	for id, r := range e.last {
		if e.planned[id] && r.Outcome == string(Succeeded) && r.Subject(ManifestSubject) != e.manifest {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
