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
	}
	return records, nil
}

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
	gate.FinishedAt = gate.StartedAt.Add(time.Duration(n.ApprovalWaitSeconds * float64(time.Second)))
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
