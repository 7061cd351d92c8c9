package gate

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/policy"
)

// ErrInputMismatch means a gate record's input is missing from the store,
// or does not hash to the digest the record covers: the evidence cannot
// vouch for the decision.
var ErrInputMismatch = errors.New("the gate input does not match its record")

// Replayed is a sealed decision made again from its sealed input.
type Replayed struct {
	Seq uint64
	Key string
	// Node and Commit are the record's.
	Node, Commit string
	// Sealed is the decision the record holds; Replayed is the decision
	// the policies make on the same input now.
	Sealed   evidence.Decision
	Replayed Decision
	// Same reports whether the two agree: result, break-glass, and every
	// reason's policy, result and message.
	Same bool
}

// Replay verifies the chain in store with keys and decides again on the
// input each gate record covers, with engine's policies: the record with
// sequence number seq, or every gate record that holds a decision when seq
// is 0. An input that is missing or does not hash to its subject is an
// error: the evidence then cannot vouch for the decision.
func Replay(ctx context.Context, engine *policy.Engine, store evidence.Store, keys map[string]crypto.PublicKey, seq uint64) ([]Replayed, error) {
	entries, err := (&evidence.Verifier{Keys: keys}).Read(ctx, store)
	if err != nil {
		return nil, err
	}
	var out []Replayed
	for _, e := range entries {
		if seq != 0 && e.Seq != seq {
			continue
		}
		if e.Kind != evidence.KindGate || e.Decision == nil {
			if seq != 0 {
				return nil, fmt.Errorf("record %d (%s) is a %s record without a gate decision to replay; gate decisions are sealed in predicate v2 gate records", e.Seq, e.Key, e.Kind)
			}
			continue
		}
		r, err := replay(ctx, engine, store, e)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if seq != 0 && len(out) == 0 {
		return nil, fmt.Errorf("the evidence has no record %d; it holds %d records", seq, len(entries))
	}
	return out, nil
}

func replay(ctx context.Context, engine *policy.Engine, store evidence.Store, e evidence.Entry) (Replayed, error) {
	r := Replayed{Seq: e.Seq, Key: e.Key, Node: e.Node, Commit: e.Commit, Sealed: *e.Decision}
	digest := e.Subject(evidence.GateInputSubject)
	if digest == "" || digest != e.Decision.InputSHA256 {
		return r, fmt.Errorf("record %d: its decision names input sha256:%s, but it covers %q as %s: %w", e.Seq, e.Decision.InputSHA256, digest, evidence.GateInputSubject, ErrInputMismatch)
	}
	key := evidence.ReportsPrefix + digest + ".json"
	input, err := store.Read(ctx, key)
	if err != nil {
		if errors.Is(err, evidence.ErrNotFound) {
			return r, fmt.Errorf("record %d: its gate input %s is not in the store: %w", e.Seq, key, ErrInputMismatch)
		}
		return r, fmt.Errorf("record %d: read its gate input %s: %w", e.Seq, key, err)
	}
	if sum := sha256.Sum256(input); hex.EncodeToString(sum[:]) != digest {
		return r, fmt.Errorf("record %d: the stored gate input %s does not hash to the sha256 the record covers; it was changed: %w", e.Seq, key, ErrInputMismatch)
	}
	if r.Replayed, err = Evaluate(ctx, engine, input); err != nil {
		return r, fmt.Errorf("record %d: %w", e.Seq, err)
	}
	r.Same = r.Replayed.Result == r.Sealed.Result && r.Replayed.BreakGlass == r.Sealed.BreakGlass &&
		slices.EqualFunc(r.Replayed.Reasons, r.Sealed.Reasons, func(a Reason, b evidence.DecisionReason) bool {
			return a.Policy == b.Policy && a.Result == b.Result && a.Message == b.Message
		})
	return r, nil
}
