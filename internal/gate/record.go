package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
)

// InputSubject names the subject of a gate record that is the gate input
// the decision was made on; its bytes are stored as reports/<sha256>.json.
const InputSubject = "gate-input.json"

// record is the evidence of decision d on input in, and the blob it covers.
// Warn seals as approved: the gate let the promotion through.
func (g *Gate) record(in *Input, d Decision) (evidence.Record, map[string][]byte) {
	sum := sha256.Sum256(d.Input)
	digest := hex.EncodeToString(sum[:])
	now, _ := time.Parse(time.RFC3339, in.Now)
	rec := evidence.Record{
		Kind:        evidence.KindGate,
		Commit:      in.Target.Commit,
		Subjects:    []evidence.Subject{{Name: InputSubject, SHA256: digest}},
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
	return rec, map[string][]byte{evidence.ReportsPrefix + digest + ".json": d.Input}
}
