package run

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/plan"
)

// TestSoakWatch checks that the next environment waits for the whole soak
// while the previous node is watched, and that a node that does not stay
// healthy skips the next environment's node and its dependents only.
func TestSoakWatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{})
		f := newFake(c, nil)
		var mu sync.Mutex
		watched := map[string]time.Duration{}
		soak := func(ctx context.Context, n *plan.Node, d time.Duration, report func(Update)) error {
			mu.Lock()
			watched[n.ID] = d
			mu.Unlock()
			// Healthy for a minute, then b@dev's 5xx ratio rises.
			if err := c.Sleep(ctx, time.Minute); err != nil {
				return err
			}
			v := []evidence.Verification{{Name: "soak/errors", Type: "prometheus", Outcome: "passed", Attempts: 1}}
			if n.ID == "b@dev" {
				v[0].Outcome = "failed"
				report(Update{Verification: v})
				return errors.New(`check "errors" failed: value 0.2 is not below 0.01`)
			}
			report(Update{Verification: v})
			return nil
		}
		st := runPlan(t, p, f, Options{Clock: c, Soak: soak})
		want := map[string]State{
			"a@dev": Succeeded, "b@dev": Succeeded, "c@dev": Succeeded, "d@dev": Succeeded, "e@dev": Succeeded,
			"a@prod": Succeeded, "b@prod": Skipped, "c@prod": Succeeded, "d@prod": Skipped, "e@prod": Succeeded,
		}
		if diff := cmp.Diff(want, states(st)); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		if st.Result != ResultFailure {
			t.Errorf("result = %s, want failure: a node was skipped", st.Result)
		}
		for _, id := range []string{"a@dev", "c@dev", "e@dev", "b@dev"} {
			if watched[id] != 10*time.Minute {
				t.Errorf("%s watched for %v, want the 10m soak", id, watched[id])
			}
		}
		for _, n := range p.Nodes {
			if n.Environment == "prod" && f.deploys[n.ID] > 0 {
				if gap := f.started[n.ID].Sub(f.ended[n.Service+"@dev"]); gap < 10*time.Minute {
					t.Errorf("%s started %v after its dev node, want the full 10m soak though the watch ended after 1m", n.ID, gap)
				}
			}
		}
		for _, n := range st.Nodes {
			switch n.ID {
			case "b@prod":
				if !strings.Contains(n.Message, "b@dev did not stay healthy during the soak") || !strings.Contains(n.Message, "0.2 is not below") {
					t.Errorf("b@prod message = %q, want the failed check and its value", n.Message)
				}
				if len(n.Verification) != 1 || n.Verification[0].Outcome != "failed" {
					t.Errorf("b@prod verification = %+v, want the failed soak check", n.Verification)
				}
			case "d@prod":
				if !strings.Contains(n.Message, "needs b@prod, which was skipped") {
					t.Errorf("d@prod message = %q", n.Message)
				}
			}
		}
	})
}

// TestRollbackHook checks that a node is rolled back once, after its
// retries, only when it failed, and that an interrupt rolls nothing back.
func TestRollbackHook(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{})
		f := newFake(c, map[string]script{"b@dev": {transient: 5}, "c@dev": {fail: true}})
		var mu sync.Mutex
		var calls []string
		rollback := func(ctx context.Context, n *plan.Node, cause error, report func(Update)) *Rollback {
			mu.Lock()
			calls = append(calls, n.ID+": "+cause.Error())
			mu.Unlock()
			if n.ID == "c@dev" {
				return nil // not enabled there
			}
			return &Rollback{ToCommit: "beef", Result: RollbackSucceeded, Reason: cause.Error()}
		}
		st := runPlan(t, p, f, Options{Clock: c, Backoff: noBackoff, Rollback: rollback})
		want := []string{"b@dev: 502 Bad Gateway", "c@dev: deploy workflow failed"}
		mu.Lock()
		got := calls
		mu.Unlock()
		if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("rollbacks (-want +got):\n%s", diff)
		}
		for _, n := range st.Nodes {
			switch n.ID {
			case "b@dev":
				if n.State != Failed || n.Rollback == nil || n.Rollback.ToCommit != "beef" || n.Attempts != 3 {
					t.Errorf("b@dev = %s, rollback %+v after %d attempts; want failed, rolled back to beef after 3", n.State, n.Rollback, n.Attempts)
				}
			case "c@dev":
				if n.Rollback != nil {
					t.Errorf("c@dev rollback = %+v, want none", n.Rollback)
				}
			}
		}

		// An interrupt is no failure to roll back.
		calls = nil
		f = newFake(c, map[string]script{"a@dev": {block: true}})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { _ = c.Sleep(ctx, time.Minute); cancel() }()
		if _, err := Run(ctx, p, f, Options{Clock: c, Rollback: rollback}); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 0 {
			t.Errorf("rollbacks after an interrupt = %v, want none", calls)
		}
	})
}

// TestRecordsOfARollback checks that a rolled-back node leaves two
// promotion records: its failure, with its checks, at the plan's commit,
// and the rollback's at the commit it returned to, naming the failed one.
func TestRecordsOfARollback(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{To: "dev"})
		p.Commit = strings.Repeat("c", 40)
		back := strings.Repeat("b", 40)
		checks := []evidence.Verification{{Name: "errors", Type: "prometheus", Outcome: "failed", Attempts: 3, LastValue: "0.2"}}
		f := newFake(c, map[string]script{"c@dev": {fail: true}})
		rollback := func(ctx context.Context, n *plan.Node, cause error, report func(Update)) *Rollback {
			report(Update{Verification: checks})
			start := c.Now()
			_ = c.Sleep(ctx, time.Minute)
			return &Rollback{ToCommit: back, Result: RollbackSucceeded, Reason: cause.Error(), DeploymentID: 77, StartedAt: start, FinishedAt: c.Now(),
				Verification: []evidence.Verification{{Name: "errors", Type: "prometheus", Outcome: "passed", Attempts: 1}}}
		}
		st := runPlan(t, p, f, Options{Clock: c, Rollback: rollback})
		records, err := Records(p, st, Origin{Actor: "octocat"})
		if err != nil {
			t.Fatal(err)
		}
		var failed, rolled []evidence.Record
		for _, r := range records {
			if r.Node != "c@dev" {
				continue
			}
			if r.Rollback != nil {
				rolled = append(rolled, r)
			} else {
				failed = append(failed, r)
			}
		}
		if len(failed) != 1 || failed[0].Outcome != "failed" || failed[0].Commit != p.Commit || len(failed[0].Verification) != 1 {
			t.Fatalf("failed records = %+v, want one at the plan's commit with its checks", failed)
		}
		if len(rolled) != 1 {
			t.Fatalf("rollback records = %+v, want one", rolled)
		}
		rb := rolled[0]
		want := evidence.Rollback{FromCommit: p.Commit, Reason: "deploy workflow failed"}
		if rb.Commit != back || rb.Outcome != "succeeded" || rb.DeploymentID != 77 || *rb.Rollback != want || rb.FinishedAt.Sub(rb.StartedAt) != time.Minute || rb.Verification[0].Outcome != "passed" {
			t.Errorf("rollback record = %+v (rollback %+v), want commit %s succeeded, deployment 77, from %s, a minute long, its own checks", rb, rb.Rollback, back, p.Commit)
		}
	})
}
