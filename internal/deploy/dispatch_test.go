package deploy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

const dispatchRoute = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"

// TestLostDispatchAnswer loses the answer to a node's first dispatch in
// each way it can be lost, and checks that it costs at most 20 s over the
// same node without faults, that no node gets two runs that deploy, and
// that every Deployment tells the truth. The bubble's clock makes the
// durations exact.
func TestLostDispatchAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		node string // a@dev, or a@production where a reviewer approves after 5m
		// fault is what happens to the first dispatch.
		fault githubtest.FaultKind
		// listing hides a run from listings this long after its dispatch.
		listing time.Duration
		// wantStatuses are the Deployments' statuses, oldest first.
		wantStatuses [][]string
		// wantLate is the conclusion of a run that never deployed, "" for
		// none.
		wantLate string
	}{
		{
			what:         "GitHub started the run, then the connection dropped",
			node:         "a@dev",
			fault:        githubtest.FaultDropAfterHandling,
			wantStatuses: [][]string{{"in_progress", "success"}},
		},
		{
			what:         "502 before GitHub acted: no run, the Deployment is abandoned",
			node:         "a@dev",
			fault:        githubtest.FaultBadGateway,
			wantStatuses: [][]string{{"error"}, {"in_progress", "success"}},
		},
		{
			what:         "the run shows up after the Deployment was abandoned: it stops itself",
			node:         "a@dev",
			fault:        githubtest.FaultDropAfterHandling,
			listing:      30 * time.Second,
			wantStatuses: [][]string{{"error"}, {"in_progress", "success"}},
			wantLate:     "failure",
		},
		{
			what:         "a late run waiting for reviewers is cancelled by Promote",
			node:         "a@production",
			fault:        githubtest.FaultDropAfterHandling,
			listing:      30 * time.Second,
			wantStatuses: [][]string{{"error"}, {"in_progress", "success"}},
			wantLate:     "cancelled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			clean := deployOne(t, tt.node, githubtest.Options{ListingDelay: tt.listing})
			faulted := deployOne(t, tt.node, githubtest.Options{ListingDelay: tt.listing,
				Faults: githubtest.Faults{First: map[string][]githubtest.FaultKind{dispatchRoute: {tt.fault}}}})

			extra := faulted.took - clean.took
			if extra > 20*time.Second {
				t.Errorf("the lost answer cost %v (%v against %v clean), want at most 20s", extra, faulted.took, clean.took)
			}
			t.Logf("the lost answer cost %v (%v against %v clean)", extra, faulted.took, clean.took)
			if faulted.err != nil {
				t.Fatalf("Deploy: %v", faulted.err)
			}
			var got [][]string
			for _, d := range faulted.deployments {
				got = append(got, statesOf(d))
			}
			if !slices.EqualFunc(got, tt.wantStatuses, slices.Equal) {
				t.Errorf("deployments' statuses %v, want %v", got, tt.wantStatuses)
			}
			if len(faulted.deployments) == 2 {
				if d := faulted.deployments[0].Statuses[0].Description; !strings.Contains(d, "abandoned") {
					t.Errorf("the abandoned deployment's status says %q, want it to say it was abandoned", d)
				}
			}
			deployed := 0
			for _, r := range faulted.runs {
				switch {
				case !r.DeployedAt.IsZero():
					deployed++
				case r.Conclusion != tt.wantLate:
					t.Errorf("run %d (%s) never deployed and ended %s %q, want %q", r.ID, r.DisplayTitle, r.Status, r.Conclusion, tt.wantLate)
				}
			}
			if wantRuns := 1 + min(len(tt.wantLate), 1); deployed != 1 || len(faulted.runs) != wantRuns {
				t.Errorf("%d runs, %d of them deployed; want %d, one deployed", len(faulted.runs), deployed, wantRuns)
			}
		})
	}
}

// deployment is what deployOne saw.
type deployment struct {
	took        time.Duration
	err         error
	deployments []githubtest.Deployment
	runs        []githubtest.Run
}

// deployOne deploys one node of workflowManifest in a bubble of its own.
func deployOne(t *testing.T, node string, opts githubtest.Options) deployment {
	t.Helper()
	var out deployment
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, opts)
		ex := w.executor()
		p := manifestPlan(t, workflowManifest, ex.Commit)
		i := slices.IndexFunc(p.Nodes, func(n plan.Node) bool { return n.ID == node })
		if i < 0 {
			t.Fatalf("no node %s", node)
		}
		start := time.Now()
		out.err = ex.Deploy(context.Background(), &p.Nodes[i], 1, func(run.Update) {})
		out.took = time.Since(start)
		// Whatever a late run would still do is over by then.
		time.Sleep(time.Hour)
		out.deployments, out.runs = w.srv.Deployments(), w.srv.Runs()
	})
	return out
}

// TestFaultedMakespan promotes the example shape (BenchmarkFaultedMakespan)
// with 10 % of requests faulted, for 10 seeds, each in a bubble, and checks
// issue 3's goal: the makespan stays within 1.5 times the clean one. The
// bubble's clock makes the ratios exact, where the benchmark's scaled clock
// adds the machine's load.
func TestFaultedMakespan(t *testing.T) {
	t.Parallel()
	for _, deploy := range []time.Duration{0, 10 * time.Second} {
		var ratios []float64
		lost := 0
		for seed := range int64(10) {
			var clean, faulted time.Duration
			synctest.Test(t, func(t *testing.T) { clean, _ = faultedExample(t, seed, 0, clock.Real{}, true, deploy) })
			synctest.Test(t, func(t *testing.T) {
				var l int
				faulted, l = faultedExample(t, seed, 0.1, clock.Real{}, true, deploy)
				lost += l
			})
			ratio := float64(faulted) / float64(clean)
			if ratio > 1.5 {
				t.Errorf("deploys of %v, seed %d: makespan %v under faults, %v clean: %.2f times, want at most 1.5", deploy, seed, faulted, clean, ratio)
			}
			ratios = append(ratios, ratio)
		}
		t.Logf("deploys of %v (0: the services' own): faulted/clean median %.3f, worst %.3f, %d dispatch answers lost in %d runs", deploy, median(ratios), slices.Max(ratios), lost, len(ratios))
	}
}
