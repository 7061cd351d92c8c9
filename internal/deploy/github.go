package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gh "github.com/google/go-github/v60/github"
	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// GitHub deploys a node through GitHub: it records a Deployment of the commit
// in the node's GitHub environment (task "deploy:<service>"), takes the
// service@environment lock, dispatches the service's deploy workflow with
// inputs service, environment (the GitHub environment), ref (the commit) and
// deployment_id, follows the run (reporting approval waits) and keeps the
// Deployment's status true: none while it starts (GitHub shows it pending),
// queued only while it waits for the lock, in_progress with the run's link
// once dispatched, then success, failure or error. Four writes a node, where
// GitHub allows 80 a minute and 500 an hour. Promote's Deployment is the one
// record of the node: the deploy job names its environment with
// `deployment: false`, so that GitHub still applies required reviewers and
// wait timers but creates no second record.
//
// Dispatch: the in_progress status naming the run is the run's go-ahead,
// which the deploy workflow's first step waits for. A dispatch whose answer
// was lost is looked for briefly (RunLookup); if its run does not show up,
// the Deployment is set to error and the node dispatches again with a new
// one, and a late run of the abandoned one stops at its first step (Promote
// also cancels it when it sees it). So a lost answer costs seconds, and no
// node ever gets two runs that deploy.
//
// Lock: a node's Deployment is its ticket. After creating it, the node waits
// while an active Deployment (queued, in_progress or pending, or without a
// status yet) with a lower id exists for the same environment and service;
// ids grow monotonically, so of two runs that start at once exactly one goes
// first. A ticket whose status has not changed for LockLease is stale (its
// run died) and ignored.
type GitHub struct {
	Client      *github.Client
	Commit      string // the commit promoted, the Deployments' ref
	DispatchRef string // the branch or tag workflows are dispatched on, unless a service sets deploy.ref
	RunURL      string // this promote run, recorded in each Deployment's payload
	ServerURL   string // https://github.com, for links
	LockTimeout time.Duration
	LockLease   time.Duration
	// StartGrace is how long a Deployment without any status yet still
	// holds the lock: its promotion is starting, unless its process died.
	StartGrace time.Duration
	// RunLookup is how long a node looks for the run of a dispatch whose
	// answer was lost before it abandons that Deployment and dispatches
	// with a new one. Runs show up in listings within seconds.
	RunLookup time.Duration
	Clock     clock.Clock
	Poll      github.Backoff
	// Verify, when set, runs after the deploy run succeeded and before the
	// Deployment is marked success: the node's post-deploy checks. While
	// it runs the Deployment stays in_progress; its error marks the
	// Deployment failure and fails the node.
	Verify func(ctx context.Context, n *plan.Node, report func(run.Update)) error
	// Rollback, when set, makes every Deployment a rollback to Commit: it
	// is the Deployments' description (why), and a successful earlier
	// Deployment of Commit does not make this one unneeded.
	Rollback string

	initOnce sync.Once
	// resumeMu guards resumed, which is closed once earlier is loaded. Not
	// a sync.Once: nodes wait for the load, which may retry for minutes,
	// and a goroutine waiting on a channel is durably blocked in a
	// testing/synctest bubble (the tests' clock), one waiting on a mutex is
	// not, so the bubble's clock would stop.
	resumeMu  sync.Mutex
	resumed   chan struct{}
	resumeErr error
	earlier   map[string][]*gh.Deployment // environment + "\x00" + task → deployments of Commit, newest first
}

// ErrNoWorkflow is a deploy workflow the repository does not have.
var ErrNoWorkflow = errors.New("no such workflow")

// Defaults for the zero fields of GitHub.
const (
	DefaultLockTimeout = 10 * time.Minute
	DefaultLockLease   = 6 * time.Hour
	DefaultStartGrace  = 10 * time.Minute
	DefaultRunLookup   = 10 * time.Second
)

// init fills the zero fields with defaults, once: nodes deploy concurrently.
func (g *GitHub) init() { g.initOnce.Do(g.defaults) }

func (g *GitHub) defaults() {
	if g.Clock == nil {
		g.Clock = clock.Real{}
	}
	if g.LockTimeout <= 0 {
		g.LockTimeout = DefaultLockTimeout
	}
	if g.LockLease <= 0 {
		g.LockLease = DefaultLockLease
	}
	if g.StartGrace <= 0 {
		g.StartGrace = DefaultStartGrace
	}
	if g.RunLookup <= 0 {
		g.RunLookup = DefaultRunLookup
	}
	if g.Poll.Min <= 0 {
		g.Poll = github.Backoff{Min: 2 * time.Second, Max: 10 * time.Second, Factor: 1.5}
	}
	if g.ServerURL == "" {
		g.ServerURL = "https://github.com"
	}
}

func task(service string) string { return "deploy:" + service }

// activeStates are the Deployment states of a promotion that has not ended.
var activeStates = map[string]bool{"queued": true, "in_progress": true, "pending": true}

// Deploy promotes one node; see GitHub.
func (g *GitHub) Deploy(ctx context.Context, n *plan.Node, attempt int, report func(run.Update)) error {
	g.init()
	var calls atomic.Int64
	ctx = github.WithCallCounter(ctx, &calls)
	send := func(u run.Update) {
		u.Calls = int(calls.Swap(0))
		report(u)
	}
	defer func() { send(run.Update{}) }()
	sw := &sweeper{g: g, n: n}
	for lost := 0; ; lost++ {
		st, runID, err := g.start(ctx, n, attempt, lost, send)
		var gone *lostDispatch
		if errors.As(err, &gone) {
			sw.abandoned(gone.id)
			if lost+1 < maxLostDispatches {
				send(run.Update{Message: gone.Error() + "; dispatching again with a new deployment"})
				continue
			}
			return run.Transient(err)
		}
		if err != nil || st == nil {
			return err
		}
		runLink := fmt.Sprintf("%s/%s/%s/actions/runs/%d", g.ServerURL, g.Client.Owner, g.Client.Repo, runID)
		send(run.Update{Phase: run.PhaseQueued, RunURL: runLink})
		return g.follow(ctx, n, st, runID, runLink, sw, send)
	}
}

// maxLostDispatches is how many Deployments one attempt of a node may
// abandon for lost dispatch answers before the attempt fails.
const maxLostDispatches = 3

// lostDispatch is a dispatch whose answer was lost and whose run did not
// show up within RunLookup: its Deployment is abandoned.
type lostDispatch struct {
	id   int64
	wait time.Duration
	err  error
}

func (e *lostDispatch) Error() string {
	return fmt.Sprintf("the answer to the dispatch of deployment #%d was lost (%v) and no run of it appeared within %s; abandoned it: a late run of it stops at its first step", e.id, e.err, e.wait)
}

// start records the node's Deployment, takes the lock, dispatches the deploy
// workflow and gives its run the go-ahead. It returns the Deployment's
// tracker and the run; no tracker when there is nothing left to deploy; or
// a *lostDispatch when it abandoned the Deployment, already marked error.
func (g *GitHub) start(ctx context.Context, n *plan.Node, attempt, lost int, send func(run.Update)) (*tracker, int64, error) {
	d, err := g.createDeployment(ctx, n, attempt, lost)
	if err != nil {
		return nil, 0, err
	}
	id := d.GetID()
	envLink := fmt.Sprintf("%s/%s/%s/deployments/%s", g.ServerURL, g.Client.Owner, g.Client.Repo, url.PathEscape(n.GitHubEnvironment))
	send(run.Update{DeploymentID: id, DeploymentURL: envLink})

	// From here on the Deployment exists: every way out leaves it in a
	// terminal status.
	st := &tracker{g: g, id: id}
	fail := func(state string, err error) error {
		_ = st.set(context.WithoutCancel(ctx), state, truncate(err.Error()), "")
		return err
	}
	// A new Deployment shows as pending without a status of its own; it
	// gets queued only when it has to wait for another promotion.
	waiting := func(who string) {
		st.setAsync(ctx, "queued", "waiting for "+who, "", func(err error) {
			send(run.Update{Message: "could not set the queued status: " + err.Error()})
		})
	}
	if err := g.lock(ctx, n, id, waiting, send); err != nil {
		var done *alreadyDone
		if errors.As(err, &done) {
			// Truthful and terminal: this Deployment never ran.
			_ = st.set(ctx, "inactive", fmt.Sprintf("not needed: deployment #%d deployed %s", done.id, short(g.Commit)), "")
			send(run.Update{Message: err.Error()})
			return nil, 0, nil
		}
		if ctx.Err() != nil {
			return nil, 0, fail("error", fmt.Errorf("cancelled while waiting for the lock: %w", context.Cause(ctx)))
		}
		return nil, 0, fail("error", err)
	}

	ref := n.Deploy.Ref
	if ref == "" {
		ref = g.DispatchRef
	}
	// environment is the GitHub environment: the one the deploy job names,
	// so that its protection rules gate the job.
	inputs := map[string]any{"service": n.Service, "environment": n.GitHubEnvironment, "ref": g.Commit, "deployment_id": strconv.FormatInt(id, 10)}
	for k, v := range n.Deploy.Inputs {
		inputs[k] = v
	}
	// The dispatch and the go-ahead go out together, so that the run never
	// waits for its go-ahead behind GitHub's write limits.
	wctx, release, err := g.Client.ReserveWrites(ctx, 2)
	if err != nil {
		return nil, 0, fail("error", fmt.Errorf("cancelled before the workflow started: %w", context.Cause(ctx)))
	}
	defer release()
	runID, err := g.dispatch(wctx, n, ref, inputs, id, g.Clock.Now())
	var gone *lostDispatch
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, 0, fail("error", fmt.Errorf("cancelled before the workflow started: %w", context.Cause(ctx)))
	case errors.As(err, &gone):
		_ = st.set(context.WithoutCancel(ctx), "error", fmt.Sprintf("abandoned: the dispatch's answer was lost and no run of it appeared within %s; a late run stops itself", g.RunLookup), "")
		return nil, 0, err
	default:
		return nil, 0, fail("error", err)
	}
	runLink := fmt.Sprintf("%s/%s/%s/actions/runs/%d", g.ServerURL, g.Client.Owner, g.Client.Repo, runID)
	// The status naming the run is its go-ahead: the deploy workflow's first
	// step waits for in_progress with this log_url, so that no other run of
	// this Deployment (one GitHub started for a dispatch whose answer was
	// lost) ever deploys. The run may still queue or wait for reviewers,
	// which its page shows.
	if err := st.set(wctx, "in_progress", fmt.Sprintf("%s dispatched for %s", n.Deploy.Workflow, n.ID), runLink); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = g.Client.GH.Actions.CancelWorkflowRunByID(cctx, g.Client.Owner, g.Client.Repo, runID)
		return nil, 0, fail("error", fmt.Errorf("could not give run %s its go-ahead, so cancelled it: %w", runLink, err))
	}
	return st, runID, nil
}

// tracker posts a Deployment's statuses in order, skipping repeats. The
// intermediate ones (queued, in_progress) go out in the background, so that
// the promotion does not wait for them; a final one waits for them first.
type tracker struct {
	g       *GitHub
	id      int64
	last    string        // written only by the post in flight
	mu      sync.Mutex    // guards pending
	pending chan struct{} // closed when the latest background post is done
}

// setAsync posts a status in the background, after the ones before it.
// onErr learns of a failure; it runs before the next set returns.
func (t *tracker) setAsync(ctx context.Context, state, description, logURL string, onErr func(error)) {
	t.mu.Lock()
	prev := t.pending
	done := make(chan struct{})
	t.pending = done
	t.mu.Unlock()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		if err := t.post(ctx, state, description, logURL); err != nil {
			onErr(err)
		}
	}()
}

// set posts a status once the background ones are done.
func (t *tracker) set(ctx context.Context, state, description, logURL string) error {
	t.mu.Lock()
	prev := t.pending
	t.mu.Unlock()
	if prev != nil {
		<-prev
	}
	return t.post(ctx, state, description, logURL)
}

func (t *tracker) post(ctx context.Context, state, description, logURL string) error {
	if state == t.last && (state == "queued" || state == "in_progress") {
		return nil
	}
	// auto_inactive would mark the other services' Deployments in a shared
	// environment inactive: GitHub applies it per environment, not per task.
	req := &gh.DeploymentStatusRequest{State: gh.String(state), Description: gh.String(truncate(description)), AutoInactive: gh.Bool(false)}
	if logURL != "" {
		req.LogURL = gh.String(logURL)
	}
	c := t.g.Client
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
	}
	// A status may be posted twice without harm, so a lost answer or
	// GitHub's trouble is retried: the record must end true.
	var err error
	for try := range 5 {
		_, _, err = c.GH.Repositories.CreateDeploymentStatus(ctx, c.Owner, c.Repo, t.id, req)
		if err == nil {
			t.last = state
			return nil
		}
		if !run.IsTransient(t.g.classify(err)) || t.g.Clock.Sleep(ctx, time.Duration(try+1)*5*time.Second) != nil {
			break
		}
	}
	return fmt.Errorf("set deployment #%d to %s: %w", t.id, state, err)
}

// truncate keeps a description within GitHub's 140 characters.
func truncate(s string) string {
	if r := []rune(s); len(r) > 140 {
		return string(r[:139]) + "…"
	}
	return s
}

// createDeployment records the node's Deployment. A write whose answer was
// lost is looked up by its nonce before it is sent again.
func (g *GitHub) createDeployment(ctx context.Context, n *plan.Node, attempt, lost int) (*gh.Deployment, error) {
	c := g.Client
	nonce := fmt.Sprintf("%s/%d.%d/%d", n.ID, attempt, lost, g.Clock.Now().UnixNano())
	req := &gh.DeploymentRequest{
		Ref:                   gh.String(g.Commit),
		Task:                  gh.String(task(n.Service)),
		AutoMerge:             gh.Bool(false),
		RequiredContexts:      &[]string{},
		Environment:           gh.String(n.GitHubEnvironment),
		Description:           gh.String(truncate(cmp.Or(g.Rollback, "promote "+n.ID))),
		ProductionEnvironment: gh.Bool(n.Protected),
		TransientEnvironment:  gh.Bool(false),
		Payload: map[string]any{"promote": map[string]any{
			"node": n.ID, "service": n.Service, "environment": n.Environment,
			"run_url": g.RunURL, "attempt": attempt, "nonce": nonce, "rollback": g.Rollback != "",
		}},
	}
	for try := 0; ; try++ {
		d, _, err := c.GH.Repositories.CreateDeployment(ctx, c.Owner, c.Repo, req)
		if err == nil {
			return d, nil
		}
		var amb *github.AmbiguousError
		if !errors.As(err, &amb) || try == 2 {
			return nil, g.classify(fmt.Errorf("create the deployment of %s: %w", n.ID, err))
		}
		// The answer was lost: GitHub may have created it. Only a definite
		// "not there" allows creating it again, or a Deployment without a
		// status would be left behind.
		d, err = g.findByNonce(ctx, n, nonce)
		if err != nil {
			return nil, run.Transient(fmt.Errorf("create the deployment of %s: the answer was lost and looking for it failed: %w", n.ID, err))
		}
		if d != nil {
			return d, nil
		}
	}
}

func (g *GitHub) findByNonce(ctx context.Context, n *plan.Node, nonce string) (*gh.Deployment, error) {
	c := g.Client
	var err error
	for try := range 5 {
		var ds []*gh.Deployment
		ds, _, err = c.GH.Repositories.ListDeployments(ctx, c.Owner, c.Repo, &gh.DeploymentsListOptions{
			SHA: g.Commit, Task: task(n.Service), Environment: n.GitHubEnvironment, ListOptions: gh.ListOptions{PerPage: 30}})
		if err == nil {
			for _, d := range ds {
				if payloadField(d, "nonce") == nonce {
					return d, nil
				}
			}
			return nil, nil
		}
		if g.Clock.Sleep(ctx, time.Duration(try+1)*5*time.Second) != nil {
			break
		}
	}
	return nil, err
}

func payloadField(d *gh.Deployment, key string) string {
	var p struct {
		Promote map[string]any `json:"promote"`
	}
	if len(d.Payload) == 0 || json.Unmarshal(d.Payload, &p) != nil {
		return ""
	}
	s, _ := p.Promote[key].(string)
	return s
}

// latestState returns a Deployment's newest status, "" when it has none.
func (g *GitHub) latestState(ctx context.Context, id int64) (*gh.DeploymentStatus, error) {
	c := g.Client
	ss, _, err := c.GH.Repositories.ListDeploymentStatuses(ctx, c.Owner, c.Repo, id, &gh.ListOptions{PerPage: 1})
	if err != nil || len(ss) == 0 {
		return nil, err
	}
	return ss[0], nil
}

// alreadyDone is lock's answer when another promotion deployed the same
// commit: this one has nothing left to do.
type alreadyDone struct{ id int64 }

func (e *alreadyDone) Error() string {
	return fmt.Sprintf("deployment #%d already deployed this commit", e.id)
}

// lock waits until no earlier active Deployment of the same service and
// environment remains, or fails after LockTimeout naming the holder. When
// another Deployment of the same commit has succeeded meanwhile, it returns
// an *alreadyDone. It calls waiting once, naming the holder, when it has
// to wait.
func (g *GitHub) lock(ctx context.Context, n *plan.Node, id int64, waiting func(who string), send func(run.Update)) error {
	c := g.Client
	deadline := g.Clock.Now().Add(g.LockTimeout)
	poll := g.Poll
	for first := true; ; first = false {
		ds, _, err := c.GH.Repositories.ListDeployments(ctx, c.Owner, c.Repo, &gh.DeploymentsListOptions{
			Task: task(n.Service), Environment: n.GitHubEnvironment, ListOptions: gh.ListOptions{PerPage: 100}})
		if err != nil {
			return g.classify(fmt.Errorf("list deployments to lock %s: %w", n.ID, err))
		}
		holder, err := g.holder(ctx, ds, id)
		if err != nil {
			return g.classify(err)
		}
		if holder == nil {
			// Another run may have deployed this commit since this run
			// started (its resume check is older): then there is nothing
			// left to do. A rollback returns to a commit that was
			// deployed before, on purpose.
			for _, d := range ds {
				if g.Rollback != "" {
					break
				}
				if d.GetID() == id || d.GetSHA() != g.Commit {
					continue
				}
				if s, err := g.latestState(ctx, d.GetID()); err == nil && s != nil && s.GetState() == "success" {
					return &alreadyDone{id: d.GetID()}
				}
			}
			return nil
		}
		who := fmt.Sprintf("deployment #%d", holder.GetID())
		if u := payloadField(holder, "run_url"); u != "" {
			who += " by " + u
		}
		if !g.Clock.Now().Before(deadline) {
			return fmt.Errorf("%s is being promoted by %s; gave up after waiting %s (raise --lock-timeout, or cancel that run)", n.ID, who, g.LockTimeout)
		}
		if first {
			waiting(who)
		}
		send(run.Update{Phase: run.PhaseLocked, Message: "waiting for " + who})
		if err := g.Clock.Sleep(ctx, poll.Next(false)); err != nil {
			return err
		}
	}
}

// holder returns the earliest active Deployment older than ours, if any.
func (g *GitHub) holder(ctx context.Context, ds []*gh.Deployment, ours int64) (*gh.Deployment, error) {
	now := g.Clock.Now()
	var holder *gh.Deployment
	for _, d := range ds { // newest first
		if d.GetID() >= ours {
			continue
		}
		created := d.GetCreatedAt().Time
		if now.Sub(created) > g.LockLease {
			break // older ones are older still
		}
		s, err := g.latestState(ctx, d.GetID())
		if err != nil {
			return nil, fmt.Errorf("read the status of deployment #%d: %w", d.GetID(), err)
		}
		switch {
		case s == nil:
			// Created, no status yet: its promotion is starting, unless it
			// died right there.
			if now.Sub(created) < g.StartGrace {
				holder = d
			}
		case activeStates[s.GetState()] && now.Sub(s.GetUpdatedAt().Time) < g.LockLease:
			holder = d
		}
	}
	return holder, nil
}

// dispatch starts the deploy workflow and returns its run. Dispatching is
// not idempotent: when its answer is lost, the run is looked for (by the
// deployment id in the run's name) for RunLookup; if it does not show up,
// dispatch returns a *lostDispatch and the Deployment is abandoned rather
// than dispatched twice, so a node never gets two runs that deploy.
func (g *GitHub) dispatch(ctx context.Context, n *plan.Node, ref string, inputs map[string]any, id int64, at time.Time) (int64, error) {
	d, err := g.Client.Dispatch(ctx, n.Deploy.Workflow, ref, inputs)
	var amb *github.AmbiguousError
	switch {
	case err == nil && d.RunID != 0:
		return d.RunID, nil
	case err == nil:
		// An older GitHub answers without the run, which exists: find it.
		return g.findRun(ctx, n, id, at, runListingWait)
	case errors.As(err, &amb):
		runID, ferr := g.findRun(ctx, n, id, at, g.RunLookup)
		if ferr == nil || ctx.Err() != nil {
			return runID, ferr
		}
		return 0, &lostDispatch{id: id, wait: g.RunLookup, err: err}
	default:
		return 0, g.classify(fmt.Errorf("dispatch %s on %s: %w", n.Deploy.Workflow, ref, err))
	}
}

// runListingWait is how long a run GitHub started may take to show up in
// listings: "a moment" on GitHub, so this is generous.
const runListingWait = 2 * time.Minute

// errNoRun is findRun's answer when no run names the deployment.
var errNoRun = errors.New("no run found")

// findRun looks for the run of a dispatch among recent workflow_dispatch
// runs, by "#<deployment id>" in its name: the deploy workflow's run-name
// must contain it (see the README). It keeps looking for up to wait, since
// runs appear in listings a moment after the dispatch.
func (g *GitHub) findRun(ctx context.Context, n *plan.Node, id int64, since time.Time, wait time.Duration) (int64, error) {
	mark := fmt.Sprintf("#%d", id)
	deadline := g.Clock.Now().Add(wait)
	for {
		runs, err := g.recentRuns(ctx, n, since)
		if err != nil {
			return 0, fmt.Errorf("find the run of %s: %w", n.Deploy.Workflow, err)
		}
		for _, r := range runs {
			if containsWord(r.GetDisplayTitle(), mark) {
				return r.GetID(), nil
			}
		}
		if !g.Clock.Now().Before(deadline) {
			return 0, fmt.Errorf("no run of %s names deployment %s; give the workflow `run-name: \"deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}\"` so Promote can find its run: %w", n.Deploy.Workflow, mark, errNoRun)
		}
		if err := g.Clock.Sleep(ctx, min(g.Poll.Min, deadline.Sub(g.Clock.Now()))); err != nil {
			return 0, err
		}
	}
}

// recentRuns lists the deploy workflow's workflow_dispatch runs created
// since a minute before since.
func (g *GitHub) recentRuns(ctx context.Context, n *plan.Node, since time.Time) ([]*gh.WorkflowRun, error) {
	c := g.Client
	runs, _, err := c.GH.Actions.ListWorkflowRunsByFileName(ctx, c.Owner, c.Repo, n.Deploy.Workflow, &gh.ListWorkflowRunsOptions{
		Event: "workflow_dispatch", Created: ">=" + since.Add(-time.Minute).UTC().Format(time.RFC3339), ListOptions: gh.ListOptions{PerPage: 100}})
	if err != nil {
		return nil, err
	}
	return runs.WorkflowRuns, nil
}

// sweeper cancels the late runs of a node's abandoned Deployments. Each
// stops at its first step anyway, since its Deployment is not live; but one
// that waits for reviewers would ask them to approve a run that deploys
// nothing.
type sweeper struct {
	g     *GitHub
	n     *plan.Node
	ids   []int64   // abandoned Deployments whose late run was not seen
	since time.Time // the first abandonment
}

// sweepFor is how long after abandoning a Deployment its late run is looked
// for.
const sweepFor = 10 * time.Minute

func (s *sweeper) abandoned(id int64) {
	if len(s.ids) == 0 {
		s.since = s.g.Clock.Now()
	}
	s.ids = append(s.ids, id)
}

// sweep looks once for late runs of the abandoned Deployments and cancels
// those not completed. It costs a request only while some are not seen and
// the last abandonment is recent.
func (s *sweeper) sweep(ctx context.Context, send func(run.Update)) {
	if len(s.ids) == 0 || s.g.Clock.Now().Sub(s.since) > sweepFor {
		return
	}
	runs, err := s.g.recentRuns(ctx, s.n, s.since)
	if err != nil {
		return // the next poll looks again
	}
	c := s.g.Client
	for _, r := range runs {
		for i, id := range s.ids {
			if !containsWord(r.GetDisplayTitle(), fmt.Sprintf("#%d", id)) {
				continue
			}
			s.ids = append(s.ids[:i], s.ids[i+1:]...)
			if r.GetStatus() != "completed" {
				_, err := c.GH.Actions.CancelWorkflowRunByID(ctx, c.Owner, c.Repo, r.GetID())
				if err != nil && github.StatusCode(err) != 409 {
					send(run.Update{Message: fmt.Sprintf("could not cancel run %d of abandoned deployment #%d (%v); it stops at its first step", r.GetID(), id, err)})
					break
				}
				send(run.Update{Message: fmt.Sprintf("cancelled run %d of abandoned deployment #%d", r.GetID(), id)})
			}
			break
		}
	}
}

// containsWord reports whether mark occurs in s not followed by a digit, so
// "#12" does not match "#123".
func containsWord(s, mark string) bool {
	for {
		i := strings.Index(s, mark)
		if i < 0 {
			return false
		}
		s = s[i+len(mark):]
		if s == "" || s[0] < '0' || s[0] > '9' {
			return true
		}
	}
}

// follow polls the run with conditional requests until it completes, moving
// the Deployment's status along. Cancelling ctx cancels the run.
func (g *GitHub) follow(ctx context.Context, n *plan.Node, st *tracker, runID int64, runLink string, sw *sweeper, send func(run.Update)) error {
	c := g.Client
	poll := g.Poll
	last := ""
	failures := 0
	approvalsRead := false
	// Every state of the run that a poll sees costs a request (unchanged
	// ones are free 304s). A run rarely ends within half its expected time,
	// so the first look waits that long: the queued state is usually over
	// by then and costs nothing.
	expected := time.Duration(n.ExpectedSeconds) * time.Second
	first := min(max(expected/2, poll.Min), 4*poll.Max)
	if err := g.Clock.Sleep(ctx, first); err != nil {
		return g.cancelRun(ctx, st, runID, runLink)
	}
	// Polls slow down while nothing changes, but look again right at the
	// expected end and quickly after it, when the run most likely ends.
	expectedEnd := g.Clock.Now().Add(expected - first)
	crossed := false
	next := func(changed bool) time.Duration {
		d := poll.Next(changed)
		now := g.Clock.Now()
		switch {
		case now.Before(expectedEnd):
			d = min(d, expectedEnd.Sub(now))
		case !crossed:
			crossed = true
			d = poll.Next(true)
		}
		return d
	}
	for {
		sw.sweep(ctx, send)
		r, _, err := c.GH.Actions.GetWorkflowRunByID(ctx, c.Owner, c.Repo, runID)
		switch {
		case ctx.Err() != nil:
			return g.cancelRun(ctx, st, runID, runLink)
		case err != nil:
			// The run goes on whatever happens to our polling: keep
			// following it through transient trouble.
			failures++
			if code := github.StatusCode(err); code == 401 || code == 403 || code == 404 || failures > 20 {
				return st.failWith(ctx, "error", fmt.Errorf("lost track of run %s: %w", runLink, err), runLink)
			}
			send(run.Update{Message: fmt.Sprintf("polling the run failed (%v); retrying", err)})
		default:
			failures = 0
			state, prev := r.GetStatus(), last
			changed := state != last
			last = state
			if changed {
				// Who approved is read once the run stops waiting, or at
				// its end in a protected environment, in case the polls
				// never saw it wait.
				if !approvalsRead && (prev == "waiting" || state == "completed" && n.Protected) {
					approvalsRead = true
					g.reportApprovals(ctx, n, runID, send)
				}
				if err := g.observe(ctx, n, st, r, runLink, send); err != nil {
					return err
				}
				if state == "completed" {
					return g.conclude(ctx, n, st, r, runLink, send)
				}
				if state == "in_progress" && prev == "waiting" {
					// After an approval wait the deploy itself starts now.
					expectedEnd, crossed = g.Clock.Now().Add(expected), false
				}
			}
			if err := g.Clock.Sleep(ctx, next(changed)); err != nil {
				return g.cancelRun(ctx, st, runID, runLink)
			}
			continue
		}
		if err := g.Clock.Sleep(ctx, next(false)); err != nil {
			return g.cancelRun(ctx, st, runID, runLink)
		}
	}
}

// reportApprovals reports who approved or rejected the run's deployment to
// the node's environment, for the evidence. It costs one request, only for
// nodes that waited; the deploy goes on without it if GitHub cannot answer.
func (g *GitHub) reportApprovals(ctx context.Context, n *plan.Node, runID int64, send func(run.Update)) {
	approvals, err := g.Client.Approvals(ctx, runID)
	if err != nil {
		send(run.Update{Message: fmt.Sprintf("could not read who approved the run (%v); the evidence names no approvers", err)})
		return
	}
	var out []run.Approval
	for _, a := range approvals {
		if a.State != "approved" && a.State != "rejected" {
			continue // a comment, not a decision
		}
		for _, e := range a.Environments {
			if e.Name == n.GitHubEnvironment {
				out = append(out, run.Approval{State: a.State, Reviewer: a.User.Login, Comment: a.Comment})
				break
			}
		}
	}
	if len(out) > 0 {
		send(run.Update{Approvals: out})
	}
}

// observe reports a new state of the run and mirrors it on the Deployment.
func (g *GitHub) observe(ctx context.Context, n *plan.Node, st *tracker, r *gh.WorkflowRun, runLink string, send func(run.Update)) error {
	switch r.GetStatus() {
	case "queued", "requested", "pending":
		send(run.Update{Phase: run.PhaseQueued})
	case "waiting":
		send(run.Update{Phase: run.PhaseWaiting, Message: fmt.Sprintf("waits for approval in %s: %s", n.GitHubEnvironment, runLink)})
	case "in_progress":
		send(run.Update{Phase: run.PhaseDeploying})
	}
	return nil
}

// conclude sets the Deployment's final status from the run's conclusion,
// and its verification's.
func (g *GitHub) conclude(ctx context.Context, n *plan.Node, st *tracker, r *gh.WorkflowRun, runLink string, send func(run.Update)) error {
	switch c := r.GetConclusion(); c {
	case "success":
		if g.Verify != nil {
			if err := g.Verify(ctx, n, send); err != nil {
				return st.failWith(ctx, "failure", err, runLink)
			}
		}
		// The deploy happened even if this record cannot be written; the
		// next run's resume check then sees no success and deploys again,
		// which is safe, so this is not a failed promotion.
		_ = st.set(ctx, "success", "deployed by "+runLink, runLink)
		return nil
	case "cancelled":
		return st.failWith(ctx, "error", fmt.Errorf("the deploy run was cancelled: %s", runLink), runLink)
	default:
		return st.failWith(ctx, "failure", fmt.Errorf("the deploy run concluded %s: %s", c, runLink), runLink)
	}
}

func (t *tracker) failWith(ctx context.Context, state string, err error, logURL string) error {
	_ = t.set(context.WithoutCancel(ctx), state, err.Error(), logURL)
	return err
}

// cancelRun stops the run of a cancelled node and records why.
func (g *GitHub) cancelRun(ctx context.Context, st *tracker, runID int64, runLink string) error {
	why := context.Cause(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	c := g.Client
	if _, err := c.GH.Actions.CancelWorkflowRunByID(cctx, c.Owner, c.Repo, runID); err != nil && github.StatusCode(err) != 409 {
		_ = st.set(cctx, "error", fmt.Sprintf("promote stopped (%v) but could not cancel the run", why), runLink)
		return fmt.Errorf("stopped (%v); cancelling %s failed: %w", why, runLink, err)
	}
	_ = st.set(cctx, "error", fmt.Sprintf("cancelled by promote: %v", why), runLink)
	return fmt.Errorf("cancelled the deploy run %s: %w", runLink, why)
}

// classify marks failures worth retrying (GitHub's own trouble, lost
// answers) and failures that doom every node (a token GitHub refuses or
// that lacks a permission). Other refusals fail the node alone.
func (g *GitHub) classify(err error) error {
	var amb *github.AmbiguousError
	code := github.StatusCode(err)
	switch {
	case errors.As(err, &amb) || github.IsRateLimit(err) || code >= 500 || code == 429 || (code == 0 && !errors.Is(err, context.Canceled)):
		// A rate limit is a reason to slow down, never one to stop the
		// run: the client waits it out, so it ends up here only when the
		// node's own time ran out.
		return run.Transient(err)
	case code == 401 || code == 403:
		return run.Fatal(err)
	}
	return err
}

// Succeeded reports whether the node's service already has a successful
// Deployment of this commit in the node's environment. It lists the
// commit's Deployments once per run and reads statuses only for nodes that
// have one.
func (g *GitHub) Succeeded(ctx context.Context, n *plan.Node) (bool, string, error) {
	g.init()
	g.resumeMu.Lock()
	if g.resumed == nil {
		g.resumed = make(chan struct{})
		g.resumeMu.Unlock()
		g.resumeErr = g.loadEarlier(ctx)
		close(g.resumed)
	} else {
		g.resumeMu.Unlock()
		<-g.resumed
	}
	if g.resumeErr != nil {
		return false, "", g.resumeErr
	}
	for i, d := range g.earlier[n.GitHubEnvironment+"\x00"+task(n.Service)] {
		if i == 3 {
			break // a success is among the newest, or the last attempts failed
		}
		s, err := g.latestState(ctx, d.GetID())
		if err != nil {
			return false, "", err
		}
		if s != nil && (s.GetState() == "success" || s.GetState() == "inactive" && hadSuccess(ctx, g, d.GetID())) {
			return true, fmt.Sprintf("deployment #%d succeeded for %s", d.GetID(), short(g.Commit)), nil
		}
	}
	return false, "", nil
}

// hadSuccess reports whether an inactive Deployment succeeded before GitHub
// made it inactive (auto_inactive does that when a newer one succeeds).
func hadSuccess(ctx context.Context, g *GitHub, id int64) bool {
	c := g.Client
	ss, _, err := c.GH.Repositories.ListDeploymentStatuses(ctx, c.Owner, c.Repo, id, &gh.ListOptions{PerPage: 10})
	if err != nil {
		return false
	}
	for _, s := range ss {
		if s.GetState() == "success" {
			return true
		}
	}
	return false
}

func (g *GitHub) loadEarlier(ctx context.Context) error {
	c := g.Client
	g.earlier = map[string][]*gh.Deployment{}
	opts := &gh.DeploymentsListOptions{SHA: g.Commit, ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		ds, resp, err := c.GH.Repositories.ListDeployments(ctx, c.Owner, c.Repo, opts)
		if err != nil {
			return fmt.Errorf("list the deployments of %s: %w", short(g.Commit), err)
		}
		for _, d := range ds {
			if strings.HasPrefix(d.GetTask(), "deploy:") {
				key := d.GetEnvironment() + "\x00" + d.GetTask()
				g.earlier[key] = append(g.earlier[key], d)
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// Preflight checks, before anything is deployed, that the repository is
// reachable with the token and that every deploy workflow exists, so that a
// typo fails the run at once with nothing left behind.
func (g *GitHub) Preflight(ctx context.Context, p *plan.Plan) error {
	g.init()
	c := g.Client
	have := map[string]bool{}
	opts := &gh.ListOptions{PerPage: 100}
	for {
		ws, resp, err := c.GH.Actions.ListWorkflows(ctx, c.Owner, c.Repo, opts)
		if err != nil {
			if github.StatusCode(err) == 404 {
				return fmt.Errorf("repository %s/%s does not exist or the token cannot see it; check GITHUB_REPOSITORY and the token's access: %w", c.Owner, c.Repo, err)
			}
			return fmt.Errorf("list the workflows of %s/%s: %w", c.Owner, c.Repo, err)
		}
		for _, w := range ws.Workflows {
			have[path.Base(w.GetPath())] = true
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	for _, n := range p.Nodes {
		if w := n.Deploy.Workflow; w != "" && !have[w] {
			return fmt.Errorf("deploy workflow %q of %s is not in %s/%s: add .github/workflows/%s or fix deploy.workflow in the manifest: %w", w, n.Service, c.Owner, c.Repo, w, ErrNoWorkflow)
		}
	}
	if g.DispatchRef == "" {
		for _, n := range p.Nodes {
			if n.Deploy.Workflow != "" && n.Deploy.Ref == "" {
				return fmt.Errorf("no branch or tag to dispatch %s on: pass --dispatch-ref, set deploy.ref, or run on a branch", n.Deploy.Workflow)
			}
		}
	}
	return nil
}
