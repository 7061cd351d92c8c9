package evidence

import (
	"errors"
	"fmt"
	"slices"
)

// GateInputSubject names the subject of a gate record that is the gate
// input its decision was made on (the JSON document of
// schema/gate-input.schema.json); Decision.InputSHA256 is its digest.
const GateInputSubject = "gate-input.json"

// Decision is a gate's decision in figures and words (predicate v2, field
// "decision" of gate records): with the input it names, an auditor replays
// it (promote gate replay).
type Decision struct {
	// Result is "allow", "deny" or "warn". A gate record's outcome is
	// "rejected" for deny and "approved" otherwise.
	Result string `json:"result"`
	// Reasons are every policy's finding.
	Reasons []DecisionReason `json:"reasons"`
	// InputSHA256 is the hex SHA-256 of the gate input, which the record
	// also covers as the subject GateInputSubject.
	InputSHA256 string `json:"input_sha256"`
	// BreakGlass is the reason given to override a change freeze, or "".
	BreakGlass string `json:"break_glass"`
}

// DecisionReason is one policy's finding.
type DecisionReason struct {
	Policy string `json:"policy"`
	// Result is "allow", "deny" or "warn".
	Result  string `json:"result"`
	Message string `json:"message"`
}

// decisionResults are the results of a decision and of its reasons.
var decisionResults = []string{"allow", "deny", "warn"}

var (
	decisionFieldNames = []string{"result", "reasons", "input_sha256", "break_glass"}
	reasonFieldNames   = []string{"policy", "result", "message"}
)

// decisionFields are the gate record's fields (predicate v2).
var decisionFields = []predicateField{{
	name: "decision", since: predicateV2, kinds: []Kind{KindGate},
	check: func(r *Record) error {
		if r.Decision == nil || r.Kind != KindGate {
			return nil
		}
		return r.Decision.validate(r)
	},
	put: func(r *Record, m map[string]any) {
		d := r.Decision
		if d == nil {
			return
		}
		reasons := make([]any, len(d.Reasons))
		for i, x := range d.Reasons {
			reasons[i] = map[string]any{"policy": x.Policy, "result": x.Result, "message": x.Message}
		}
		m["decision"] = map[string]any{"result": d.Result, "reasons": reasons, "input_sha256": d.InputSHA256, "break_glass": d.BreakGlass}
	},
	read: func(r *jsonReader, p *Predicate) error {
		d := &Decision{Reasons: []DecisionReason{}}
		seen, err := r.fields("decision", decisionFieldNames, func(i int) error {
			var err error
			switch i {
			case 0:
				d.Result, err = r.str()
			case 1:
				err = r.array(func() error {
					var x DecisionReason
					seen, err := r.fields("decision reason", reasonFieldNames, func(i int) error {
						var err error
						switch i {
						case 0:
							x.Policy, err = r.str()
						case 1:
							x.Result, err = r.str()
						case 2:
							x.Message, err = r.str()
						}
						return err
					})
					if err == nil {
						err = missing(seen, reasonFieldNames)
					}
					d.Reasons = append(d.Reasons, x)
					return err
				})
			case 2:
				d.InputSHA256, err = r.str()
			case 3:
				d.BreakGlass, err = r.str()
			}
			return err
		})
		if err == nil {
			err = missing(seen, decisionFieldNames)
		}
		if err == nil {
			err = d.check()
		}
		if err != nil {
			return fmt.Errorf("decision: %w", err)
		}
		p.Decision = d
		return nil
	},
}}

// check checks what the JSON Schema checks of a decision by itself.
func (d *Decision) check() error {
	if !slices.Contains(decisionResults, d.Result) {
		return fmt.Errorf("result %q: want one of %q", d.Result, decisionResults)
	}
	if !isHex(d.InputSHA256, 64) {
		return fmt.Errorf("input sha256 %q: want 64 lowercase hex digits", d.InputSHA256)
	}
	for _, x := range d.Reasons {
		if x.Policy == "" || x.Message == "" || !slices.Contains(decisionResults, x.Result) {
			return fmt.Errorf("reason %+v: want a policy, a message and a result of %q", x, decisionResults)
		}
	}
	return nil
}

// validate checks a decision against its record: the outcome agrees with
// the result, and the record covers the input as a subject.
func (d *Decision) validate(r *Record) error {
	if err := d.check(); err != nil {
		return fmt.Errorf("decision: %w", err)
	}
	if want := map[bool]string{true: "rejected", false: "approved"}[d.Result == "deny"]; r.Outcome != want {
		return fmt.Errorf("decision %s with outcome %q: a gate record's outcome is %q for it", d.Result, r.Outcome, want)
	}
	if !slices.Contains(r.Subjects, Subject{Name: GateInputSubject, SHA256: d.InputSHA256}) {
		return errors.New("decision: the record must cover the gate input as the subject " + GateInputSubject + " with the decision's input_sha256")
	}
	return nil
}
