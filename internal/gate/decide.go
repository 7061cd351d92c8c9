package gate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/policy"
)

// timeBound names the rules whose denials end by themselves, and where the
// input says when: a server decides again then.
var timeBound = map[string]func(in map[string]any) time.Time{
	"soak": func(in map[string]any) time.Time {
		return parseStamp(lookup(in, "soak", "ready_at"))
	},
	"freeze": func(in map[string]any) time.Time {
		var last time.Time
		windows, _ := in["freeze"].([]any)
		for _, w := range windows {
			w, _ := w.(map[string]any)
			if active, _ := w["active"].(bool); active {
				if end := parseStamp(w["end"]); end.After(last) {
					last = end
				}
			}
		}
		return last
	},
}

// Evaluate decides from a gate input, as Decide does and as Replay does
// again: the decision depends on the input's bytes and the policies alone.
func Evaluate(ctx context.Context, engine *policy.Engine, input []byte) (Decision, error) {
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return Decision{}, fmt.Errorf("the gate input is not a JSON object: %w", err)
	}
	findings, err := engine.Eval(ctx, in)
	if err != nil {
		return Decision{}, err
	}
	links, _ := in["links"].(map[string]any)
	d := Decision{Result: Allow, Input: input}
	d.BreakGlass, _ = in["break_glass"].(string)
	found := map[string]bool{}
	for _, f := range findings {
		found[f.Package] = true
		r := Reason{Policy: f.Rule, Result: resultOf(f.Severity), Message: f.Message}
		r.Link, _ = links[f.Resource].(string)
		d.Reasons = append(d.Reasons, r)
	}
	for _, p := range engine.Rules() {
		if !found[p.Package] {
			d.Reasons = append(d.Reasons, Reason{Policy: p.Rule, Result: Allow, Message: cmp.Or(p.Title, "no findings")})
		}
	}
	slices.SortStableFunc(d.Reasons, func(a, b Reason) int {
		return cmp.Or(rank(b.Result)-rank(a.Result), strings.Compare(a.Policy, b.Policy))
	})
	var retry time.Time
	bounded := true
	for _, r := range d.Reasons {
		if rank(r.Result) > rank(d.Result) {
			d.Result = r.Result
		}
		if r.Result != Deny {
			continue
		}
		at := time.Time{}
		if f := timeBound[r.Policy]; f != nil {
			at = f(in)
		}
		if at.IsZero() {
			bounded = false
		} else if at.After(retry) {
			retry = at
		}
	}
	if d.Result == Deny && bounded {
		d.RetryAt = retry
	}
	return d, nil
}

// resultOf maps a finding's severity to the result of its reason.
func resultOf(severity string) string {
	switch severity {
	case "error":
		return Deny
	case "warning":
		return Warn
	}
	return Allow
}

func rank(result string) int {
	switch result {
	case Deny:
		return 2
	case Warn:
		return 1
	}
	return 0
}

func lookup(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[k]
	}
	return v
}

func parseStamp(v any) time.Time {
	s, _ := v.(string)
	t, _ := time.Parse(time.RFC3339, s)
	return t
}
