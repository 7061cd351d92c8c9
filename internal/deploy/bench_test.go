package deploy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// benchScale runs a simulated minute in 60 ms: a millisecond of real work
// (an HTTP round trip to the in-memory GitHub, a scheduling step) then costs
// a simulated second, about what a request to the real GitHub takes. A
// faster clock would charge Promote's own CPU time as minutes.
const benchScale = 1000

// benchConcurrency is how many DAGs are promoted at once; more would make
// the two cores the bottleneck and the clock unfair.
const benchConcurrency = 3

// benchManifest is a random DAG of services in two unprotected
// environments, each service with a random expected duration of 1 to 10
// minutes and up to 3 dependencies on services declared before it.
func benchManifest(r *rand.Rand, services, maxParallel int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults: {max_parallel: %d, retries: 3, timeout: 2000h, deploy: {workflow: deploy.yml}}\n", maxParallel)
	b.WriteString("environments:\n  - name: dev\n  - name: staging\nservices:\n")
	for i := range services {
		fmt.Fprintf(&b, "  s%d: {paths: [s%d], expected_duration: %dm", i, i, 1+r.IntN(10))
		writeDeps(&b, r, i)
	}
	return b.String()
}

// writeDeps ends service i's entry, with up to 3 random dependencies on
// services declared before it.
func writeDeps(b *strings.Builder, r *rand.Rand, i int) {
	seen := map[int]bool{}
	var deps []string
	for range r.IntN(4) {
		if i == 0 {
			break
		}
		if d := r.IntN(i); !seen[d] {
			seen[d] = true
			deps = append(deps, fmt.Sprintf("s%d", d))
		}
	}
	if len(deps) > 0 {
		fmt.Fprintf(b, ", depends_on: [%s]", strings.Join(deps, ", "))
	}
	b.WriteString("}\n")
}

// simulation is one promotion of a plan against the in-memory GitHub, each
// run taking exactly its node's expected duration.
type simulation struct {
	plan   *plan.Plan
	status *run.Status
	calls  map[string]githubtest.Count
	nodes  int
}

func simulate(tb testing.TB, yaml string, statusFile string) simulation {
	tb.Helper()
	clk := clock.NewScaled(benchScale)
	srv := githubtest.New(githubtest.Options{Clock: clk})
	defer srv.Close()
	p := manifestPlan(tb, yaml, srv.SHA("main"))
	expected := map[string]time.Duration{}
	for _, n := range p.Nodes {
		expected[n.Service+"@"+n.GitHubEnvironment] = time.Duration(n.ExpectedSeconds) * time.Second
	}
	srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		Script: func(in map[string]string) githubtest.RunScript {
			return githubtest.RunScript{Duration: expected[in["service"]+"@"+in["environment"]], Conclusion: "success"}
		},
	})
	ex := simExecutor(tb, srv, clk, p)
	opts := run.Options{Clock: clk}
	var sf *run.StatusFile
	if statusFile != "" {
		sf = run.NewStatusFile(statusFile)
		opts.OnChange = sf.Update
	}
	st, err := run.Run(context.Background(), p, ex, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if sf != nil {
		if err := sf.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	if st.Result != run.ResultSuccess {
		tb.Fatalf("result %s", st.Result)
	}
	return simulation{plan: p, status: st, calls: srv.Calls(), nodes: len(p.Nodes)}
}

// simExecutor is the GitHub executor of a simulation on clk, with the
// client's defaults, checked against p.
func simExecutor(tb testing.TB, srv *githubtest.Server, clk clock.Clock, p *plan.Plan) *GitHub {
	tb.Helper()
	client, err := github.New(context.Background(), github.Config{
		APIURL: srv.URL(), Token: "t", Owner: "acme", Repo: "app", HTTPClient: srv.Client(), Sleep: clk.Sleep, Now: clk.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ex := &GitHub{Client: client, Commit: srv.SHA("main"), DispatchRef: "main", Clock: clk}
	if err := ex.Preflight(context.Background(), p); err != nil {
		tb.Fatal(err)
	}
	return ex
}

// lowerBound is no schedule's makespan can beat: the critical path, and the
// total work spread over every slot.
func lowerBound(p *plan.Plan) time.Duration {
	var work int64
	for _, n := range p.Nodes {
		work += n.ExpectedSeconds
	}
	cp := p.CriticalPath.DurationSeconds
	return time.Duration(max(cp, work/int64(p.Settings.MaxParallel))) * time.Second
}

// waveByWave is the makespan of running each wave as a matrix job of
// max_parallel jobs that starts when the whole previous wave has ended, as
// chained `needs:` do.
func waveByWave(p *plan.Plan) time.Duration {
	dur := map[string]int64{}
	for _, n := range p.Nodes {
		dur[n.ID] = n.ExpectedSeconds
	}
	var total int64
	for _, wave := range p.Waves {
		slots := make([]int64, p.Settings.MaxParallel)
		for _, id := range wave { // matrix jobs start in order as slots free up
			i := slices.Index(slots, slices.Min(slots))
			slots[i] += dur[id]
		}
		total += slices.Max(slots)
	}
	return time.Duration(total) * time.Second
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkMakespan promotes 100 seeded random DAGs of 200 nodes (100
// services × 2 environments, max_parallel 10) against the in-memory GitHub
// on a scaled clock, and reports the makespan over its lower bound, the
// wave-by-wave schedule over ours, and the API requests per node that count
// against the rate limit.
func BenchmarkMakespan(b *testing.B) {
	const dags = 100
	for b.Loop() {
		sims := make([]simulation, dags)
		var wg sync.WaitGroup
		sem := make(chan struct{}, benchConcurrency)
		for seed := range dags {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r := rand.New(rand.NewPCG(uint64(seed), 99))
				sims[seed] = simulate(b, benchManifest(r, 100, 10), "")
			}()
		}
		wg.Wait()
		var ratios, waveRatios []float64
		counted, nodes := 0, 0
		routes := map[string]int{}
		for _, sim := range sims {
			makespan := sim.status.FinishedAt.Sub(sim.status.StartedAt)
			ratios = append(ratios, float64(makespan)/float64(lowerBound(sim.plan)))
			waveRatios = append(waveRatios, float64(waveByWave(sim.plan))/float64(makespan))
			for route, c := range sim.calls {
				if route == "GET /rate_limit" {
					continue
				}
				counted += c.Total - c.NotModified
				routes[route] += c.Total - c.NotModified
			}
			nodes += sim.nodes
		}
		b.ReportMetric(median(ratios), "median-ratio")
		b.ReportMetric(slices.Max(ratios), "worst-ratio")
		b.ReportMetric(median(waveRatios), "wave/ours-median")
		b.ReportMetric(float64(counted)/float64(nodes), "calls/node")
		keys := make([]string, 0, len(routes))
		for k := range routes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.Logf("%-70s %.2f per node", k, float64(routes[k])/float64(nodes))
		}
	}
}

// BenchmarkLargePromotion promotes 1,000 nodes (500 services × 2
// environments) with max_parallel 50, writing the status file as `promote
// run` does, and reports the process's peak RSS (the in-memory GitHub
// included). Run it alone for a meaningful peak.
func BenchmarkLargePromotion(b *testing.B) {
	for b.Loop() {
		r := rand.New(rand.NewPCG(1000, 50))
		sim := simulate(b, benchManifest(r, 500, 50), filepath.Join(b.TempDir(), "status.json"))
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(sim.nodes), "nodes")
		b.ReportMetric(float64(sim.status.FinishedAt.Sub(sim.status.StartedAt))/float64(lowerBound(sim.plan)), "makespan-ratio")
	}
}
