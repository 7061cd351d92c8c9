package deploy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
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
	return simulateOn(tb, yaml, statusFile, clock.NewScaled(benchScale), false)
}

// simulateOn is simulate on clk: clock.Real{} in a synctest bubble, with
// an in-memory server, gives exact times.
func simulateOn(tb testing.TB, yaml string, statusFile string, clk clock.Clock, inMemory bool) simulation {
	tb.Helper()
	srv := githubtest.New(githubtest.Options{Clock: clk, InMemory: inMemory})
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

// exampleShape is the example repository's promotion (3 services, dev →
// staging → a protected production, service-c not in production: 8
// nodes) deployed by deploy.yml, without its soaks, as `--soak 0s`
// rehearses it. Each deploy takes its service's expected duration, or
// deploy when that is not zero.
func exampleShape(tb testing.TB, commit string, deploy time.Duration) *plan.Plan {
	tb.Helper()
	data, err := os.ReadFile("../../examples/promotion.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	yaml := regexp.MustCompile(`command: \S+`).ReplaceAllString(string(data), "workflow: deploy.yml")
	p := manifestPlan(tb, yaml, commit)
	for i := range p.Nodes {
		p.Nodes[i].SoakSeconds = 0
		if deploy > 0 {
			p.Nodes[i].ExpectedSeconds = int64(deploy / time.Second)
		}
	}
	return p
}

// faultedExample promotes the example shape on clk against a GitHub that
// faults rate of the requests (every kind: 5xx, secondary limits, 429,
// latency, connections dropped before and after GitHub acted) and returns
// the makespan and how many dispatch answers were lost.
func faultedExample(tb testing.TB, seed int64, rate float64, clk clock.Clock, inMemory bool, deploy time.Duration) (time.Duration, int) {
	tb.Helper()
	srv := githubtest.New(githubtest.Options{Seed: seed, Clock: clk, InMemory: inMemory, Faults: githubtest.Faults{Rate: rate, SkipRoutes: []string{"GET /rate_limit"}}})
	defer srv.Close()
	p := exampleShape(tb, srv.SHA("main"), deploy)
	expected := map[string]time.Duration{}
	for _, n := range p.Nodes {
		expected[n.Service+"@"+n.GitHubEnvironment] = time.Duration(n.ExpectedSeconds) * time.Second
		if n.Protected {
			srv.AddEnvironment(n.GitHubEnvironment, githubtest.Protection{Reviewers: []string{"alice"}})
		}
	}
	srv.SetApprover(func(int64, string) (time.Duration, bool) { return time.Minute, true })
	srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		WaitForGoAhead: true,
		Script: func(in map[string]string) githubtest.RunScript {
			return githubtest.RunScript{QueueDelay: 10 * time.Second, Duration: expected[in["service"]+"@"+in["environment"]], Conclusion: "success"}
		},
	})
	st, err := run.Run(context.Background(), p, simExecutor(tb, srv, clk, p), run.Options{Clock: clk})
	if err != nil {
		tb.Fatal(err)
	}
	if st.Result != run.ResultSuccess {
		tb.Fatalf("seed %d: result %s", seed, st.Result)
	}
	lost := 0
	for _, f := range srv.FaultLog() {
		if f.Route == dispatchRoute && f.Kind != githubtest.FaultLatency && f.Kind != githubtest.FaultSecondaryRateLimit && f.Kind != githubtest.FaultTooManyRequests {
			lost++
		}
	}
	return st.FinishedAt.Sub(st.StartedAt), lost
}

// BenchmarkFaultedMakespan promotes the example shape 20 times (seeds 0-19)
// with 10 % of requests faulted and without faults, and reports the
// makespan under faults over the clean one, median and worst, and the
// dispatch answers lost per promotion. "example" keeps the services'
// expected durations (4-6 minutes); "fast" deploys every node in 10
// seconds, where the cost of a fault weighs most.
func BenchmarkFaultedMakespan(b *testing.B) {
	for _, bc := range []struct {
		name   string
		deploy time.Duration
		scale  float64
	}{{"example", 0, benchScale}, {"fast", 10 * time.Second, 100}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				var ratios []float64
				lost := 0
				for seed := range int64(20) {
					clean, _ := faultedExample(b, seed, 0, clock.NewScaled(bc.scale), false, bc.deploy)
					faulted, l := faultedExample(b, seed, 0.1, clock.NewScaled(bc.scale), false, bc.deploy)
					ratios = append(ratios, float64(faulted)/float64(clean))
					lost += l
				}
				b.ReportMetric(median(ratios), "faulted/clean-median")
				b.ReportMetric(slices.Max(ratios), "faulted/clean-worst")
				b.ReportMetric(float64(lost)/20, "lost-dispatches/run")
			}
		})
	}
}

// BenchmarkPromotionAtScale runs TestPromotionAtScale's case for seeds 1-3
// on a scaled clock (a simulated hour takes 36 s) and reports the makespan
// over its bound (the critical path or the write budget), over issue 9's
// yardstick (the critical path or the writes at 500 an hour), the writes per
// node, and the refusals for GitHub's secondary limit and the nodes
// deployed twice, both of which must be 0.
func BenchmarkPromotionAtScale(b *testing.B) {
	for b.Loop() {
		var ratios, rateRatios []float64
		writes, nodes, refused, twice := 0, 0, 0, 0
		for seed := range uint64(3) {
			res := promoteAtScale(b, seed+1, clock.NewScaled(100), false)
			if res.status.Result != run.ResultSuccess {
				for _, n := range res.status.Nodes {
					if n.State != run.Succeeded {
						b.Errorf("seed %d: %s %s: %s", seed+1, n.ID, n.State, n.Message)
					}
				}
				b.Fatalf("seed %d: result %s", seed+1, res.status.Result)
			}
			ratios = append(ratios, float64(res.makespan)/float64(res.bound()))
			rateRatios = append(rateRatios, float64(res.makespan)/float64(res.rateBound()))
			writes += res.writes
			nodes += len(res.plan.Nodes)
			refused += res.refused
			for _, n := range res.deployed {
				if n > 1 {
					twice++
				}
			}
			b.Logf("seed %d: makespan %v, critical path %v, %d writes need %v", seed+1, res.makespan, res.critical, res.writes, res.writeSpan)
		}
		b.ReportMetric(slices.Max(ratios), "makespan/bound-worst")
		b.ReportMetric(slices.Max(rateRatios), "makespan/rate-bound-worst")
		b.ReportMetric(float64(writes)/float64(nodes), "writes/node")
		b.ReportMetric(float64(refused), "refusals")
		b.ReportMetric(float64(twice), "deployed-twice")
	}
}
