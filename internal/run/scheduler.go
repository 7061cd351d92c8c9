package run

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promote-dev/promote/internal/plan"
)

// node is the scheduler's view of one plan node.
type node struct {
	plan      *plan.Node
	index     int
	needs     []int
	succs     []int
	promotion []bool // promotion[i]: the edge to succs[i] is a promotion step
	remaining int    // needs not yet succeeded
	readyAt   time.Time
	status    NodeStatus
	cancel    context.CancelFunc
	cancelled bool      // the scheduler cancelled it (fail_fast, interrupt)
	waitFrom  time.Time // start of the current approval wait
}

var errTimeout = errors.New("node timeout")

// event is what a worker or a soak timer tells the scheduler loop.
type event struct {
	node    int
	kind    eventKind
	update  Update // with update
	err     error  // with done
	resumed string // with done: the node had already succeeded, and where
}

type eventKind int

const (
	evUpdate  eventKind = iota // an executor's report
	evAttempt                  // an attempt starts
	evDone                     // the node ended
	evReady                    // a soak ended
)

type scheduler struct {
	opts    Options
	plan    *plan.Plan
	exec    Executor
	nodes   []*node
	ready   readyHeap
	events  chan event
	running int
	window  int
	stopped string // why no new node starts, once set
	status  Status
}

// Run executes the plan with the executor and returns the final status. The
// error is non-nil only when the plan cannot be run at all; failed nodes are
// in the status. Cancelling ctx stops new starts and cancels running nodes,
// whose executors must leave their deployments in a terminal state.
func Run(ctx context.Context, p *plan.Plan, ex Executor, opts Options) (*Status, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	opts.fill(p)
	s := &scheduler{
		opts:   opts,
		plan:   p,
		exec:   ex,
		events: make(chan event, 64),
		window: opts.RolloutInitial,
	}
	s.build()
	return s.loop(ctx), nil
}

func (s *scheduler) build() {
	now := s.opts.Clock.Now()
	index := make(map[string]int, len(s.plan.Nodes))
	s.nodes = make([]*node, len(s.plan.Nodes))
	for i := range s.plan.Nodes {
		pn := &s.plan.Nodes[i]
		index[pn.ID] = i
		s.nodes[i] = &node{plan: pn, index: i, status: NodeStatus{ID: pn.ID, State: Pending}}
	}
	for i, n := range s.nodes {
		for _, need := range n.plan.Needs {
			j := index[need]
			n.needs = append(n.needs, j)
			u := s.nodes[j]
			u.succs = append(u.succs, i)
			u.promotion = append(u.promotion, u.plan.Service == n.plan.Service)
		}
		n.remaining = len(n.needs)
		n.readyAt = now
	}
	s.status = Status{
		Version:        StatusVersion,
		ManifestSHA256: s.plan.ManifestSHA256,
		Commit:         s.plan.Commit,
		StartedAt:      now,
		Result:         ResultRunning,
		MaxParallel:    s.opts.MaxParallel,
	}
}

func (s *scheduler) loop(ctx context.Context) *Status {
	nodeCtx, cancelAll := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAll()
	for _, n := range s.nodes {
		if n.remaining == 0 {
			s.makeReady(nodeCtx, n)
		}
	}
	s.changed()
	done := ctx.Done()
	for {
		s.start(nodeCtx)
		if s.running == 0 && s.ready.Len() == 0 && !s.waitingForTimers() {
			break
		}
		select {
		case <-done:
			done = nil
			s.stop("promotion interrupted", Cancelled)
			for _, n := range s.nodes {
				if n.status.State == Running {
					n.cancelled = true
					n.cancel()
				}
			}
			s.changed()
		case ev := <-s.events:
			s.handle(nodeCtx, ev)
		}
	}
	s.finish()
	return &s.status
}

// waitingForTimers reports whether a pending node only waits for its soak.
func (s *scheduler) waitingForTimers() bool {
	if s.stopped != "" {
		return false
	}
	for _, n := range s.nodes {
		if n.status.State == Pending && n.remaining == 0 && n.status.ReadyAt != nil {
			return true
		}
	}
	return false
}

// makeReady queues a node whose needs all succeeded, now or when its soak ends.
func (s *scheduler) makeReady(ctx context.Context, n *node) {
	if s.stopped != "" {
		return
	}
	now := s.opts.Clock.Now()
	ready := n.readyAt
	n.status.ReadyAt = &ready
	if wait := n.readyAt.Sub(now); wait > 0 {
		n.status.Message = fmt.Sprintf("soaking until %s", n.readyAt.Format(time.RFC3339))
		go func() {
			if s.opts.Clock.Sleep(ctx, wait) == nil {
				s.events <- event{node: n.index, kind: evReady}
			}
		}()
		return
	}
	heap.Push(&s.ready, n)
}

// start launches ready nodes while the rollout window has room.
func (s *scheduler) start(ctx context.Context) {
	for s.stopped == "" && s.running < s.window && s.ready.Len() > 0 {
		n := heap.Pop(&s.ready).(*node)
		now := s.opts.Clock.Now()
		n.status.State = Running
		n.status.Phase = PhaseStarting
		n.status.Message = ""
		n.status.StartedAt = &now
		if n.status.ReadyAt != nil {
			n.status.QueueWaitSeconds = now.Sub(*n.status.ReadyAt).Seconds()
		}
		// The timeout runs on the scheduler's clock, so that scaled-time runs
		// time out in scaled time too.
		nctx, cancel := context.WithCancelCause(ctx)
		n.cancel = func() { cancel(context.Canceled) }
		go func() {
			if s.opts.Clock.Sleep(nctx, s.opts.Timeout) == nil {
				cancel(errTimeout)
			}
		}()
		s.running++
		go s.work(nctx, n)
		s.changed()
	}
}

// work deploys one node with retries and reports the outcome as an event.
func (s *scheduler) work(ctx context.Context, n *node) {
	report := func(u Update) { s.events <- event{node: n.index, kind: evUpdate, update: u} }
	finish := func(err error, resumed string) {
		s.events <- event{node: n.index, kind: evDone, err: err, resumed: resumed}
	}
	if r, ok := s.exec.(Resumer); ok {
		if !s.opts.Force {
			done, detail, err := r.Succeeded(ctx, n.plan)
			if err == nil && done {
				finish(nil, detail)
				return
			}
			if err != nil && !errors.Is(err, ErrNoRecord) {
				report(Update{Message: fmt.Sprintf("could not check for an earlier success, deploying: %v", err)})
			}
		}
		if req := n.plan.Requires; req != nil {
			prev := &plan.Node{ID: req.ID, Service: n.plan.Service, Environment: req.Environment, GitHubEnvironment: req.GitHubEnvironment}
			ok, _, err := r.Succeeded(ctx, prev)
			switch {
			case errors.Is(err, ErrNoRecord):
				report(Update{Message: fmt.Sprintf("cannot verify that %s succeeded earlier: %v", req.ID, err)})
				ok = true
			case err != nil:
				finish(fmt.Errorf("check that %s succeeded for commit %s: %w", req.ID, s.plan.Commit, err), "")
				return
			}
			if !ok {
				finish(fmt.Errorf("%s has not succeeded for commit %s; promote it first, or plan without --from", req.ID, s.plan.Commit), "")
				return
			}
		}
	}
	for attempt := 1; ; attempt++ {
		s.events <- event{node: n.index, kind: evAttempt}
		err := s.exec.Deploy(ctx, n.plan, attempt, report)
		if err == nil || !IsTransient(err) || attempt > s.opts.Retries || ctx.Err() != nil {
			if err != nil && errors.Is(context.Cause(ctx), errTimeout) {
				err = fmt.Errorf("timed out after %s: %w", s.opts.Timeout, err)
			}
			finish(err, "")
			return
		}
		wait := s.opts.Backoff(attempt)
		report(Update{Message: fmt.Sprintf("attempt %d failed (%v); retrying in %s", attempt, err, wait)})
		if serr := s.opts.Clock.Sleep(ctx, wait); serr != nil {
			finish(fmt.Errorf("stopped while waiting to retry after %v: %w", err, serr), "")
			return
		}
	}
}

func (s *scheduler) handle(ctx context.Context, ev event) {
	n := s.nodes[ev.node]
	switch ev.kind {
	case evReady:
		if n.status.State == Pending && s.stopped == "" {
			n.status.Message = ""
			heap.Push(&s.ready, n)
		}
		return
	case evAttempt:
		n.status.Attempts++
		n.status.Phase = PhaseStarting
	case evUpdate:
		s.apply(n, ev.update)
	case evDone:
		s.running--
		n.cancel()
		s.endApprovalWait(n)
		now := s.opts.Clock.Now()
		n.status.FinishedAt = &now
		if n.status.StartedAt != nil {
			n.status.DeploySeconds = now.Sub(*n.status.StartedAt).Seconds() - n.status.ApprovalWaitSeconds
		}
		n.status.Phase = ""
		switch {
		case ev.err == nil:
			s.succeed(ctx, n, now, ev.resumed)
		case n.cancelled:
			n.status.State = Cancelled
			n.status.Message = fmt.Sprintf("%s: %v", s.stopped, ev.err)
		default:
			s.fail(n, ev.err)
		}
	}
	s.changed()
}

func (s *scheduler) apply(n *node, u Update) {
	if u.Phase != "" {
		if u.Phase == PhaseWaiting && n.status.Phase != PhaseWaiting {
			n.waitFrom = s.opts.Clock.Now()
		} else if u.Phase != PhaseWaiting {
			s.endApprovalWait(n)
		}
		n.status.Phase = u.Phase
	}
	if u.Message != "" {
		n.status.Message = u.Message
	}
	if u.DeploymentID != 0 {
		n.status.DeploymentID = u.DeploymentID
	}
	if u.DeploymentURL != "" {
		n.status.DeploymentURL = u.DeploymentURL
	}
	if u.RunURL != "" {
		n.status.RunURL = u.RunURL
	}
	if len(u.Approvals) > 0 {
		n.status.Approvals = u.Approvals
	}
	n.status.APICalls += u.Calls
}

func (s *scheduler) endApprovalWait(n *node) {
	if !n.waitFrom.IsZero() {
		n.status.ApprovalWaitSeconds += s.opts.Clock.Now().Sub(n.waitFrom).Seconds()
		n.waitFrom = time.Time{}
	}
}

func (s *scheduler) succeed(ctx context.Context, n *node, now time.Time, resumed string) {
	n.status.State = Succeeded
	n.status.Message = ""
	if resumed != "" {
		n.status.Resumed = true
		n.status.Message = resumed
	} else {
		s.window = min(s.window+s.opts.RolloutStep, s.opts.MaxParallel)
	}
	for i, j := range n.succs {
		m := s.nodes[j]
		m.remaining--
		t := now
		if n.promotion[i] {
			t = now.Add(time.Duration(m.plan.SoakSeconds) * time.Second)
		}
		if t.After(m.readyAt) {
			m.readyAt = t
		}
		if m.remaining == 0 && m.status.State == Pending {
			s.makeReady(ctx, m)
		}
	}
}

func (s *scheduler) fail(n *node, err error) {
	n.status.State = Failed
	n.status.Message = err.Error()
	s.window = s.opts.RolloutInitial
	var fatal *FatalError
	if errors.As(err, &fatal) && s.status.Fatal == "" {
		s.status.Fatal = fmt.Sprintf("%s: %v", n.plan.ID, err)
		s.stop(fmt.Sprintf("not started: %s failed in a way every node would", n.plan.ID), Skipped)
		return
	}
	if s.opts.FailFast {
		s.stop(fmt.Sprintf("cancelled by fail_fast: %s failed", n.plan.ID), Skipped)
		for _, m := range s.nodes {
			if m.status.State == Running {
				m.cancelled = true
				m.cancel()
			}
		}
		return
	}
	// Skip exactly the nodes that depend on the failed one, directly or not.
	queue := []int{n.index}
	for len(queue) > 0 {
		u := s.nodes[queue[0]]
		queue = queue[1:]
		for _, j := range u.succs {
			m := s.nodes[j]
			if m.status.State != Pending {
				continue
			}
			m.status.State = Skipped
			m.status.Message = fmt.Sprintf("needs %s, which failed", n.plan.ID)
			if u != n {
				m.status.Message = fmt.Sprintf("needs %s, which was skipped because %s failed", u.plan.ID, n.plan.ID)
			}
			s.ready.remove(m)
			queue = append(queue, j)
		}
	}
}

// stop ends new starts; every node not started yet ends in state with why.
func (s *scheduler) stop(why string, state State) {
	if s.stopped != "" {
		return
	}
	s.stopped = why
	for _, n := range s.nodes {
		if n.status.State == Pending {
			n.status.State = state
			n.status.Message = why
		}
	}
	s.ready = s.ready[:0]
}

func (s *scheduler) finish() {
	now := s.opts.Clock.Now()
	s.status.FinishedAt = &now
	s.status.Result = ResultSuccess
	for _, n := range s.nodes {
		switch n.status.State {
		case Failed:
			s.status.Result = ResultFailure
		case Cancelled, Skipped, Pending:
			if s.status.Result == ResultSuccess {
				s.status.Result = ResultFailure
				if s.stopped != "" && !s.opts.FailFast {
					s.status.Result = ResultCancelled
				}
			}
		}
	}
	s.changed()
}

func (s *scheduler) changed() {
	s.status.UpdatedAt = s.opts.Clock.Now()
	s.status.Window = s.window
	s.status.Nodes = s.status.Nodes[:0]
	for _, n := range s.nodes {
		s.status.Nodes = append(s.status.Nodes, n.status)
	}
	if s.opts.OnChange != nil {
		s.opts.OnChange(&s.status)
	}
}

// readyHeap orders ready nodes critical path first: the largest remaining
// expected time, then plan order.
type readyHeap []*node

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	a, b := h[i].plan, h[j].plan
	if a.PrioritySeconds != b.PrioritySeconds {
		return a.PrioritySeconds > b.PrioritySeconds
	}
	return h[i].index < h[j].index
}
func (h readyHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)   { *h = append(*h, x.(*node)) }
func (h *readyHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

func (h *readyHeap) remove(n *node) {
	for i, m := range *h {
		if m == n {
			heap.Remove(h, i)
			return
		}
	}
}
