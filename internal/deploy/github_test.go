package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	gh "github.com/google/go-github/v60/github"
	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

const workflowManifest = `version: 1
defaults: {max_parallel: 4, retries: 2, timeout: 2h, deploy: {workflow: deploy.yml}, expected_duration: 2m}
environments:
  - name: dev
  - name: production
    protected: true
    github_environment: "{service}-production"
services:
  a: {paths: [a]}
  b: {paths: [b], depends_on: [a]}
  c: {paths: [c], depends_on: [a]}
`

// world is a repository on the in-memory GitHub with a deploy workflow and
// Promote's client for it. It must be made inside a testing/synctest bubble:
// the server runs over in-memory connections and everything runs on the
// real clock, which in the bubble is a fake one that advances only when
// every goroutine is blocked, so the durations the tests assert on are exact
// however slow the machine is.
type world struct {
	srv    *githubtest.Server
	client *github.Client
	clock  clock.Clock

	mu      sync.Mutex
	scripts map[string]githubtest.RunScript // by "service@github environment"
}

func newWorld(t testing.TB, opts githubtest.Options) *world {
	t.Helper()
	opts.InMemory = true
	w := &world{clock: clock.Real{}, scripts: map[string]githubtest.RunScript{}}
	w.srv = githubtest.New(opts)
	t.Cleanup(w.srv.Close)
	w.srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		Name:        "deploy",
		RunName:     "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:      []string{"service", "environment", "ref", "deployment_id"},
		Environment: "${{ inputs.environment }}",
		// As the example workflow's first step does.
		WaitForGoAhead: true,
		Script: func(in map[string]string) githubtest.RunScript {
			w.mu.Lock()
			defer w.mu.Unlock()
			if s, ok := w.scripts[in["service"]+"@"+in["environment"]]; ok {
				return s
			}
			return githubtest.RunScript{QueueDelay: 10 * time.Second, Duration: 2 * time.Minute, Conclusion: "success"}
		},
	})
	for _, svc := range []string{"a", "b", "c"} {
		w.srv.AddEnvironment(svc+"-production", githubtest.Protection{Reviewers: []string{"alice"}})
	}
	w.srv.SetApprover(func(int64, string) (time.Duration, bool) { return 5 * time.Minute, true })
	client, err := github.New(context.Background(), github.Config{
		APIURL: w.srv.URL(), Token: "test-token", Owner: "acme", Repo: "app",
		HTTPClient: w.srv.Client(), Sleep: w.clock.Sleep, Now: w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.client = client
	return w
}

func (w *world) script(node string, s githubtest.RunScript) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scripts[node] = s
}

func (w *world) executor() *GitHub {
	return &GitHub{
		Client: w.client, Commit: w.srv.SHA("main"), DispatchRef: "main", RunURL: "https://github.test/acme/app/actions/runs/1",
		Clock: w.clock, Poll: github.Backoff{Min: 5 * time.Second, Max: 20 * time.Second, Factor: 2},
	}
}

func mustManifest(t testing.TB, yaml string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("promotion.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func manifestPlan(t testing.TB, yaml, commit string) *plan.Plan {
	t.Helper()
	return selectPlan(t, yaml, dag.Selection{}, commit)
}

func (w *world) run(t testing.TB, ctx context.Context, ex *GitHub, p *plan.Plan) *run.Status {
	t.Helper()
	if err := ex.Preflight(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, err := run.Run(ctx, p, ex, run.Options{Clock: w.clock, Backoff: func(int) time.Duration { return 10 * time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func stateOf(st *run.Status) map[string]run.State {
	out := map[string]run.State{}
	for _, n := range st.Nodes {
		out[n.ID] = n.State
	}
	return out
}

// last is a Deployment's latest status.
func last(d githubtest.Deployment) string { return d.Statuses[len(d.Statuses)-1].State }

func statesOf(d githubtest.Deployment) []string {
	var out []string
	for _, s := range d.Statuses {
		out = append(out, s.State)
	}
	return out
}

// TestGitHubPromotion promotes the plan end to end: one Deployment per node
// whose statuses follow the run, the run gated by the protected environment.
func TestGitHubPromotion(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{})
		ex := w.executor()
		p := manifestPlan(t, workflowManifest, ex.Commit)
		st := w.run(t, context.Background(), ex, p)
		if st.Result != run.ResultSuccess {
			t.Fatalf("result %s: %+v", st.Result, st.Nodes)
		}
		deps := w.srv.Deployments()
		if len(deps) != len(p.Nodes) {
			t.Fatalf("%d deployments for %d nodes, want one each", len(deps), len(p.Nodes))
		}
		for _, d := range deps {
			got := statesOf(d) // oldest first
			// No queued: nothing waited for the lock, and a Deployment
			// without a status shows as pending.
			if !slices.Equal(got, []string{"in_progress", "success"}) {
				t.Errorf("deployment %d (%s %s) statuses %v, want in_progress, success", d.ID, d.Task, d.Environment, got)
			}
			if d.SHA != ex.Commit || !strings.HasPrefix(d.Task, "deploy:") {
				t.Errorf("deployment %+v, want the commit and task deploy:<service>", d)
			}
			if d.Statuses[len(d.Statuses)-1].LogURL == "" {
				t.Errorf("deployment %d: the final status has no log_url", d.ID)
			}
		}
		for _, r := range w.srv.Runs() {
			if r.Conclusion != "success" || r.Inputs["ref"] != ex.Commit || r.Inputs["deployment_id"] == "" {
				t.Errorf("run %+v, want a successful run of the commit naming its deployment", r)
			}
		}
		for _, n := range st.Nodes {
			// 7 requests per node: create, lock, dispatch, in_progress,
			// final, and two looks at the run; two more where it waits for
			// approval (one more look, and who approved). 304s are free.
			budget := 7
			if strings.HasSuffix(n.ID, "@production") {
				budget = 9
				if len(n.Approvals) != 1 || n.Approvals[0].State != "approved" || n.Approvals[0].Reviewer == "" {
					t.Errorf("node %s: approvals %+v, want one approval with its reviewer", n.ID, n.Approvals)
				}
			} else if len(n.Approvals) > 0 {
				t.Errorf("node %s: approvals %+v in an environment without reviewers", n.ID, n.Approvals)
			}
			if n.APICalls == 0 || n.APICalls > budget || n.RunURL == "" || n.DeploymentID == 0 {
				t.Errorf("node %s: %d API calls (want at most %d), run %q, deployment %d", n.ID, n.APICalls, budget, n.RunURL, n.DeploymentID)
			}
			checkTimes(t, n)
		}

		// A rerun of the same commit deploys nothing again.
		before := len(w.srv.Runs())
		st = w.run(t, context.Background(), w.executor(), p)
		if st.Result != run.ResultSuccess || len(w.srv.Runs()) != before || len(w.srv.Deployments()) != len(p.Nodes) {
			t.Errorf("rerun: result %s, %d new runs, %d deployments; want everything resumed", st.Result, len(w.srv.Runs())-before, len(w.srv.Deployments()))
		}
		for _, n := range st.Nodes {
			if !n.Resumed {
				t.Errorf("rerun: %s not resumed", n.ID)
			}
		}
	})
}

// checkTimes checks how a node of TestGitHubPromotion split its time between
// approval wait and deploy. Each run queues 10s, waits 5m for the reviewer in
// production, then deploys for 2m. Polls see a state change late: the first
// look comes half the expected 2m after the dispatch (so the start of the
// wait is seen up to 50s late), later ones at most Poll.Max (20s) apart (so
// its end is seen up to 20s late). The bounds follow, and they hold exactly
// because the bubble's clock cannot be outrun.
//
// Mutant this kills (issue 15): observe reporting PhaseDeploying right after
// every "waiting" poll moved about 268s of approval wait into deploy time; the
// old bound (above 0, at most 6m) let it through.
func checkTimes(t *testing.T, n run.NodeStatus) {
	t.Helper()
	const (
		queue, approval, deploy = 10 * time.Second, 5 * time.Minute, 2 * time.Minute
		firstLook, pollMax      = time.Minute, 20 * time.Second
	)
	wait := time.Duration(n.ApprovalWaitSeconds * float64(time.Second))
	deployed := time.Duration(n.DeploySeconds * float64(time.Second))
	if !strings.HasSuffix(n.ID, "@production") {
		if wait != 0 {
			t.Errorf("node %s waited %v for approval in an environment without reviewers", n.ID, wait)
		}
		return
	}
	if lo, hi := approval-(firstLook-queue), approval+pollMax; wait < lo || wait > hi {
		t.Errorf("node %s waited %v for approval, want between %v and %v (the reviewer approves after %v)", n.ID, wait, lo, hi, approval)
	}
	if lo, hi := deploy, queue+(firstLook-queue)+deploy+pollMax; deployed < lo || deployed > hi {
		t.Errorf("node %s deployed for %v, want between %v and %v (the run takes %v)", n.ID, deployed, lo, hi, deploy)
	}
}

func TestGitHubFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{})
		w.script("a@dev", githubtest.RunScript{Duration: time.Minute, Conclusion: "failure"})
		ex := w.executor()
		st := w.run(t, context.Background(), ex, manifestPlan(t, workflowManifest, ex.Commit))
		got := stateOf(st)
		if got["a@dev"] != run.Failed || got["b@dev"] != run.Skipped || got["a@production"] != run.Skipped {
			t.Errorf("states %v, want a@dev failed and everything after it skipped", got)
		}
		deps := w.srv.Deployments()
		if len(deps) != 1 || last(deps[0]) != "failure" {
			t.Errorf("deployments %+v, want one, ending in failure", deps)
		}
		for _, n := range st.Nodes {
			if n.ID == "a@dev" && (n.Attempts != 1 || !strings.Contains(n.Message, "concluded failure")) {
				t.Errorf("a@dev = %+v, want one attempt: a failed deploy is not retried", n)
			}
		}
	})
}

// TestGitHubCancel interrupts a promotion while a run deploys: the run is
// cancelled and the Deployment ends in error.
func TestGitHubCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{})
		w.script("a@dev", githubtest.RunScript{Duration: 5 * time.Hour, Conclusion: "success"})
		ex := w.executor()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := manifestPlan(t, workflowManifest, ex.Commit)
		var once sync.Once
		st, err := run.Run(ctx, p, ex, run.Options{Clock: w.clock, OnChange: func(s *run.Status) {
			for _, n := range s.Nodes {
				if n.ID == "a@dev" && n.Phase == run.PhaseDeploying {
					once.Do(cancel)
				}
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if st.Result != run.ResultCancelled {
			t.Errorf("result %s, want cancelled", st.Result)
		}
		runs := w.srv.Runs()
		if len(runs) != 1 || runs[0].Conclusion != "cancelled" {
			t.Errorf("runs %+v, want the one run cancelled", runs)
		}
		if d := w.srv.Deployments()[0]; last(d) != "error" {
			t.Errorf("deployment statuses %v, want it to end in error", statesOf(d))
		}
	})
}

func TestGitHubPreflight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{Tokens: map[string]string{"test-token": "promote-bot"}})
		ex := w.executor()
		missing := strings.Replace(workflowManifest, "b: {paths: [b], depends_on: [a]}", "b: {paths: [b], depends_on: [a], deploy: {workflow: ship.yml}}", 1)
		err := ex.Preflight(context.Background(), manifestPlan(t, missing, ex.Commit))
		if !errors.Is(err, ErrNoWorkflow) || !strings.Contains(err.Error(), `deploy workflow "ship.yml" of b is not in acme/app`) {
			t.Errorf("Preflight(missing workflow) = %v", err)
		}

		wrongRepo := *w.client
		wrongRepo.Repo = "nope"
		ex = &GitHub{Client: &wrongRepo, Commit: "x", DispatchRef: "main"}
		err = ex.Preflight(context.Background(), manifestPlan(t, workflowManifest, "x"))
		if github.StatusCode(err) != 404 || !strings.Contains(err.Error(), "acme/nope does not exist or the token cannot see it") {
			t.Errorf("Preflight(wrong repository) = %v", err)
		}

		bad, err := github.New(context.Background(), github.Config{APIURL: w.srv.URL(), Token: "tok-0123secret", Owner: "acme", Repo: "app", HTTPClient: w.srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		ex = &GitHub{Client: bad, Commit: "x", DispatchRef: "main"}
		err = ex.Preflight(context.Background(), manifestPlan(t, workflowManifest, "x"))
		if code := github.StatusCode(err); code != 401 || strings.Contains(err.Error(), "0123secret") {
			t.Errorf("Preflight(bad token) = %v (status %d), want a 401 that does not show the token", err, code)
		}
		if len(w.srv.Deployments()) != 0 || len(w.srv.Runs()) != 0 {
			t.Error("preflight left deployments or runs behind")
		}
	})
}

// TestGitHubLock starts two promotions of the same node at once: the second
// waits for the first and gives up after its lock timeout, naming the holder.
func TestGitHubLock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{})
		w.script("a@dev", githubtest.RunScript{Duration: 30 * time.Minute, Conclusion: "success"})
		one := workflowManifest
		p := manifestPlan(t, one, w.srv.SHA("main"))
		p.Nodes = p.Nodes[:1] // a@dev only
		first, second := w.executor(), w.executor()
		second.RunURL = "https://github.test/acme/app/actions/runs/2"
		second.LockTimeout = 10 * time.Minute
		var wg sync.WaitGroup
		results := make([]error, 2)
		for i, ex := range []*GitHub{first, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = ex.Deploy(context.Background(), &p.Nodes[0], 1, func(run.Update) {})
			}()
			// The first takes the lock before the second starts.
			for deadline := time.Now().Add(10 * time.Second); i == 0 && len(w.srv.Deployments()) == 0; {
				if time.Now().After(deadline) {
					t.Fatal("the first promotion created no deployment")
				}
				time.Sleep(time.Millisecond)
			}
		}
		wg.Wait()
		if results[0] != nil {
			t.Errorf("first promotion: %v", results[0])
		}
		holder := fmt.Sprintf("a@dev is being promoted by deployment #%d by https://github.test/acme/app/actions/runs/1", w.srv.Deployments()[0].ID)
		if err := results[1]; err == nil || !strings.Contains(err.Error(), holder) {
			t.Errorf("second promotion: %v, want it to name the holder", err)
		}
		if n := len(w.srv.Runs()); n != 1 {
			t.Errorf("%d runs, want only the holder's", n)
		}
		for _, d := range w.srv.Deployments() {
			if s := last(d); s != "success" && s != "error" {
				t.Errorf("deployment %d ends in %s, want a terminal status", d.ID, s)
			}
		}
	})
}

// TestGitHubLockExpiry holds the lock's lease: the ticket of a promotion
// whose runner died (a Deployment left in_progress, or left without any
// status) stops holding the lock once it has been unchanged for LockLease
// (StartGrace without a status), and the next promotion of the node then
// goes ahead instead of waiting out its LockTimeout. The leases are the
// defaults (6h and 10m): on the bubble's clock hours pass at once, and a live
// holder is never mistaken for a dead one by a slow machine.
//
// Mutant this kills (issue 15): tickets that never go stale (holder ignoring
// LockLease and StartGrace). TestGitHubLock kills the opposite one.
func TestGitHubLockExpiry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		what   string
		status string        // the dead holder's last status, "" for none
		age    time.Duration // how old it is when the next promotion starts
		lease  time.Duration // when it goes stale
	}{
		{what: "in_progress", status: "in_progress", age: DefaultLockLease - time.Minute, lease: DefaultLockLease},
		{what: "queued", status: "queued", age: DefaultLockLease - time.Minute, lease: DefaultLockLease},
		{what: "no status", age: DefaultStartGrace - time.Minute, lease: DefaultStartGrace},
	} {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, githubtest.Options{})
				ctx := context.Background()
				c := w.client
				dead, _, err := c.GH.Repositories.CreateDeployment(ctx, c.Owner, c.Repo, &gh.DeploymentRequest{
					Ref: gh.String(w.srv.SHA("main")), Task: gh.String("deploy:a"), Environment: gh.String("dev"),
					AutoMerge: gh.Bool(false), RequiredContexts: &[]string{},
					Payload: map[string]any{"promote": map[string]any{"run_url": "https://github.test/acme/app/actions/runs/9"}},
				})
				if err != nil {
					t.Fatal(err)
				}
				if tt.status != "" {
					if _, _, err := c.GH.Repositories.CreateDeploymentStatus(ctx, c.Owner, c.Repo, dead.GetID(), &gh.DeploymentStatusRequest{State: gh.String(tt.status)}); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(tt.age)

				p := manifestPlan(t, workflowManifest, w.srv.SHA("main"))
				ex := w.executor()
				start := time.Now()
				var waited []string
				err = ex.Deploy(ctx, &p.Nodes[0], 1, func(u run.Update) {
					if u.Phase == run.PhaseLocked {
						waited = append(waited, u.Message)
					}
				})
				if err != nil {
					t.Fatalf("Deploy after the holder died: %v, want it to go ahead once the ticket is stale", err)
				}
				if len(waited) == 0 || !strings.Contains(waited[0], fmt.Sprintf("deployment #%d", dead.GetID())) {
					t.Errorf("lock updates %q, want a wait for the dead holder #%d while its ticket was fresh", waited, dead.GetID())
				}
				runs := w.srv.Runs()
				if len(runs) != 1 {
					t.Fatalf("%d runs, want the one of the new promotion", len(runs))
				}
				// The ticket goes stale lease-age after the start; the lock
				// sees it at its next poll, at most Poll.Max (20s) later.
				if got, lo := runs[0].CreatedAt.Sub(start), tt.lease-tt.age; got < lo || got > lo+20*time.Second {
					t.Errorf("dispatched %v after the start, want between %v and %v", got, lo, lo+20*time.Second)
				}
			})
		})
	}
}

// TestGitHubErrorClasses checks how Deploy's failures reach the scheduler:
// GitHub's own trouble (5xx, 429) that outlasts the client's retries is
// transient, so the node is tried again; a token refused a write (403) is
// fatal, since every node would fail the same way. The faults hit only the
// lock's listing of Deployments: a failed write is looked up before it is
// retried, and that path marks its failures transient itself.
//
// Mutant this kills (make mutants): classify without `code >= 500`.
func TestGitHubErrorClasses(t *testing.T) {
	t.Parallel()
	const listing = "GET /repos/{owner}/{repo}/deployments"
	for _, tt := range []struct {
		what      string
		fault     githubtest.FaultKind
		readOnly  bool
		transient bool
		fatal     bool
		deadline  time.Duration // the node's timeout, if any
	}{
		{what: "503", fault: githubtest.FaultServiceUnavailable, transient: true},
		{what: "500", fault: githubtest.FaultInternalServerError, transient: true},
		// A rate limit is waited out, however long it lasts: the node
		// fails on its own timeout, never as every node would.
		{what: "429", fault: githubtest.FaultTooManyRequests, deadline: time.Hour},
		{what: "403", readOnly: true, fatal: true},
	} {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var opts githubtest.Options
				if tt.readOnly {
					opts.ReadOnlyTokens = []string{"test-token"}
				} else {
					probe := githubtest.New(githubtest.Options{InMemory: true})
					others := slices.DeleteFunc(probe.Routes(), func(r string) bool { return r == listing })
					probe.Close()
					opts.Faults = githubtest.Faults{Rate: 1, Kinds: []githubtest.FaultKind{tt.fault}, SkipRoutes: others}
				}
				w := newWorld(t, opts)
				p := manifestPlan(t, workflowManifest, w.srv.SHA("main"))
				ctx := context.Background()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				err := w.executor().Deploy(ctx, &p.Nodes[0], 1, func(run.Update) {})
				var fatal *run.FatalError
				if err == nil || run.IsTransient(err) != tt.transient || errors.As(err, &fatal) != tt.fatal {
					t.Errorf("Deploy() = %v (transient %v, fatal %v), want transient %v, fatal %v", err, run.IsTransient(err), errors.As(err, &fatal), tt.transient, tt.fatal)
				}
				if n := w.srv.Calls()[listing].Faulted; !tt.readOnly && n == 0 {
					t.Errorf("no fault was injected on %s", listing)
				}
			})
		})
	}
}

func TestContainsWord(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s, mark string
		want    bool
	}{
		{"deploy a #12", "#12", true},
		{"deploy a #123", "#12", false},
		{"#123 then #12 x", "#12", true},
		{"nothing", "#12", false},
	} {
		if got := containsWord(tt.s, tt.mark); got != tt.want {
			t.Errorf("containsWord(%q, %q) = %v, want %v", tt.s, tt.mark, got, tt.want)
		}
	}
}
