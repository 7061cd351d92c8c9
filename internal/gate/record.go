package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
)

// record is the evidence of decision d on input in (predicate v2 field
// decision), and the blob it covers: the input, as the subject
// evidence.GateInputSubject, stored as reports/<sha256>.json. Warn seals as
// approved: the gate let the promotion through.
func (g *Gate) record(in *Input, d Decision) (evidence.Record, map[string][]byte) {
	sum := sha256.Sum256(d.Input)
	digest := hex.EncodeToString(sum[:])
	now, _ := time.Parse(time.RFC3339, in.Now)
	rec := evidence.Record{
		Kind:        evidence.KindGate,
		Commit:      in.Target.Commit,
		Subjects:    []evidence.Subject{{Name: evidence.GateInputSubject, SHA256: digest}},
		Service:     in.Target.Service,
		Environment: in.Target.Environment,
		Node:        in.Target.Node,
		Actor:       in.Target.Actor,
		Approvers:   []string{},
		StartedAt:   now,
		FinishedAt:  now,
		Outcome:     "approved",
	}
	if rec.Actor == "" {
		rec.Actor = "unknown"
	}
	if in.Target.Repository != "" {
		rec.Repository = g.cfg.ServerURL + "/" + in.Target.Repository
	}
	if in.GitHub.Run != nil {
		rec.WorkflowRunURL = in.GitHub.Run.URL
	}
	if d.Result == Deny {
		rec.Outcome = "rejected"
	}
	rec.Decision = &evidence.Decision{Result: d.Result, Reasons: []evidence.DecisionReason{}, InputSHA256: digest, BreakGlass: d.BreakGlass}
	for _, r := range d.Reasons {
		rec.Decision.Reasons = append(rec.Decision.Reasons, evidence.DecisionReason{Policy: r.Policy, Result: r.Result, Message: r.Message})
	}
	return rec, map[string][]byte{evidence.ReportsPrefix + digest + ".json": d.Input}
}
