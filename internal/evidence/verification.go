package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Verification is the outcome of one post-deploy check of a promotion
// (predicate v2, an entry of the promotion record's "verification").
type Verification struct {
	// Name is the check's name in the manifest; a re-run during the next
	// environment's soak is named "soak/<name>".
	Name string `json:"name"`
	// Type is http, prometheus, command or workflow.
	Type string `json:"type"`
	// Outcome is passed or failed.
	Outcome  string `json:"outcome"`
	Attempts int    `json:"attempts"`
	// LastValue is what the last attempt saw: a status code, a query's
	// value, a command's last line, a run's conclusion.
	LastValue string `json:"last_value,omitempty"`
	// Message says why the check failed, or how it passed.
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// The outcomes of a Verification.
const (
	VerificationPassed = "passed"
	VerificationFailed = "failed"
)

// VerificationTypes are the types of check.
var VerificationTypes = []string{"http", "prometheus", "command", "workflow"}

// Rollback marks a promotion record as a rollback (predicate v2, field
// "rollback"): the record's commit is the one it returned to, FromCommit
// the one whose promotion failed. KPIs count it as a change failure of
// FromCommit, recovered when the rollback succeeded.
type Rollback struct {
	FromCommit string `json:"from_commit"`
	// Reason is why: the failed promotion's error, or what the person who
	// rolled back by hand said.
	Reason string `json:"reason"`
	// Manual is true for promote rollback, false for an automatic one.
	Manual bool `json:"manual"`
}

var (
	verificationFields = []string{"name", "type", "outcome", "attempts", "last_value", "message", "started_at", "finished_at"}
	rollbackFields     = []string{"from_commit", "reason", "manual"}
)

// verifyFields are the promotion record's verification and rollback fields
// (predicate v2).
var verifyFields = []predicateField{
	{
		name: "verification", since: predicateV2, kinds: promotionOnly,
		check: func(r *Record) error {
			for _, v := range r.Verification {
				if err := v.validate(); err != nil {
					return err
				}
			}
			return nil
		},
		put: func(r *Record, m map[string]any) {
			if len(r.Verification) == 0 {
				return
			}
			list := make([]any, len(r.Verification))
			for i, v := range r.Verification {
				e := map[string]any{
					"name": v.Name, "type": v.Type, "outcome": v.Outcome, "attempts": float64(v.Attempts),
					"started_at": timeValue(v.StartedAt), "finished_at": timeValue(v.FinishedAt),
				}
				if v.LastValue != "" {
					e["last_value"] = v.LastValue
				}
				if v.Message != "" {
					e["message"] = v.Message
				}
				list[i] = e
			}
			m["verification"] = list
		},
		read: func(r *jsonReader, p *Predicate) error {
			p.Verification = []Verification{}
			return r.array(func() error {
				var v Verification
				seen, err := r.fields("verification", verificationFields, func(i int) error {
					var err error
					switch i {
					case 0:
						v.Name, err = r.str()
					case 1:
						v.Type, err = r.str()
					case 2:
						v.Outcome, err = r.str()
					case 3:
						var n uint64
						n, err = r.integer(maxSeq)
						v.Attempts = int(n)
					case 4:
						v.LastValue, err = r.str()
					case 5:
						v.Message, err = r.str()
					case 6:
						v.StartedAt, err = r.time()
					case 7:
						v.FinishedAt, err = r.time()
					}
					if err != nil {
						return fmt.Errorf("verification %s: %w", verificationFields[i], err)
					}
					return nil
				})
				// last_value and message are optional.
				if err == nil {
					err = missing(seen|1<<4|1<<5, verificationFields)
				}
				if err == nil {
					err = v.validate()
				}
				p.Verification = append(p.Verification, v)
				return err
			})
		},
	},
	{
		name: "rollback", since: predicateV2, kinds: promotionOnly,
		check: func(r *Record) error {
			if r.Rollback == nil {
				return nil
			}
			return r.Rollback.validate()
		},
		put: func(r *Record, m map[string]any) {
			if rb := r.Rollback; rb != nil {
				m["rollback"] = map[string]any{"from_commit": rb.FromCommit, "reason": rb.Reason, "manual": rb.Manual}
			}
		},
		read: func(r *jsonReader, p *Predicate) error {
			rb := &Rollback{}
			seen, err := r.fields("rollback", rollbackFields, func(i int) error {
				var err error
				switch i {
				case 0:
					rb.FromCommit, err = r.str()
				case 1:
					rb.Reason, err = r.str()
				case 2:
					rb.Manual, err = r.boolean()
				}
				if err != nil {
					return fmt.Errorf("rollback %s: %w", rollbackFields[i], err)
				}
				return nil
			})
			if err == nil {
				err = missing(seen, rollbackFields)
			}
			if err == nil {
				err = rb.validate()
			}
			if err != nil {
				return fmt.Errorf("rollback: %w", err)
			}
			p.Rollback = rb
			return nil
		},
	},
}

// validate checks what the JSON Schema checks of a verification.
func (v Verification) validate() error {
	switch {
	case v.Name == "":
		return errors.New("a verification has no name")
	case !slices.Contains(VerificationTypes, v.Type):
		return fmt.Errorf("verification %q: type %q, want one of %q", v.Name, v.Type, VerificationTypes)
	case v.Outcome != VerificationPassed && v.Outcome != VerificationFailed:
		return fmt.Errorf("verification %q: outcome %q, want passed or failed", v.Name, v.Outcome)
	case v.Attempts < 0 || v.Attempts > maxSeq:
		return fmt.Errorf("verification %q: attempts %d, want 0 or more", v.Name, v.Attempts)
	case v.StartedAt.IsZero() || v.FinishedAt.IsZero() || v.FinishedAt.Before(v.StartedAt):
		return fmt.Errorf("verification %q: want a start and a finish no earlier than it", v.Name)
	}
	return nil
}

// validate checks what the JSON Schema checks of a rollback.
func (rb *Rollback) validate() error {
	if !isHex(rb.FromCommit, 40) {
		return fmt.Errorf("rollback from commit %q: want 40 lowercase hex digits", rb.FromCommit)
	}
	if rb.Reason == "" {
		return errors.New("a rollback has no reason: say why")
	}
	return nil
}

// boolean reads true or false.
func (r *jsonReader) boolean() (bool, error) {
	r.ws()
	switch rest := r.b[r.i:]; {
	case bytes.HasPrefix(rest, []byte("true")):
		r.i += 4
		return true, nil
	case bytes.HasPrefix(rest, []byte("false")):
		r.i += 5
		return false, nil
	}
	return false, r.errorf("want true or false")
}
