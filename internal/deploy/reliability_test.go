package deploy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// randomManifest returns a manifest of n services in dev and production with
// random dependencies on earlier services, deployed by deploy.yml.
func randomManifest(r *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults: {max_parallel: 4, retries: 3, timeout: 2h, deploy: {workflow: deploy.yml}, expected_duration: 2m}\n")
	b.WriteString("environments:\n  - name: dev\n  - name: production\n    protected: true\n")
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, "  s%d: {paths: [s%d]", i, i)
		var deps []string
		for j := range i {
			if r.IntN(4) == 0 {
				deps = append(deps, fmt.Sprintf("s%d", j))
			}
		}
		if len(deps) > 0 {
			fmt.Fprintf(&b, ", depends_on: [%s]", strings.Join(deps, ", "))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// TestFaultedPromotions runs many seeded promotions against a GitHub that
// faults 10% of requests (5xx, rate limits, latency, connections dropped
// before and after GitHub acted) and checks the invariants: no node starts
// before all it needs succeeded, no node is deployed twice, every Deployment
// ends in a terminal status, and every node ends as its script says.
func TestFaultedPromotions(t *testing.T) {
	t.Parallel()
	runs := 300
	switch {
	case testing.Short():
		runs = 30
	case raceDetector:
		// Half the seeds keep the package well inside go test's 10m
		// timeout under -race on a loaded 2-core machine; go test without
		// -race runs all of them in about 30s.
		runs = 150
	}
	var mu sync.Mutex
	injected := map[githubtest.FaultKind]int{}
	// Each promotion runs in a synctest bubble of its own (see newWorld),
	// so that a loaded machine cannot make a live promotion look dead or
	// time it out; the group returns when all are done.
	t.Run("seeds", func(t *testing.T) {
		for seed := range runs {
			t.Run(strconv.Itoa(seed), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					log := faultedPromotion(t, int64(seed))
					mu.Lock()
					defer mu.Unlock()
					for _, f := range log {
						injected[f.Kind]++
					}
				})
			})
		}
	})
	// The invariants prove something only if faults happened: every kind
	// must have been injected, and as often as the 10% rate makes likely.
	// (A server that ignored Faults passed every check above.)
	total := 0
	for _, k := range []githubtest.FaultKind{githubtest.FaultInternalServerError, githubtest.FaultBadGateway, githubtest.FaultServiceUnavailable,
		githubtest.FaultSecondaryRateLimit, githubtest.FaultTooManyRequests, githubtest.FaultLatency,
		githubtest.FaultDropBeforeHandling, githubtest.FaultDropAfterHandling} {
		if injected[k] == 0 {
			t.Errorf("no %v fault was injected in %d promotions; the test proves nothing about it", k, runs)
		}
		total += injected[k]
	}
	if total < runs {
		t.Errorf("%d faults injected in %d promotions, want at least one per promotion on average", total, runs)
	}
	t.Logf("%d faults injected in %d promotions: %v", total, runs, injected)
}

// faultedPromotion runs one seeded promotion and returns the faults injected.
func faultedPromotion(t *testing.T, seed int64) []githubtest.FaultEvent {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	clk := clock.Real{}
	srv := githubtest.New(githubtest.Options{InMemory: true, Seed: seed, Faults: githubtest.Faults{Rate: 0.1, SkipRoutes: []string{"GET /rate_limit"}}})
	defer srv.Close()
	fails := map[string]bool{}
	var mu sync.Mutex
	srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		// On a clock this fast, the go-ahead of a loaded machine may take
		// simulated hours to arrive.
		WaitForGoAhead: true, GoAheadTimeout: 1000 * time.Hour,
		Script: func(in map[string]string) githubtest.RunScript {
			mu.Lock()
			defer mu.Unlock()
			c := "success"
			if fails[in["service"]+"@"+in["environment"]] {
				c = "failure"
			}
			return githubtest.RunScript{QueueDelay: 20 * time.Second, Duration: 2 * time.Minute, Conclusion: c}
		},
	})
	srv.AddEnvironment("production", githubtest.Protection{Reviewers: []string{"alice"}})
	srv.SetApprover(func(int64, string) (time.Duration, bool) { return time.Minute, true })

	yaml := randomManifest(r, 3+r.IntN(5))
	p := manifestPlan(t, yaml, srv.SHA("main"))
	for _, n := range p.Nodes {
		if r.IntN(8) == 0 {
			fails[n.ID] = true
		}
	}
	client, err := github.New(context.Background(), github.Config{
		APIURL: srv.URL(), Token: "t", Owner: "acme", Repo: "app", HTTPClient: srv.Client(),
		Sleep: clk.Sleep, Now: clk.Now, MaxRetries: 12,
	})
	if err != nil {
		t.Fatal(err)
	}
	ex := &GitHub{Client: client, Commit: srv.SHA("main"), DispatchRef: "main", Clock: clk,
		Poll: github.Backoff{Min: 15 * time.Second, Max: 30 * time.Second, Factor: 2}}
	if err := ex.Preflight(context.Background(), p); err != nil {
		t.Fatalf("seed %d: preflight: %v", seed, err)
	}
	st, err := run.Run(context.Background(), p, ex, run.Options{Clock: clk, Backoff: func(int) time.Duration { return 10 * time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, fmt.Sprintf("seed %d", seed), p, st, srv, fails)
	return srv.FaultLog()
}

// checkInvariants checks a finished run against what GitHub recorded.
func checkInvariants(t *testing.T, name string, p *plan.Plan, st *run.Status, srv *githubtest.Server, fails map[string]bool) {
	t.Helper()
	// The runs that deployed: a late run of an abandoned Deployment stops
	// at its first step.
	runsOf := map[string][]githubtest.Run{}
	for _, r := range srv.Runs() {
		if r.DeployedAt.IsZero() {
			continue
		}
		id := r.Inputs["service"] + "@" + r.Inputs["environment"]
		runsOf[id] = append(runsOf[id], r)
	}
	status := map[string]run.NodeStatus{}
	for _, n := range st.Nodes {
		status[n.ID] = n
	}
	want := map[string]run.State{}
	for _, n := range p.Nodes { // topological order
		w := run.Succeeded
		for _, need := range n.Needs {
			if want[need] != run.Succeeded {
				w = run.Skipped
			}
		}
		if w == run.Succeeded && fails[n.ID] {
			w = run.Failed
		}
		want[n.ID] = w
		got := status[n.ID]
		if got.State != w {
			t.Errorf("%s: %s %s (%s), want %s", name, n.ID, got.State, got.Message, w)
		}
		runs := runsOf[n.ID]
		if len(runs) > 1 {
			t.Errorf("%s: %s was deployed %d times", name, n.ID, len(runs))
		}
		if len(runs) == 1 {
			for _, need := range n.Needs {
				if nr := runsOf[need]; len(nr) != 1 || runs[0].CreatedAt.Before(nr[0].CompletedAt) {
					t.Errorf("%s: %s started before %s succeeded", name, n.ID, need)
				}
			}
		}
	}
	for _, d := range srv.Deployments() {
		if len(d.Statuses) == 0 {
			t.Errorf("%s: deployment %d (%s %s) has no status", name, d.ID, d.Task, d.Environment)
			continue
		}
		if s := last(d); s != "success" && s != "failure" && s != "error" && s != "inactive" {
			t.Errorf("%s: deployment %d (%s %s) ends in %s, not a terminal status", name, d.ID, d.Task, d.Environment, s)
		}
	}
}

// TestConcurrentOrchestrators races two promotions over overlapping services
// on one repository: at no time may two runs deploy the same service into
// the same environment.
func TestConcurrentOrchestrators(t *testing.T) {
	t.Parallel()
	races := 50
	switch {
	case testing.Short():
		races = 5
	case raceDetector:
		races = 25 // as in TestFaultedPromotions
	}
	var contended atomic.Int64
	// Each race runs in a synctest bubble of its own (see newWorld), so
	// that a loaded machine cannot make a live promotion look dead or
	// time out its lock wait; the group returns when all are done.
	t.Run("seeds", func(t *testing.T) {
		for i := range races {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) { contended.Add(int64(race(t, int64(i)))) })
			})
		}
	})
	// The races must really contend: some promotion found its node taken
	// or already deployed by the other.
	if contended.Load() == 0 {
		t.Error("no race contended for a node; the test proves nothing")
	}
	t.Logf("%d nodes contended in %d races", contended.Load(), races)
}

// race runs two orchestrators at once and returns how many of their nodes
// met the other's promotion of the same node.
func race(t *testing.T, seed int64) int {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(seed), 11))
	clk := clock.Real{}
	srv := githubtest.New(githubtest.Options{InMemory: true, Seed: seed})
	defer srv.Close()
	srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) githubtest.RunScript {
			return githubtest.RunScript{QueueDelay: 10 * time.Second, Duration: time.Duration(1+r.IntN(3)) * time.Minute, Conclusion: "success"}
		},
	})
	yaml := randomManifest(rand.New(rand.NewPCG(uint64(seed), 3)), 6)
	client, err := github.New(context.Background(), github.Config{
		APIURL: srv.URL(), Token: "t", Owner: "acme", Repo: "app", HTTPClient: srv.Client(), Sleep: clk.Sleep, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two workflow runs of promote, for services s0-s3 and s2-s5.
	var wg sync.WaitGroup
	for i, services := range [][]string{{"s0", "s1", "s2", "s3"}, {"s2", "s3", "s4", "s5"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := selectPlan(t, yaml, dag.Selection{Services: services, To: "dev"}, srv.SHA("main"))
			ex := &GitHub{Client: client, Commit: srv.SHA("main"), DispatchRef: "main", Clock: clk,
				RunURL: fmt.Sprintf("https://github.test/acme/app/actions/runs/%d", i+1), LockTimeout: 48 * time.Hour,
				Poll: github.Backoff{Min: 10 * time.Second, Max: 20 * time.Second, Factor: 2}}
			if _, err := run.Run(context.Background(), p, ex, run.Options{Clock: clk}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Runs of one service in one environment never overlap in time.
	byNode := map[string][]githubtest.Run{}
	for _, run := range srv.Runs() {
		id := run.Inputs["service"] + "@" + run.Inputs["environment"]
		byNode[id] = append(byNode[id], run)
	}
	for id, runs := range byNode {
		for i := range runs {
			for j := range i {
				a, b := runs[i], runs[j]
				if a.CreatedAt.Before(b.CompletedAt) && b.CreatedAt.Before(a.CompletedAt) {
					t.Errorf("seed %d: %s deployed by two runs at once: %d (%v-%v) and %d (%v-%v)", seed, id,
						a.ID, a.CreatedAt.Format(time.TimeOnly), a.CompletedAt.Format(time.TimeOnly), b.ID, b.CreatedAt.Format(time.TimeOnly), b.CompletedAt.Format(time.TimeOnly))
				}
			}
		}
	}
	for _, d := range srv.Deployments() {
		if s := last(d); s != "success" && s != "inactive" {
			t.Errorf("seed %d: deployment %d ends in %s (%q), want success, or inactive when the other run deployed the commit first", seed, d.ID, s, d.Statuses[len(d.Statuses)-1].Description)
		}
	}
	// Each service is deployed once per environment: the waiting run finds
	// the commit deployed when it gets the lock.
	for id, runs := range byNode {
		if len(runs) != 1 {
			t.Errorf("seed %d: %s deployed %d times", seed, id, len(runs))
		}
	}
	contended := 0
	for _, d := range srv.Deployments() {
		if last(d) == "inactive" {
			contended++
		}
	}
	return contended
}

func selectPlan(t testing.TB, yaml string, sel dag.Selection, commit string) *plan.Plan {
	t.Helper()
	m := mustManifest(t, yaml)
	p, err := plan.Build(m, sel, plan.Meta{ManifestBytes: []byte(yaml), Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
