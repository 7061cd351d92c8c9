package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
)

// scale runs a simulated minute in 10 ms.
const scale = 6000

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

type fakeExec struct {
	clock   *clock.Scaled
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

func newFake(c *clock.Scaled, scripts map[string]script) *fakeExec {
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
	c := clock.NewScaled(scale)
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
}

func TestParallelismAndRollout(t *testing.T) {
	t.Parallel()
	wide := `version: 1
defaults: {max_parallel: 4, rollout: {initial: 1, step: 1}, deploy: {command: x}, expected_duration: 1m}
environments: [{name: dev}]
services:
` + func() string {
		var b strings.Builder
		for i := range 12 {
			fmt.Fprintf(&b, "  s%d: {paths: [s%d]}\n", i, i)
		}
		return b.String()
	}()
	c := clock.NewScaled(scale)
	f := newFake(c, nil)
	st := runPlan(t, testPlan(t, wide, dag.Selection{}), f, Options{Clock: c})
	if st.Result != ResultSuccess {
		t.Fatalf("result = %s", st.Result)
	}
	if f.maxRunning != 4 {
		t.Errorf("at most %d nodes ran at once, want max_parallel 4", f.maxRunning)
	}
	// Slow start: the first node runs alone, the window widens by one per
	// success.
	if f.concurrent[0] != 1 || f.concurrent[1] != 1 {
		t.Errorf("concurrency at the first starts = %v, want 1 then 1", f.concurrent[:4])
	}
}

func TestFailureSkipsOnlyDependents(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
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
}

func TestFailFast(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
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
}

func TestRetries(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
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
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
	p := testPlan(t, diamond, dag.Selection{To: "dev", Services: []string{"a"}})
	f := newFake(c, map[string]script{"a@dev": {block: true}})
	st := runPlan(t, p, f, Options{Clock: c, Timeout: 5 * time.Minute})
	if n := st.Nodes[0]; n.State != Failed || !strings.HasPrefix(n.Message, "timed out after 5m0s") {
		t.Errorf("a@dev = %s %q, want failed with a timeout", n.State, n.Message)
	}
}

func TestApprovalWait(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
	p := testPlan(t, diamond, dag.Selection{To: "dev", Services: []string{"a"}})
	f := newFake(c, map[string]script{"a@dev": {wait: 20 * time.Minute, duration: 5 * time.Minute}})
	st := runPlan(t, p, f, Options{Clock: c})
	n := st.Nodes[0]
	if n.ApprovalWaitSeconds < 19*60 || n.ApprovalWaitSeconds > 23*60 || n.DeploySeconds < 4*60 || n.DeploySeconds > 8*60 {
		t.Errorf("approval wait %.0fs, deploy %.0fs; want about 1200s and 300s", n.ApprovalWaitSeconds, n.DeploySeconds)
	}
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
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
}

func TestResume(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
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
}

func TestRequires(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
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
}

func TestInvalidPlan(t *testing.T) {
	t.Parallel()
	p := testPlan(t, diamond, dag.Selection{})
	p.Nodes[0].Needs = []string{"zz@dev"}
	if _, err := Run(context.Background(), p, newFake(clock.NewScaled(scale), nil), Options{}); !errors.Is(err, ErrInvalidPlan) {
		t.Errorf("Run(bad plan) = %v, want ErrInvalidPlan", err)
	}
}

func TestStatusFile(t *testing.T) {
	t.Parallel()
	c := clock.NewScaled(scale)
	path := t.TempDir() + "/status.json"
	sf := NewStatusFile(path)
	changes := 0
	st := runPlan(t, testPlan(t, diamond, dag.Selection{To: "dev"}), newFake(c, nil), Options{Clock: c, OnChange: func(s *Status) {
		sf.Update(s)
		changes++
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
	if changes < 10 {
		t.Errorf("OnChange was called %d times, want once per change", changes)
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
	c := clock.NewScaled(scale)
	f := newFake(c, nil)
	st := runPlan(t, testPlan(t, diamond, dag.Selection{}), fatalExec{f}, Options{Clock: c})
	got := states(st)
	if got["a@dev"] != Failed || got["e@dev"] == Succeeded && f.deploys["e@prod"] > 0 || !strings.Contains(st.Fatal, "a@dev: 403") {
		t.Errorf("states %v, fatal %q; want a@dev failed and nothing new started", got, st.Fatal)
	}
	if got["b@dev"] != Skipped || got["e@prod"] != Skipped {
		t.Errorf("states %v, want the rest skipped", got)
	}
}
