// Package verify runs a service's post-deploy verification: the checks its
// manifest lists (HTTP probes, Prometheus queries, commands, verification
// workflows), each tried every interval until enough consecutive attempts
// pass, too many fail, or its deadline passes. The executors call Verify
// after a deploy succeeded and before the node counts as a success; the
// scheduler calls Soak to re-run the checks while the next environment's
// node soaks.
package verify

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Verifier verifies the nodes of one manifest.
type Verifier struct {
	Manifest *manifest.Manifest
	// Commit is the commit deployed, for commands (PROMOTE_REF) and
	// workflows (input ref).
	Commit string
	// Getenv reads the environment variables that hold header values;
	// nil means none is set.
	Getenv func(string) string
	// Workflows dispatches verification workflows; nil fails workflow
	// checks, saying that they need GitHub.
	Workflows WorkflowRunner
	// DispatchRef is the branch or tag verification workflows are
	// dispatched on unless a check sets ref.
	DispatchRef string
	// Logger receives the output of command checks.
	Logger deploy.Logger
	Clock  clock.Clock
	// Env is the base environment of commands; nil means os.Environ().
	Env []string
}

// At returns a verifier like v for another commit: a rollback's.
func (v *Verifier) At(commit string) *Verifier {
	w := *v
	w.Commit = commit
	return &w
}

// Failure is a failed verification: which check failed, and how.
type Failure struct {
	Node   string
	Result evidence.Verification
}

func (f *Failure) Error() string {
	msg := fmt.Sprintf("verification of %s failed: %s check %q: %s", f.Node, f.Result.Type, f.Result.Name, f.Result.Message)
	if f.Result.LastValue != "" {
		msg += "; last value: " + f.Result.LastValue
	}
	return msg
}

func (v *Verifier) clock() clock.Clock {
	if v.Clock == nil {
		return clock.Real{}
	}
	return v.Clock
}

// Checks returns the checks of a node; none when it is not verified.
func (v *Verifier) Checks(n *plan.Node) []manifest.Check {
	if v == nil || v.Manifest == nil {
		return nil
	}
	return v.Manifest.Verification(n.Service, n.Environment)
}

// Verify runs the node's checks one after the other and returns a *Failure
// for the first that fails; nil when all pass or there are none. It
// reports every result as it is decided.
func (v *Verifier) Verify(ctx context.Context, n *plan.Node, report func(run.Update)) error {
	checks := v.Checks(n)
	if len(checks) == 0 {
		return nil
	}
	var results []evidence.Verification
	for i, c := range checks {
		report(run.Update{Phase: run.PhaseVerifying, Message: fmt.Sprintf("verifying: %s check %q (%d of %d)", c.Type(), c.Name, i+1, len(checks))})
		r, _ := v.run(ctx, n, c, c.Name, 0)
		results = append(results, r)
		report(run.Update{Verification: append([]evidence.Verification(nil), results...)})
		if r.Outcome != evidence.VerificationPassed {
			return &Failure{Node: n.ID, Result: r}
		}
	}
	report(run.Update{Message: fmt.Sprintf("verified: %d checks passed", len(checks))})
	return nil
}

// Soak re-runs the node's checks side by side for d, each every interval,
// without stopping at its successes: the node stays healthy when none
// reaches its failure limit. The results are named "soak/<check>".
func (v *Verifier) Soak(ctx context.Context, n *plan.Node, d time.Duration, report func(run.Update)) error {
	checks := v.Checks(n)
	if len(checks) == 0 {
		return v.clock().Sleep(ctx, d)
	}
	report(run.Update{Message: fmt.Sprintf("soaking: watching %s with %d checks for %s", n.ID, len(checks), d)})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]evidence.Verification, len(checks))
	stopped := make([]bool, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], stopped[i] = v.run(ctx, n, c, "soak/"+c.Name, d)
			if results[i].Outcome != evidence.VerificationPassed {
				cancel()
			}
		}()
	}
	wg.Wait()
	var failed error
	var kept []evidence.Verification
	for i, r := range results {
		// A check stopped because another failed decided nothing.
		if stopped[i] {
			continue
		}
		kept = append(kept, r)
		if r.Outcome != evidence.VerificationPassed && failed == nil {
			failed = &Failure{Node: n.ID, Result: r}
		}
	}
	if failed == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	report(run.Update{Verification: kept})
	return failed
}

// probe is one attempt of a check: the value it saw, and why it failed.
type probe func(ctx context.Context) (value string, err error)

// run tries a check until it is decided. With watch > 0 it watches for
// that long instead: consecutive successes do not end it, and outliving
// the watch passes it. stopped is true when ctx ended it undecided.
func (v *Verifier) run(ctx context.Context, n *plan.Node, c manifest.Check, name string, watch time.Duration) (res evidence.Verification, stopped bool) {
	clk := v.clock()
	res = evidence.Verification{Name: name, Type: c.Type(), StartedAt: clk.Now()}
	end := func(outcome, format string, args ...any) (evidence.Verification, bool) {
		res.Outcome, res.Message, res.FinishedAt = outcome, fmt.Sprintf(format, args...), clk.Now()
		return res, false
	}
	p, timeout, err := v.probe(n, c)
	if err != nil {
		return end(evidence.VerificationFailed, "%v", err)
	}
	return v.loop(ctx, c.Timing, res, p, timeout, watch)
}

// loop tries p until the check is decided; see run.
func (v *Verifier) loop(ctx context.Context, t manifest.Timing, res evidence.Verification, p probe, timeout, watch time.Duration) (evidence.Verification, bool) {
	clk := v.clock()
	end := func(outcome, format string, args ...any) (evidence.Verification, bool) {
		res.Outcome, res.Message, res.FinishedAt = outcome, fmt.Sprintf(format, args...), clk.Now()
		return res, false
	}
	halt := func() (evidence.Verification, bool) {
		r, _ := end(evidence.VerificationFailed, "stopped after %d attempts: %v", res.Attempts, context.Cause(ctx))
		return r, true
	}
	deadline := res.StartedAt.Add(t.Deadline)
	if watch > 0 {
		deadline = res.StartedAt.Add(watch)
	}
	successes, failures := 0, 0
	var last error
	for {
		res.Attempts++
		actx, cancel := context.WithTimeout(ctx, timeout)
		value, err := p(actx)
		cancel()
		if ctx.Err() != nil {
			return halt()
		}
		res.LastValue = value
		if err == nil {
			successes++
			if watch == 0 && successes >= t.Successes {
				return end(evidence.VerificationPassed, "%d consecutive attempts passed", successes)
			}
		} else {
			successes, last = 0, err
			failures++
			if failures >= t.Failures {
				return end(evidence.VerificationFailed, "%d of %d attempts failed (limit %d); the last: %v", failures, res.Attempts, t.Failures, err)
			}
		}
		if !clk.Now().Add(t.Interval).Before(deadline) {
			if watch > 0 {
				return end(evidence.VerificationPassed, "healthy for %s: %d attempts, %d failed (limit %d)", watch, res.Attempts, failures, t.Failures)
			}
			msg := fmt.Sprintf("no decision within its deadline of %s: %d consecutive of %d needed successes after %d attempts", t.Deadline, successes, t.Successes, res.Attempts)
			if last != nil {
				msg += fmt.Sprintf("; the last failure: %v", last)
			}
			return end(evidence.VerificationFailed, "%s", msg)
		}
		if err := clk.Sleep(ctx, t.Interval); err != nil {
			return halt()
		}
	}
}

// defaultTimeout bounds one attempt whose check sets no timeout: its
// interval, from 5s to 30s.
func defaultTimeout(set, interval time.Duration) time.Duration {
	if set > 0 {
		return set
	}
	return min(max(interval, 5*time.Second), 30*time.Second)
}

// probe builds the attempt function of a check, or says why the check
// cannot be tried at all (a missing header variable, an unreadable CA file).
func (v *Verifier) probe(n *plan.Node, c manifest.Check) (probe, time.Duration, error) {
	tmpl := strings.NewReplacer("{service}", n.Service, "{environment}", n.Environment)
	dir := filepath.Dir(v.Manifest.File)
	switch {
	case c.HTTP != nil:
		p, err := v.httpProbe(c.HTTP, tmpl, dir)
		return p, defaultTimeout(c.HTTP.Timeout, c.Timing.Interval), err
	case c.Prometheus != nil:
		p, err := v.prometheusProbe(c.Prometheus, tmpl, dir)
		return p, defaultTimeout(c.Prometheus.Timeout, c.Timing.Interval), err
	case c.Workflow != nil:
		p, err := v.workflowProbe(n, c.Workflow)
		return p, c.Timing.Deadline, err
	}
	return v.commandProbe(n, c.Command, dir), c.Timing.Deadline, nil
}
