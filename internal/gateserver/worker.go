package gateserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/promote-dev/promote/internal/github"
	bolt "go.etcd.io/bbolt"
)

// scheduler hands due jobs to the workers: a FIFO of due keys and a timer
// for each job due later. A key is never handed to two workers at once.
type scheduler struct {
	mu      sync.Mutex
	ready   []string
	queued  map[string]bool // in ready
	running map[string]bool // taken by a worker
	again   map[string]bool // rescheduled while running
	timers  map[string]*time.Timer
	wake    chan struct{}
	stopped bool
}

func newScheduler() *scheduler {
	return &scheduler{
		queued: map[string]bool{}, running: map[string]bool{}, again: map[string]bool{},
		timers: map[string]*time.Timer{}, wake: make(chan struct{}, 1),
	}
}

// schedule makes key due at at.
func (q *scheduler) schedule(key string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	if t := q.timers[key]; t != nil {
		t.Stop()
		delete(q.timers, key)
	}
	if d := time.Until(at); d > 0 {
		q.timers[key] = time.AfterFunc(d, func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.timers[key] != nil {
				delete(q.timers, key)
				q.pushLocked(key)
			}
		})
		return
	}
	q.pushLocked(key)
}

func (q *scheduler) pushLocked(key string) {
	if q.stopped || q.queued[key] {
		return
	}
	if q.running[key] {
		q.again[key] = true
		return
	}
	q.queued[key] = true
	q.ready = append(q.ready, key)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for a due key, or for ctx to end.
func (q *scheduler) next(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		if len(q.ready) > 0 {
			key := q.ready[0]
			q.ready = q.ready[1:]
			delete(q.queued, key)
			q.running[key] = true
			more := len(q.ready) > 0
			q.mu.Unlock()
			if more { // pass the wake-up on to another worker
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			return key, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return "", false
		}
	}
}

// finish releases key, handing it out again if it was rescheduled meanwhile.
func (q *scheduler) finish(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, key)
	if q.again[key] {
		delete(q.again, key)
		q.pushLocked(key)
	}
}

// stop drops every timer; nothing is handed out afterwards.
func (q *scheduler) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	for k, t := range q.timers {
		t.Stop()
		delete(q.timers, k)
	}
	q.ready = nil
}

// Run takes up the unanswered jobs in the database, then decides and
// answers jobs as they come due, and reconciles, until ctx ends. Deciding
// and answering have workers of their own, so that a slow or failing
// GitHub never delays a decision. A job in flight when ctx ends stays in
// the database and is taken up by the next Run.
func (s *Server) Run(ctx context.Context) error {
	if err := s.load(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	work := func(q *scheduler, step func(context.Context, *job)) {
		for {
			key, ok := q.next(ctx)
			if !ok {
				return
			}
			if j := s.job(key); j != nil {
				step(ctx, j)
			}
			q.finish(key)
		}
	}
	for range s.cfg.Deciders {
		wg.Go(func() { work(s.decideQ, s.decide) })
	}
	for range s.cfg.Workers {
		wg.Go(func() { work(s.answerQ, s.answer) })
	}
	if s.cfg.ReconcileEvery > 0 {
		wg.Go(func() { s.reconcileLoop(ctx) })
	}
	s.running.Store(true)
	s.log.Info("gate server running", "deciders", s.cfg.Deciders, "workers", s.cfg.Workers, "pending", s.pending.Load())
	<-ctx.Done()
	s.running.Store(false)
	wg.Wait()
	s.reports.Wait()
	s.decideQ.stop()
	s.answerQ.stop()
	return nil
}

// schedule queues a job for its next step: a decision, or an answer.
func (s *Server) schedule(j *job) {
	if j.Decision == nil {
		s.decideQ.schedule(j.Key, j.DueAt)
	} else {
		s.answerQ.schedule(j.Key, j.DueAt)
	}
}

// load schedules every unanswered job. A job that was decided may have
// been answered just before the server stopped: it is marked unsure, so
// that the run is looked at before it is answered again.
func (s *Server) load() error {
	var due []*job
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var j job
			if err := json.Unmarshal(v, &j); err != nil {
				s.log.Error("a job in the database is corrupt; skipped", "job", string(k), "err", err)
				return nil
			}
			if j.done() {
				return nil
			}
			if j.Decision != nil && !j.Unsure {
				j.Unsure = true
				if err := putJob(tx, &j); err != nil {
					return err
				}
			}
			due = append(due, &j)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("reading the gate's database: %w", err)
	}
	s.pending.Store(int64(len(due)))
	s.metrics.pending.Set(float64(len(due)))
	for _, j := range due {
		s.schedule(j)
	}
	return nil
}

// job reads a job that is still to be answered, or returns nil.
func (s *Server) job(key string) *job {
	var j *job
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		j, err = getJob(tx, key)
		return err
	}); err != nil {
		s.log.Error("reading a job failed", "job", key, "err", err)
		return nil
	}
	if j == nil || j.done() {
		return nil
	}
	return j
}

// decide asks the Decider and stores its decision, then queues the answer.
// A job that cannot be decided yet is queued again for when it can.
func (s *Server) decide(ctx context.Context, j *job) {
	if j.Decision != nil {
		s.schedule(j)
		return
	}
	start := time.Now()
	due := j.DueAt
	if j.Commit == "" || j.Actor == "" || j.Service == "" {
		if err := s.fillFromRun(ctx, j); err != nil {
			if ctx.Err() == nil {
				s.decideFailed(j, fmt.Errorf("reading run %d: %w", j.RunID, err))
			}
			return
		}
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DecideTimeout)
	d, err := s.cfg.Decider.Decide(dctx, Target{
		Repository: j.repository(), Service: j.Service, Environment: j.Environment,
		Commit: j.Commit, RunID: j.RunID, Actor: j.Actor,
	})
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.decideFailed(j, err)
		return
	}
	now := time.Now()
	if !d.RetryAt.IsZero() && d.RetryAt.After(now) {
		j.DueAt = d.RetryAt
		j.DecideFailures = 0
		report := !j.Reported
		j.Reported = true
		if s.save(j) && report {
			s.report(ctx, *j, d)
		}
		s.log.Info("not decidable yet; deciding again later", append(j.logAttrs(), "retry_at", d.RetryAt.UTC().Format(time.RFC3339), "reasons", reasonsText(d.Reasons))...)
		s.schedule(j)
		return
	}
	state, result := "rejected", d.Result
	switch result {
	case ResultAllow, ResultWarn:
		state = "approved"
	case ResultDeny:
	default:
		result = ResultDeny
		d.Reasons = append(d.Reasons, Reason{Policy: serverPolicy, Result: ResultDeny, Message: fmt.Sprintf("the decider answered %q, not allow, deny or warn", d.Result)})
	}
	j.Decision = &storedDecision{Result: result, State: state, Comment: comment(result, d), DecidedAt: now}
	j.DueAt = now
	if !s.save(j) {
		return
	}
	// Measured from when the job came due: its arrival, or the end of its soak.
	s.metrics.decisions.WithLabelValues(j.Environment, result).Inc()
	s.metrics.duration.Observe(now.Sub(maxTime(due, j.ReceivedAt)).Seconds())
	s.log.Info("decided", append(j.logAttrs(), "result", result, "state", state, "commit", j.Commit,
		"break_glass", d.BreakGlass, "reasons", reasonsText(d.Reasons), "took", now.Sub(start).String())...)
	s.schedule(j)
}

// report posts a status report (a comment without a state) on the run the
// first time its decision is put off, so that the run's page says why it
// waits and until when. GitHub keeps at most 10 per deployment; this is
// one. It is best-effort: the answer that matters comes later.
func (s *Server) report(ctx context.Context, j job, d Decision) {
	s.reports.Go(func() {
		c, err := s.client(ctx, j.Owner, j.Repo, j.InstallationID)
		if err != nil {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.CallbackTimeout)
		defer cancel()
		msg := fmt.Sprintf("promote gate: not yet, deciding again at %s", d.RetryAt.UTC().Format(time.RFC3339))
		for _, r := range d.Reasons {
			if r.Result != ResultAllow {
				msg += fmt.Sprintf("\n- %s [%s]: %s", r.Result, r.Policy, r.Message)
			}
		}
		if err := c.ReviewProtectionRule(rctx, j.RunID, j.Environment, "", truncate(msg, maxCommentBytes)); err != nil {
			s.log.Warn("posting a status report failed", append(j.logAttrs(), "err", err)...)
		}
	})
}

func (s *Server) decideFailed(j *job, err error) {
	j.DecideFailures++
	j.LastError = err.Error()
	if time.Since(j.ReceivedAt) > githubHoldsRuns {
		s.finish(j, outcomeAbandoned, "GitHub no longer holds the run after 30 days; deciding kept failing: "+err.Error())
		return
	}
	j.DueAt = time.Now().Add(s.backoff(j.DecideFailures))
	s.log.Warn("deciding failed; retrying", append(j.logAttrs(), "err", err, "retry_at", j.DueAt.UTC().Format(time.RFC3339))...)
	if s.save(j) {
		s.schedule(j)
	}
}

// fillFromRun reads what the delivery did not say from its run: the
// commit and actor when it had no deployment, the service when no
// Promote payload named it (from the run's title, "deploy SERVICE to …").
func (s *Server) fillFromRun(ctx context.Context, j *job) error {
	c, err := s.client(ctx, j.Owner, j.Repo, j.InstallationID)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.CallbackTimeout)
	defer cancel()
	run, _, err := c.GH.Actions.GetWorkflowRunByID(rctx, j.Owner, j.Repo, j.RunID)
	if err != nil {
		return err
	}
	if j.Commit == "" {
		j.Commit = run.GetHeadSHA()
	}
	if j.Actor == "" {
		j.Actor = run.GetTriggeringActor().GetLogin()
		if j.Actor == "" {
			j.Actor = run.GetActor().GetLogin()
		}
	}
	if j.Service == "" {
		j.Service = serviceFromTitle(run.GetDisplayTitle())
	}
	return nil
}

// answer sends a decided job's answer to GitHub, once.
func (s *Server) answer(ctx context.Context, j *job) {
	c, err := s.client(ctx, j.Owner, j.Repo, j.InstallationID)
	if err != nil {
		s.callbackFailed(ctx, j, err, false)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallbackTimeout)
	defer cancel()
	if j.Unsure {
		waiting, err := s.stillWaiting(cctx, c, j)
		if err != nil {
			s.callbackFailed(ctx, j, fmt.Errorf("checking whether run %d still waits: %w", j.RunID, err), true)
			return
		}
		if !waiting {
			s.finish(j, outcomeConfirmed, "")
			return
		}
	}
	err = c.ReviewProtectionRule(cctx, j.RunID, j.Environment, j.Decision.State, j.Decision.Comment)
	if err == nil {
		s.finish(j, outcomeAnswered, "")
		return
	}
	var amb *github.AmbiguousError
	unsure := errors.As(err, &amb) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	switch code := github.StatusCode(err); {
	case code == http.StatusUnprocessableEntity || code == http.StatusNotFound:
		// GitHub refuses the answer: the run waits no more (answered
		// already, cancelled, or gone). Whether it still waits on this
		// rule decides between done and a refusal to report.
		s.metrics.callbackFailures.Inc()
		waiting, werr := s.stillWaiting(cctx, c, j)
		switch {
		case werr == nil && !waiting:
			s.finish(j, outcomeConfirmed, err.Error())
		case werr == nil:
			s.finish(j, outcomeAbandoned, err.Error())
		default:
			s.callbackFailed(ctx, j, err, true)
		}
		return
	}
	s.metrics.callbackFailures.Inc()
	s.callbackFailed(ctx, j, err, unsure)
}

// stillWaiting reports whether the run still waits on the job's
// environment, which the App's rule holds.
func (s *Server) stillWaiting(ctx context.Context, c *github.Client, j *job) (bool, error) {
	pending, err := c.PendingDeployments(ctx, j.RunID)
	if err != nil {
		if github.StatusCode(err) == http.StatusNotFound {
			return false, nil
		}
		return false, err
	}
	for _, p := range pending {
		if strings.EqualFold(p.Environment.Name, j.Environment) {
			return true, nil
		}
	}
	return false, nil
}

// githubHoldsRuns is how long GitHub holds a run for its protection rules.
const githubHoldsRuns = 30 * 24 * time.Hour

// callbackFailed schedules another attempt with backoff; GitHub holds a
// run for 30 days, and so does the server.
func (s *Server) callbackFailed(ctx context.Context, j *job, err error, unsure bool) {
	if ctx.Err() != nil {
		// Stopping: the job stays as it is, and the next Run, finding it
		// decided, checks the run before answering.
		return
	}
	j.Attempts++
	j.Unsure = j.Unsure || unsure
	j.LastError = err.Error()
	if time.Since(j.ReceivedAt) > githubHoldsRuns {
		s.finish(j, outcomeAbandoned, "GitHub no longer holds the run after 30 days: "+err.Error())
		return
	}
	j.DueAt = time.Now().Add(s.backoff(j.Attempts))
	s.log.Warn("answering GitHub failed; retrying", append(j.logAttrs(), "attempt", j.Attempts, "err", err, "retry_at", j.DueAt.UTC().Format(time.RFC3339))...)
	if s.save(j) {
		s.schedule(j)
	}
}

func (s *Server) finish(j *job, outcome, note string) {
	j.Outcome, j.AnsweredAt = outcome, time.Now()
	if note != "" {
		j.LastError = note
	}
	if !s.save(j) {
		return
	}
	s.pending.Add(-1)
	s.metrics.pending.Set(float64(s.pending.Load()))
	if outcome == outcomeAbandoned {
		s.log.Error("giving up on the request", append(j.logAttrs(), "err", note)...)
		return
	}
	s.log.Info("answered", append(j.logAttrs(), "outcome", outcome, "state", j.Decision.State, "attempts", j.Attempts+1)...)
}

// save writes a job back; on failure the job is retried from the database
// a little later.
func (s *Server) save(j *job) bool {
	err := s.db.Batch(func(tx *bolt.Tx) error { return putJob(tx, j) })
	if err != nil {
		s.log.Error("writing a job failed; taking it up again from the database", append(j.logAttrs(), "err", err)...)
		if stored := s.job(j.Key); stored != nil {
			stored.DueAt = time.Now().Add(s.cfg.RetryMin)
			s.schedule(stored)
		}
		return false
	}
	return true
}

// backoff is the wait before attempt n+1: exponential from RetryMin to
// RetryMax, with full jitter above RetryMin so that many failed answers do
// not come back at once.
func (s *Server) backoff(n int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	if d > s.cfg.RetryMin {
		d = s.cfg.RetryMin + rand.N(d-s.cfg.RetryMin+1)
	}
	return d
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maxCommentBytes keeps a comment well inside what GitHub shows.
const maxCommentBytes = 4000

// comment is the answer's comment: the result and each reason.
func comment(result string, d Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "promote gate: %s", result)
	if d.BreakGlass != "" {
		fmt.Fprintf(&b, " (break-glass: %s)", d.BreakGlass)
	}
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "\n- %s [%s]: %s", r.Result, r.Policy, r.Message)
		if r.Link != "" {
			fmt.Fprintf(&b, " (%s)", r.Link)
		}
	}
	return truncate(b.String(), maxCommentBytes)
}

func reasonsText(rs []Reason) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, r.Result+" "+r.Policy+": "+r.Message)
	}
	return strings.Join(parts, "; ")
}
