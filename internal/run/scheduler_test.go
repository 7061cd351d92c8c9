package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
)

func testPlan(t testing.TB, yaml string, sel dag.Selection) *plan.Plan {
	t.Helper()
	m, err := manifest.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(m, sel, plan.Meta{ManifestBytes: []byte(yaml), Commit: "c0ffee"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The diamond: a → b, a → c, b,c → d, plus an independent e, in dev and prod.
const diamond = `version: 1
defaults: {max_parallel: 4, retries: 2, timeout: 1h, deploy: {command: x}}
environments:
  - name: dev
  - name: prod
    gate: {soak: 10m}
services:
  a: {paths: [a], expected_duration: 1m}
  b: {paths: [b], depends_on: [a], expected_duration: 2m}
  c: {paths: [c], depends_on: [a], expected_duration: 3m}
  d: {paths: [d], depends_on: [b, c], expected_duration: 1m}
  e: {paths: [e], expected_duration: 1m}
`

type script struct {
	duration  time.Duration
	wait      time.Duration // approval wait before deploying
	transient int           // transient failures before it succeeds
	fail      bool
	block     bool // deploy until cancelled
}

// fakeExec deploys on the real clock, which in the tests' synctest bubbles is
// the bubble's fake one: it advances only when every goroutine is blocked, so
// the durations the tests assert on are exact however loaded the machine is.
type fakeExec struct {
	clock   clock.Clock
	scripts map[string]script
	done    map[string]bool // for Resumer: succeeded earlier

	mu         sync.Mutex
	running    int
	maxRunning int
	concurrent []int // running count at each start
	started    map[string]time.Time
	ended      map[string]time.Time
	deploys    map[string]int
	cancelled  map[string]bool
}

func newFake(c clock.Clock, scripts map[string]script) *fakeExec {
	return &fakeExec{clock: c, scripts: scripts, started: map[string]time.Time{}, ended: map[string]time.Time{},
		deploys: map[string]int{}, cancelled: map[string]bool{}}
}

func (f *fakeExec) Deploy(ctx context.Context, n *plan.Node, attempt int, report func(Update)) error {
	sc := f.scripts[n.ID]
	if sc.duration == 0 {
		sc.duration = time.Duration(n.ExpectedSeconds) * time.Second
	}
	f.mu.Lock()
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	f.concurrent = append(f.concurrent, f.running)
	f.deploys[n.ID]++
	if _, ok := f.started[n.ID]; !ok {
		f.started[n.ID] = f.clock.Now()
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	report(Update{Phase: PhaseQueued, DeploymentID: int64(len(n.ID)), Calls: 2})
	if sc.wait > 0 {
		report(Update{Phase: PhaseWaiting, Message: "waiting for approval"})
		if err := f.clock.Sleep(ctx, sc.wait); err != nil {
			return err
		}
	}
	report(Update{Phase: PhaseDeploying, RunURL: "https://example.test/" + n.ID, Calls: 3})
	if sc.block {
		<-ctx.Done()
		f.mu.Lock()
		f.cancelled[n.ID] = true
		f.mu.Unlock()
		return fmt.Errorf("deployment cancelled: %w", ctx.Err())
	}
	if err := f.clock.Sleep(ctx, sc.duration); err != nil {
		return err
	}
	if attempt <= sc.transient {
		return Transient(errors.New("502 Bad Gateway"))
	}
	if sc.fail {
		return errors.New("deploy workflow failed")
	}
	f.mu.Lock()
	f.ended[n.ID] = f.clock.Now()
	f.mu.Unlock()
	return nil
}

type resumingExec struct{ *fakeExec }

func (r resumingExec) Succeeded(ctx context.Context, n *plan.Node) (bool, string, error) {
	return r.done[n.ID], "deployment #7", nil
}

func states(s *Status) map[string]State {
	out := map[string]State{}
	for _, n := range s.Nodes {
		out[n.ID] = n.State
	}
	return out
}

func runPlan(t *testing.T, p *plan.Plan, ex Executor, opts Options) *Status {
	t.Helper()
	st, err := Run(context.Background(), p, ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func noBackoff(int) time.Duration { return time.Second }

func TestDependenciesAndSoak(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{})
		f := newFake(c, nil)
		st := runPlan(t, p, f, Options{Clock: c})
		if st.Result != ResultSuccess {
			t.Fatalf("result = %s, want success: %+v", st.Result, st.Nodes)
		}
		for _, n := range p.Nodes {
			for _, need := range n.Needs {
				if f.started[n.ID].Before(f.ended[need]) {
					t.Errorf("%s started at %v, before %s ended at %v", n.ID, f.started[n.ID], need, f.ended[need])
				}
			}
			if n.Environment == "prod" {
				dev := n.Service + "@dev"
				if gap := f.started[n.ID].Sub(f.ended[dev]); gap < 10*time.Minute {
					t.Errorf("%s started %v after %s succeeded, want the 10m soak", n.ID, gap, dev)
				}
			}
		}
		for _, n := range st.Nodes {
			if n.Attempts != 1 || n.APICalls != 5 || n.DeploymentID == 0 || n.RunURL == "" || n.StartedAt == nil || n.FinishedAt == nil {
				t.Errorf("node status %+v, want 1 attempt, 5 calls and the reported links", n)
			}
		}
	})
}

// wideManifest is n independent services in dev, one minute each.
func wideManifest(n int, defaults string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults: {%s, deploy: {command: x}, expected_duration: 1m}\nenvironments: [{name: dev}]\nservices:\n", defaults)
	for i := range n {
		fmt.Fprintf(&b, "  s%d: {paths: [s%d]}\n", i, i)
	}
	return b.String()
}

// TestParallelismAndRollout holds the staged rollout the README and
// docs/manifest.md promise: the window starts at rollout.initial, widens by
// rollout.step after each success up to max_parallel, and falls back to
// initial after a failure. A model of the window is replayed beside every
// status change: each start must fit in the modelled window, the status must
// report it, and the window must be used (a start waits only while it is full).
//
// Mutants this kills (issue 15), which passed the old check of the first two
// starts: opening the window straight to max_parallel after the first
// success; never narrowing it after a failure; widening by 1 whatever the
// step.
func TestParallelismAndRollout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		what                   string
		max, initial, step     int
		fail                   []string
		wantMaxRunning         int
		wantNarrowedAfterFails bool
	}{
		{what: "slow start", max: 4, initial: 1, step: 1, wantMaxRunning: 4},
		{what: "step 2", max: 6, initial: 1, step: 2, wantMaxRunning: 6},
		{what: "failures narrow", max: 4, initial: 1, step: 1, fail: []string{"s6@dev", "s7@dev", "s13@dev"}, wantMaxRunning: 4, wantNarrowedAfterFails: true},
		{what: "no rollout", max: 3, initial: 3, step: 1, fail: []string{"s4@dev"}, wantMaxRunning: 3},
	} {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				yaml := wideManifest(20, fmt.Sprintf("max_parallel: %d, retries: 0, rollout: {initial: %d, step: %d}", tt.max, tt.initial, tt.step))
				scripts := map[string]script{}
				for _, id := range tt.fail {
					scripts[id] = script{fail: true}
				}
				f := newFake(clock.Real{}, scripts)
				window := tt.initial
				prev := map[string]State{}
				maxRunning, narrowed := 0, false
				st := runPlan(t, testPlan(t, yaml, dag.Selection{}), f, Options{Clock: clock.Real{}, OnChange: func(s *Status) {
					running, pending, started := 0, 0, ""
					for _, n := range s.Nodes {
						switch was := prev[n.ID]; {
						case n.State == Running && was != Running:
							started = n.ID
						case n.State == Succeeded && was != Succeeded:
							window = min(window+tt.step, tt.max)
						case n.State == Failed && was != Failed:
							if window > tt.initial {
								narrowed = true
							}
							window = tt.initial
						}
						prev[n.ID] = n.State
						if n.State == Running {
							running++
						}
						if n.State == Pending {
							pending++
						}
					}
					maxRunning = max(maxRunning, running)
					if s.Window != window {
						t.Errorf("status window %d, want %d (after %v)", s.Window, window, prev)
					}
					if started != "" && running > window {
						t.Errorf("%s started with %d running in a window of %d", started, running, window)
					}
				}})
				if maxRunning != tt.wantMaxRunning {
					t.Errorf("at most %d nodes ran at once, want %d", maxRunning, tt.wantMaxRunning)
				}
				if narrowed != tt.wantNarrowedAfterFails {
					t.Errorf("a failure narrowed the window: %v, want %v", narrowed, tt.wantNarrowedAfterFails)
				}
				wantResult := ResultSuccess
				if len(tt.fail) > 0 {
					wantResult = ResultFailure
				}
				if st.Result != wantResult {
					t.Errorf("result %s, want %s", st.Result, wantResult)
				}
				// The window is used: with every node one minute long and
				// none failing, the run takes exactly as many minutes as the
				// widening windows need. (With failures, the order in which
				// nodes ending at the same instant are handled decides.)
				if got, want := st.FinishedAt.Sub(st.StartedAt), makespan(20, tt.max, tt.initial, tt.step); len(tt.fail) == 0 && got != want {
					t.Errorf("the run took %v, want %v", got, want)
				}
			})
		})
	}
}

// TestMaxParallelCapsRollout: `promote run --max-parallel 2` (Options) on a
// manifest whose rollout starts wider (initial 3 of max_parallel 4) runs at
// most 2 nodes at once, from the first start on.
//
// Mutant this kills: Options.fill not capping RolloutInitial at MaxParallel.
func TestMaxParallelCapsRollout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		yaml := wideManifest(6, "max_parallel: 4, rollout: {initial: 3, step: 1}")
		f := newFake(clock.Real{}, nil)
		st := runPlan(t, testPlan(t, yaml, dag.Selection{}), f, Options{Clock: clock.Real{}, MaxParallel: 2})
		if st.Result != ResultSuccess || f.maxRunning != 2 {
			t.Errorf("result %s, at most %d nodes at once; want success with at most 2", st.Result, f.maxRunning)
		}
	})
}

// makespan replays the staged rollout of n independent one-minute nodes
// that all succeed: every minute the nodes running end, each widening the
// window, then the window is filled.
func makespan(n, maxParallel, initial, step int) time.Duration {
	window, minutes := initial, 0
	for left := n; left > 0; minutes++ {
		batch := min(window, left)
		window = min(window+batch*step, maxParallel)
		left -= batch
	}
	return time.Duration(minutes) * time.Minute
}

// TestCriticalPathFirst holds the scheduler's critical-path-first order
// (readyHeap.Less): with two slots, a chain z1 → z2 → z3 and two short
// independent services a and b, all ten minutes long, the chain must start
// first to finish in the 30 minutes the chain needs. Plan order (a, b first)
// or the shortest remaining path first takes 40.
//
// Mutants this kills (issue 15): the comparison reversed (shortest remaining
// path first), and the priority ignored (plan order only, which the second
// part catches: plan order already puts z1 first).
func TestCriticalPathFirst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const chain = `version: 1
defaults: {max_parallel: 2, deploy: {command: x}, expected_duration: 10m}
environments: [{name: dev}]
services:
  a: {paths: [a]}
  b: {paths: [b]}
  z1: {paths: [z1]}
  z2: {paths: [z2], depends_on: [z1]}
  z3: {paths: [z3], depends_on: [z2]}
`
		f := newFake(clock.Real{}, nil)
		st := runPlan(t, testPlan(t, chain, dag.Selection{}), f, Options{Clock: clock.Real{}})
		if st.Result != ResultSuccess {
			t.Fatalf("result %s", st.Result)
		}
		if got := st.FinishedAt.Sub(st.StartedAt); got != 30*time.Minute {
			t.Errorf("makespan %v, want 30m0s: the chain z1 → z2 → z3 is the critical path", got)
		}
		if z1 := f.started["z1@dev"].Sub(st.StartedAt); z1 != 0 {
			t.Errorf("z1@dev started after %v, want at once", z1)
		}

		// One slot, and a and b shorter: whenever a slot frees, the ready
		// node with the longest path ahead of it goes, so the chain first
		// (z2 overtakes a and b, which were ready before it), then a and b
		// in plan order.
		one := strings.NewReplacer("max_parallel: 2", "max_parallel: 1", "a: {paths: [a]}", "a: {paths: [a], expected_duration: 5m}",
			"b: {paths: [b]}", "b: {paths: [b], expected_duration: 5m}").Replace(chain)
		f = newFake(clock.Real{}, nil)
		runPlan(t, testPlan(t, one, dag.Selection{}), f, Options{Clock: clock.Real{}})
		order := slices.SortedFunc(maps.Keys(f.started), func(a, b string) int { return f.started[a].Compare(f.started[b]) })
		if want := []string{"z1@dev", "z2@dev", "z3@dev", "a@dev", "b@dev"}; !slices.Equal(order, want) {
			t.Errorf("with one slot, nodes started in the order %v, want %v", order, want)
		}
	})
}

func TestFailureSkipsOnlyDependents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{})
		f := newFake(c, map[string]script{"b@dev": {fail: true}})
		st := runPlan(t, p, f, Options{Clock: c, Backoff: noBackoff})
		want := map[string]State{
			"a@dev": Succeeded, "b@dev": Failed, "c@dev": Succeeded, "d@dev": Skipped, "e@dev": Succeeded,
			"a@prod": Succeeded, "b@prod": Skipped, "c@prod": Succeeded, "d@prod": Skipped, "e@prod": Succeeded,
		}
		if diff := cmp.Diff(want, states(st)); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		if st.Result != ResultFailure || f.deploys["b@dev"] != 1 {
			t.Errorf("result %s, b@dev deployed %d times; want failure and no retry of a permanent failure", st.Result, f.deploys["b@dev"])
		}
		for _, n := range st.Nodes {
			if n.ID == "d@prod" && n.Message != "needs d@dev, which was skipped because b@dev failed" {
				t.Errorf("d@prod message = %q", n.Message)
			}
		}
	})
}

func TestFailFast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, strings.Replace(diamond, "timeout: 1h,", "timeout: 1h, on_failure: fail_fast,", 1), dag.Selection{})
		f := newFake(c, map[string]script{"b@dev": {fail: true, duration: time.Minute}, "c@dev": {block: true}})
		st := runPlan(t, p, f, Options{Clock: c})
		got := states(st)
		if got["b@dev"] != Failed || got["c@dev"] != Cancelled || got["d@prod"] != Skipped || st.Result != ResultFailure {
			t.Errorf("states %v, result %s; want b failed, c cancelled, the rest skipped", got, st.Result)
		}
		if !f.cancelled["c@dev"] {
			t.Error("the running c@dev was not cancelled")
		}
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{To: "dev"})
		f := newFake(c, map[string]script{"a@dev": {transient: 2}, "e@dev": {transient: 3}})
		st := runPlan(t, p, f, Options{Clock: c, Backoff: noBackoff})
		got := states(st)
		if got["a@dev"] != Succeeded || f.deploys["a@dev"] != 3 {
			t.Errorf("a@dev %s after %d attempts, want success on the third", got["a@dev"], f.deploys["a@dev"])
		}
		if got["e@dev"] != Failed || f.deploys["e@dev"] != 3 {
			t.Errorf("e@dev %s after %d attempts, want failure after 1 + 2 retries", got["e@dev"], f.deploys["e@dev"])
		}
	})
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{To: "dev", Services: []string{"a"}})
		f := newFake(c, map[string]script{"a@dev": {block: true}})
		st := runPlan(t, p, f, Options{Clock: c, Timeout: 5 * time.Minute})
		if n := st.Nodes[0]; n.State != Failed || !strings.HasPrefix(n.Message, "timed out after 5m0s") {
			t.Errorf("a@dev = %s %q, want failed with a timeout", n.State, n.Message)
		}
	})
}

func TestApprovalWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{To: "dev", Services: []string{"a"}})
		f := newFake(c, map[string]script{"a@dev": {wait: 20 * time.Minute, duration: 5 * time.Minute}})
		st := runPlan(t, p, f, Options{Clock: c})
		n := st.Nodes[0]
		// Exact: the bubble's clock cannot be outrun.
		if n.ApprovalWaitSeconds != 20*60 || n.DeploySeconds != 5*60 {
			t.Errorf("approval wait %.0fs, deploy %.0fs; want 1200s and 300s", n.ApprovalWaitSeconds, n.DeploySeconds)
		}
	})
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{})
		f := newFake(c, map[string]script{"a@dev": {block: true}})
		ctx, cancel := context.WithCancel(context.Background())
		var once sync.Once
		st, err := Run(ctx, p, f, Options{Clock: c, OnChange: func(s *Status) {
			for _, n := range s.Nodes {
				if n.ID == "a@dev" && n.Phase == PhaseDeploying {
					once.Do(cancel)
				}
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		got := states(st)
		if got["a@dev"] != Cancelled || got["b@dev"] != Cancelled || st.Result != ResultCancelled || !f.cancelled["a@dev"] {
			t.Errorf("states %v, result %s; want everything cancelled and a@dev's deploy stopped", got, st.Result)
		}
	})
}

func TestResume(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{To: "dev"})
		f := newFake(c, nil)
		f.done = map[string]bool{"a@dev": true, "b@dev": true}
		st := runPlan(t, p, resumingExec{f}, Options{Clock: c})
		if f.deploys["a@dev"] != 0 || f.deploys["b@dev"] != 0 || f.deploys["d@dev"] != 1 || st.Result != ResultSuccess {
			t.Errorf("deploys %v, result %s; want a and b resumed, the rest deployed", f.deploys, st.Result)
		}
		for _, n := range st.Nodes {
			if n.ID == "a@dev" && (!n.Resumed || n.Message != "deployment #7") {
				t.Errorf("a@dev = %+v, want resumed", n)
			}
		}
	})
}

func TestRequires(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{From: "prod", Services: []string{"a", "e"}})
		f := newFake(c, nil)
		f.done = map[string]bool{"a@dev": true}
		st := runPlan(t, p, resumingExec{f}, Options{Clock: c})
		got := states(st)
		if got["a@prod"] != Succeeded || got["e@prod"] != Failed {
			t.Fatalf("states %v, want a@prod deployed and e@prod refused", got)
		}
		for _, n := range st.Nodes {
			if n.ID == "e@prod" && !strings.Contains(n.Message, "e@dev has not succeeded for commit c0ffee") {
				t.Errorf("e@prod message = %q", n.Message)
			}
		}
	})
}

func TestInvalidPlan(t *testing.T) {
	t.Parallel()
	p := testPlan(t, diamond, dag.Selection{})
	p.Nodes[0].Needs = []string{"zz@dev"}
	if _, err := Run(context.Background(), p, newFake(clock.Real{}, nil), Options{}); !errors.Is(err, ErrInvalidPlan) {
		t.Errorf("Run(bad plan) = %v, want ErrInvalidPlan", err)
	}
}

func TestStatusFile(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		path := t.TempDir() + "/status.json"
		sf := NewStatusFile(path)
		var seen []Status // a copy of each status OnChange was given
		st := runPlan(t, testPlan(t, diamond, dag.Selection{To: "dev"}), newFake(c, nil), Options{Clock: c, OnChange: func(s *Status) {
			sf.Update(s)
			cp := *s
			cp.Nodes = slices.Clone(s.Nodes)
			seen = append(seen, cp)
		}})
		if err := sf.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got Status
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(*st, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
			t.Errorf("status file (-want +got):\n%s", diff)
		}
		checkOncePerChange(t, seen)
	})
}

// checkOncePerChange checks that OnChange saw every change and each only
// once: no call repeats the status before it, and every node's state and
// phase went through each step the fake executor reports (pending, starting,
// queued, deploying, succeeded) without one being skipped.
//
// Mutants this kills (issue 15), which the old "at least 10 calls" let
// through: OnChange called only when a node ends; called twice per change.
func checkOncePerChange(t *testing.T, seen []Status) {
	t.Helper()
	steps := map[string][]string{}
	for i, s := range seen {
		if i > 0 && cmp.Equal(seen[i-1], s) {
			t.Errorf("OnChange call %d repeats call %d: %+v", i, i-1, s)
		}
		for _, n := range s.Nodes {
			step := string(n.State) + "/" + string(n.Phase)
			if k := steps[n.ID]; len(k) == 0 || k[len(k)-1] != step {
				steps[n.ID] = append(k, step)
			}
		}
	}
	want := []string{"pending/", "running/starting", "running/queued", "running/deploying", "succeeded/"}
	for id, got := range steps {
		if !slices.Equal(got, want) {
			t.Errorf("OnChange saw %s go through %v, want %v", id, got, want)
		}
	}
}

type fatalExec struct{ *fakeExec }

func (f fatalExec) Deploy(ctx context.Context, n *plan.Node, attempt int, report func(Update)) error {
	if n.ID == "a@dev" {
		return Fatal(errors.New("403 Resource not accessible by integration"))
	}
	return f.fakeExec.Deploy(ctx, n, attempt, report)
}

func TestFatal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		f := newFake(c, nil)
		st := runPlan(t, testPlan(t, diamond, dag.Selection{}), fatalExec{f}, Options{Clock: c})
		got := states(st)
		if got["a@dev"] != Failed || got["e@dev"] == Succeeded && f.deploys["e@prod"] > 0 || !strings.Contains(st.Fatal, "a@dev: 403") {
			t.Errorf("states %v, fatal %q; want a@dev failed and nothing new started", got, st.Fatal)
		}
		if got["b@dev"] != Skipped || got["e@prod"] != Skipped {
			t.Errorf("states %v, want the rest skipped", got)
		}
	})
}
