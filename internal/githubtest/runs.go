package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Run is a workflow run as the server sees it at the moment of the call.
type Run struct {
	ID           int64
	JobID        int64 // the id of the run's one job, "deploy"
	RunNumber    int
	WorkflowID   int64
	WorkflowFile string
	DisplayTitle string
	Event        string // always "workflow_dispatch"
	Ref          string // the branch or tag dispatched (head_branch)
	HeadSHA      string
	Actor        string
	Inputs       map[string]string
	Environment  string // the environment the job names, or ""

	Status     string // queued, waiting, in_progress or completed
	Conclusion string // "" until completed

	CreatedAt time.Time
	WaitingAt time.Time // when the job started waiting on its environment; zero if it has not
	StartedAt time.Time // when the job went in progress; zero if it has not
	// DeployedAt is when the job's deploy began: StartedAt, or with
	// Workflow.WaitForGoAhead the go-ahead; zero if it never began (the
	// first step stopped the run, or is still waiting).
	DeployedAt  time.Time
	CompletedAt time.Time // zero until completed
	UpdatedAt   time.Time // the latest transition

	Reviews               []Review               // reviews of pending deployments, oldest first
	ProtectionRuleReviews []ProtectionRuleReview // POSTs to …/deployment_protection_rule
}

// Review is a review of a run's pending deployment.
type Review struct {
	Environment string
	State       string // approved or rejected
	Comment     string
	User        string // the reviewer's login; "" for the SetApprover function
	At          time.Time
}

// ProtectionRuleReview is a custom deployment protection rule's review or
// status report for a run.
type ProtectionRuleReview struct {
	Environment string
	State       string // approved, rejected, or "" for a status report
	Comment     string
	User        string
	At          time.Time
}

// run is the stored run; its status is computed by stateLocked.
type run struct {
	id, jobID   int64
	number      int
	wf          *workflow
	fullRef     string
	branch      string
	sha         string
	inputs      map[string]string
	actor       string
	created     time.Time
	title       string
	script      RunScript
	env         string
	envID       int64
	protection  Protection // the environment's rules at dispatch
	cancelled   time.Time  // zero unless cancelled
	reviews     []Review
	ruleReviews []ProtectionRuleReview
	asked       bool // the approver has been asked
}

// runState is a run's state at some moment.
type runState struct {
	status, conclusion string
	updated            time.Time
	waiting            time.Time // zero if the job has not waited
	started            time.Time // zero if the job has not started
	deployed           time.Time // zero if the deploy has not begun
	completed          time.Time
	reviewed           bool // a review has decided the pending deployment
	ruleReviewed       bool // the App's custom rule has decided it
}

// stateLocked computes a run's state at now from its script, its
// environment's rules, its reviews and its cancellation. Asking the approver is
// its only side effect.
func (s *Server) stateLocked(r *run, now time.Time) runState {
	if !r.cancelled.IsZero() && !now.Before(r.cancelled) {
		st := s.timelineLocked(r, r.cancelled)
		st.status, st.conclusion = "completed", "cancelled"
		st.completed, st.updated = r.cancelled, r.cancelled
		return st
	}
	return s.timelineLocked(r, now)
}

// timelineLocked is stateLocked without cancellation.
func (s *Server) timelineLocked(r *run, now time.Time) runState {
	st := runState{status: "queued", updated: r.created}
	gate := r.created.Add(r.script.QueueDelay)
	if now.Before(gate) {
		return st
	}
	if r.protection.protected() {
		st.waiting = gate
		st.status, st.updated = "waiting", gate
		timer := gate.Add(r.protection.WaitTimer)
		if len(r.protection.Reviewers) > 0 {
			rv, ok := s.decisionLocked(r, now, gate)
			if !ok {
				return st
			}
			st.reviewed = true
			st.updated = rv.At
			if rv.State != "approved" {
				// "If a job is rejected, the workflow will fail."
				st.status, st.conclusion, st.completed = "completed", "failure", rv.At
				return st
			}
			gate = maxTime(rv.At, timer)
		} else {
			gate = timer
		}
		if r.protection.CustomRule {
			rv, ok := s.ruleDecisionLocked(r, now)
			if !ok {
				return st
			}
			st.ruleReviewed = true
			st.updated = maxTime(st.updated, rv.At)
			if rv.State != "approved" {
				st.status, st.conclusion, st.completed = "completed", "failure", rv.At
				return st
			}
			gate = maxTime(gate, rv.At)
		}
		if now.Before(gate) {
			return st
		}
	}
	st.started = gate
	st.status, st.updated = "in_progress", gate
	if r.wf.spec.WaitForGoAhead {
		at, ok := s.goAheadLocked(r, gate, now)
		if at.IsZero() {
			return st // still waiting
		}
		if !ok {
			st.status, st.conclusion = "completed", "failure"
			st.completed, st.updated = at, at
			return st
		}
		gate = at
	}
	st.deployed = gate
	end := gate.Add(r.script.Duration)
	if now.Before(end) {
		return st
	}
	st.status, st.conclusion = "completed", r.script.Conclusion
	st.completed, st.updated = end, end
	return st
}

// goAheadTimeout is how long the first step of a WaitForGoAhead run waits
// by default, as the example workflow's does.
const goAheadTimeout = 10 * time.Minute

// goAheadLocked follows the first step of a WaitForGoAhead run whose job
// started at start: it returns when the step passed (ok) or stopped the run
// (!ok), or a zero time if it is still waiting at now.
func (s *Server) goAheadLocked(r *run, start, now time.Time) (time.Time, bool) {
	id, _ := strconv.ParseInt(r.inputs["deployment_id"], 10, 64)
	var d *Deployment
	for _, dep := range s.deploys {
		if dep.ID == id {
			d = dep
		}
	}
	if d == nil {
		return start, false // the step's GET answers 404
	}
	mine := "/actions/runs/" + strconv.FormatInt(r.id, 10)
	timeout := r.wf.spec.GoAheadTimeout
	if timeout <= 0 {
		timeout = goAheadTimeout
	}
	end := start.Add(timeout)
	// The step sees the latest status when it starts, then each later one
	// as it is posted.
	type seen struct {
		st DeploymentStatus
		at time.Time
	}
	var looks []seen
	for _, st := range d.Statuses {
		switch {
		case !st.CreatedAt.After(start):
			looks = []seen{{st, start}}
		case !st.CreatedAt.After(now) && st.CreatedAt.Before(end):
			looks = append(looks, seen{st, st.CreatedAt})
		}
	}
	for _, l := range looks {
		switch {
		case l.st.State == "queued" || l.st.State == "pending":
		case l.st.State == "in_progress" && strings.HasSuffix(l.st.LogURL, mine):
			return l.at, true
		default:
			return l.at, false
		}
	}
	if !now.Before(end) {
		return end, false
	}
	return time.Time{}, false
}

// decisionLocked returns the review deciding a run that started waiting at
// waitStart, if one has happened by now. The approver, if any, is asked the
// first time the run is seen waiting; its decision is recorded as a review
// once its time has come, unless a review through the API came first.
func (s *Server) decisionLocked(r *run, now, waitStart time.Time) (Review, bool) {
	if len(r.reviews) == 0 && s.approver != nil && !r.asked {
		r.asked = true
		after, approve := s.approver(r.id, r.env)
		state := "rejected"
		if approve {
			state = "approved"
		}
		r.reviews = append(r.reviews, Review{
			Environment: r.env, State: state, Comment: "reviewed by the approver",
			At: waitStart.Add(max(after, 0)),
		})
	}
	for _, rv := range r.reviews {
		if !now.Before(rv.At) {
			return rv, true
		}
	}
	return Review{}, false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Runs returns every run, oldest first, with its state at the clock's now.
func (s *Server) Runs() []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out := make([]Run, 0, len(s.runs))
	for _, r := range s.runs {
		st := s.stateLocked(r, now)
		out = append(out, Run{
			ID:                    r.id,
			JobID:                 r.jobID,
			RunNumber:             r.number,
			WorkflowID:            r.wf.id,
			WorkflowFile:          r.wf.file,
			DisplayTitle:          r.title,
			Event:                 "workflow_dispatch",
			Ref:                   r.branch,
			HeadSHA:               r.sha,
			Actor:                 r.actor,
			Inputs:                cloneInputs(r.inputs),
			Environment:           r.env,
			Status:                st.status,
			Conclusion:            st.conclusion,
			CreatedAt:             r.created,
			WaitingAt:             st.waiting,
			StartedAt:             st.started,
			DeployedAt:            st.deployed,
			CompletedAt:           st.completed,
			UpdatedAt:             st.updated,
			Reviews:               s.effectiveReviews(r, now),
			ProtectionRuleReviews: slices.Clone(r.ruleReviews),
		})
	}
	return out
}

// effectiveReviews drops an approver's decision whose time has not come.
func (s *Server) effectiveReviews(r *run, now time.Time) []Review {
	var out []Review
	for _, rv := range r.reviews {
		if !now.Before(rv.At) {
			out = append(out, rv)
		}
	}
	return out
}

func (s *Server) runLocked(q *request) *run {
	id, ok := pathID(q, "run_id")
	if !ok {
		return nil
	}
	for _, r := range s.runs {
		if r.id == id {
			return r
		}
	}
	return nil
}

var runStatuses = []string{"queued", "in_progress", "waiting", "completed", "requested", "pending"}

func (s *Server) listRuns(q *request) reply {
	return s.listRunsOf(q, nil)
}

func (s *Server) listWorkflowRuns(q *request) reply {
	s.mu.Lock()
	wf := s.workflowLocked(q)
	s.mu.Unlock()
	if wf == nil {
		return s.notFound(q)
	}
	return s.listRunsOf(q, wf)
}

// listRunsOf lists runs, newest first, with GitHub's filters: actor, branch,
// event, status (a status or a conclusion), created (search syntax),
// check_suite_id and head_sha.
func (s *Server) listRunsOf(q *request, wf *workflow) reply {
	query := q.URL.Query()
	created, err := parseCreated(query.Get("created"))
	if err != nil {
		return s.validationFailed(q, "WorkflowRun", "created", "invalid", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []*run
	for _, r := range slices.Backward(s.runs) {
		if wf != nil && r.wf != wf {
			continue
		}
		if q.now.Before(r.created.Add(s.opts.ListingDelay)) {
			continue // not listed yet
		}
		st := s.stateLocked(r, q.now)
		if status := query.Get("status"); status != "" {
			if slices.Contains(runStatuses, status) && st.status != status ||
				!slices.Contains(runStatuses, status) && st.conclusion != status {
				continue
			}
		}
		if !filter(query, "actor", r.actor) || !filter(query, "branch", r.branch) ||
			!filter(query, "event", "workflow_dispatch") || !filter(query, "head_sha", r.sha) ||
			!filter(query, "check_suite_id", strconv.FormatInt(checkSuiteID(r), 10)) ||
			!created(r.created.Truncate(time.Second)) {
			continue
		}
		match = append(match, r)
	}
	p := s.paginate(q, len(match))
	out := []map[string]any{}
	for _, r := range match[p.lo:p.hi] {
		out = append(out, s.runJSONLocked(r, s.stateLocked(r, q.now)))
	}
	return listReply(p, map[string]any{"total_count": len(match), "workflow_runs": out})
}

// parseCreated parses the created filter in GitHub's search syntax:
// ">=DATE", ">DATE", "<=DATE", "<DATE", "DATE..DATE" (either side may be
// "*"), or "DATE", where DATE is a date or a date-time. A date stands for the
// whole day, a date-time for its second.
func parseCreated(v string) (func(time.Time) bool, error) {
	v = strings.ReplaceAll(strings.TrimSpace(v), " ", "+") // an unescaped + in a zone offset
	if v == "" {
		return func(time.Time) bool { return true }, nil
	}
	span := func(s string) (lo, hi time.Time, err error) {
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, t.Add(time.Second), nil
			}
		}
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t, t.AddDate(0, 0, 1), nil
		}
		return time.Time{}, time.Time{}, fmt.Errorf("created %q is not a date, a date-time, or a range of them such as >=2026-01-01T00:00:00Z or 2026-01-01..2026-01-31", v)
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(v, op); ok {
			lo, hi, err := span(rest)
			if err != nil {
				return nil, err
			}
			return map[string]func(time.Time) bool{
				">=": func(t time.Time) bool { return !t.Before(lo) },
				">":  func(t time.Time) bool { return !t.Before(hi) },
				"<=": func(t time.Time) bool { return t.Before(hi) },
				"<":  func(t time.Time) bool { return t.Before(lo) },
			}[op], nil
		}
	}
	if from, to, ok := strings.Cut(v, ".."); ok {
		var lo, hi time.Time
		var err error
		if from != "*" {
			if lo, _, err = span(from); err != nil {
				return nil, err
			}
		}
		if to != "*" {
			if _, hi, err = span(to); err != nil {
				return nil, err
			}
		}
		return func(t time.Time) bool {
			return (lo.IsZero() || !t.Before(lo)) && (hi.IsZero() || t.Before(hi))
		}, nil
	}
	lo, hi, err := span(v)
	if err != nil {
		return nil, err
	}
	return func(t time.Time) bool { return !t.Before(lo) && t.Before(hi) }, nil
}

func (s *Server) getRun(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runLocked(q)
	if r == nil {
		return s.notFound(q)
	}
	return reply{status: http.StatusOK, body: s.runJSONLocked(r, s.stateLocked(r, q.now))}
}

func (s *Server) cancelRun(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runLocked(q)
	if r == nil {
		return s.notFound(q)
	}
	if s.stateLocked(r, q.now).status == "completed" {
		return s.errorReply(q, http.StatusConflict, "Cannot cancel a workflow run that is completed.", nil)
	}
	r.cancelled = q.now
	return reply{status: http.StatusAccepted, body: struct{}{}}
}

func (s *Server) listJobs(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runLocked(q)
	if r == nil {
		return s.notFound(q)
	}
	p := s.paginate(q, 1)
	jobs := []map[string]any{s.jobJSONLocked(r, s.stateLocked(r, q.now))}
	return listReply(p, map[string]any{"total_count": 1, "jobs": jobs[p.lo:p.hi]})
}

func (s *Server) getJob(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := pathID(q, "job_id")
	if !ok {
		return s.notFound(q)
	}
	for _, r := range s.runs {
		if r.jobID == id {
			return reply{status: http.StatusOK, body: s.jobJSONLocked(r, s.stateLocked(r, q.now))}
		}
	}
	return s.notFound(q)
}

// canReviewLocked reports whether login may review r's pending deployment.
func (s *Server) canReviewLocked(r *run, login string) bool {
	for _, rv := range r.protection.Reviewers {
		if strings.EqualFold(rv, login) {
			return !(r.protection.PreventSelfReview && strings.EqualFold(r.actor, login))
		}
	}
	return false
}

func (s *Server) getPendingDeployments(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runLocked(q)
	if r == nil {
		return s.notFound(q)
	}
	st := s.stateLocked(r, q.now)
	out := []map[string]any{}
	if st.status == "waiting" {
		e := s.environmentByIDLocked(r.envID)
		var timerStarted *string
		if r.protection.WaitTimer > 0 {
			timerStarted = optTimestamp(st.waiting)
		}
		out = append(out, map[string]any{
			"environment":              s.environmentRef(e),
			"wait_timer":               waitMinutes(r.protection.WaitTimer),
			"wait_timer_started_at":    timerStarted,
			"current_user_can_approve": !st.reviewed && s.canReviewLocked(r, q.login),
			"reviewers":                s.reviewersJSONLocked(r.protection.Reviewers),
		})
	}
	return reply{status: http.StatusOK, body: out}
}

// environmentRef is how GitHub names an environment inside other objects.
func (s *Server) environmentRef(e *environment) map[string]any {
	return map[string]any{
		"id":       e.id,
		"node_id":  nodeID("EN_", e.id),
		"name":     e.name,
		"url":      s.environmentURL(e),
		"html_url": s.environmentHTML(e),
	}
}

// getApprovals answers the review history of a run: its reviews of pending
// deployments that have happened by now, oldest first. A decision of the
// SetApprover function is made by the environment's first required
// reviewer.
func (s *Server) getApprovals(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runLocked(q)
	if r == nil {
		return s.notFound(q)
	}
	out := []map[string]any{}
	for _, rv := range s.effectiveReviews(r, q.now) {
		login := rv.User
		if login == "" && len(r.protection.Reviewers) > 0 {
			login = r.protection.Reviewers[0]
		}
		if login == "" {
			login = "reviewer"
		}
		e := s.environmentByIDLocked(r.envID)
		env := s.environmentRef(e)
		env["created_at"], env["updated_at"] = timestamp(e.created), timestamp(e.updated)
		out = append(out, map[string]any{
			"environments": []map[string]any{env},
			"state":        rv.State,
			"user":         s.userJSONLocked(login),
			"comment":      rv.Comment,
		})
	}
	return reply{status: http.StatusOK, body: out}
}

var reviewSchema = bodySchema{
	required: []string{"environment_ids", "state", "comment"},
	fields: []field{
		{name: "environment_ids", kind: kInts},
		{name: "state", kind: kString, enum: []string{"approved", "rejected"}},
		{name: "comment", kind: kString},
	},
}

// reviewPendingDeployments approves or rejects a waiting run. GitHub answers
// with the deployments the approval created; the fake's jobs create none.
func (s *Server) reviewPendingDeployments(q *request) reply {
	s.mu.Lock()
	r := s.runLocked(q)
	s.mu.Unlock()
	if r == nil {
		return s.notFound(q)
	}
	b, bad := s.readBody(q, reviewSchema)
	if bad != nil {
		return *bad
	}
	var ids []int64
	b.decode("environment_ids", &ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked(r, q.now)
	if st.status != "waiting" || st.reviewed || len(r.protection.Reviewers) == 0 {
		return s.errorReply(q, http.StatusUnprocessableEntity, "No pending deployment requests to review for this run.", nil)
	}
	if len(ids) == 0 || slices.ContainsFunc(ids, func(id int64) bool { return id != r.envID }) {
		return s.validationFailed(q, "PendingDeployment", "environment_ids", "invalid",
			fmt.Sprintf("the run waits on environment %d (%s) only", r.envID, r.env))
	}
	if !s.canReviewLocked(r, q.login) {
		return s.errorReply(q, http.StatusUnprocessableEntity, fmt.Sprintf("%s is not a required reviewer of the environment %s, or may not review their own run.", q.login, r.env), nil)
	}
	// The review decides the run: an approver's decision still to come is void.
	r.reviews = append(s.effectiveReviews(r, q.now), Review{
		Environment: r.env, State: b.str("state", ""), Comment: b.str("comment", ""), User: q.login, At: q.now,
	})
	return reply{status: http.StatusOK, body: []any{}}
}

var protectionRuleSchema = bodySchema{
	required: []string{"environment_name"},
	fields: []field{
		{name: "environment_name", kind: kString},
		{name: "state", kind: kString, enum: []string{"approved", "rejected"}},
		{name: "comment", kind: kString},
	},
}

// reviewProtectionRule records a custom protection rule's review (with state)
// or status report (comment only).
func (s *Server) reviewProtectionRule(q *request) reply {
	s.mu.Lock()
	r := s.runLocked(q)
	s.mu.Unlock()
	if r == nil {
		return s.notFound(q)
	}
	b, bad := s.readBody(q, protectionRuleSchema)
	if bad != nil {
		return *bad
	}
	if !b.has("state") && !b.has("comment") {
		return s.invalid(q, `"comment" wasn't supplied.`, `"state" wasn't supplied.`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.protection.CustomRule && b.has("state") {
		// Only the rule's App may answer it, once, while the run waits on it.
		if s.opts.App == nil || q.login != s.opts.App.login() {
			return s.errorReply(q, http.StatusUnprocessableEntity, q.login+" does not own a deployment protection rule of the environment "+r.env+".", nil)
		}
		st := s.stateLocked(r, q.now)
		if st.status != "waiting" || st.ruleReviewed || !strings.EqualFold(b.str("environment_name", ""), r.env) {
			return s.errorReply(q, http.StatusUnprocessableEntity, "No pending deployment protection rule requests to review for this run.", nil)
		}
	}
	r.ruleReviews = append(r.ruleReviews, ProtectionRuleReview{
		Environment: b.str("environment_name", ""), State: b.str("state", ""), Comment: b.str("comment", ""), User: q.login, At: q.now,
	})
	return reply{status: http.StatusNoContent}
}

func checkSuiteID(r *run) int64 { return r.id + 5_000_000 }

func (s *Server) runURL(r *run) string {
	return s.repoAPI() + "/actions/runs/" + strconv.FormatInt(r.id, 10)
}

func (s *Server) runHTML(r *run) string {
	return s.repoHTML() + "/actions/runs/" + strconv.FormatInt(r.id, 10)
}

// runJSONLocked is GitHub's "workflow-run", in GitHub's field order.
func (s *Server) runJSONLocked(r *run, st runState) map[string]any {
	u := s.runURL(r)
	var conclusion any
	if st.conclusion != "" {
		conclusion = st.conclusion
	}
	author := map[string]string{"name": r.actor, "email": r.actor + "@users.noreply.github.com"}
	return map[string]any{
		"id":                   r.id,
		"name":                 r.wf.name(),
		"node_id":              nodeID("WFR_", r.id),
		"head_branch":          r.branch,
		"head_sha":             r.sha,
		"path":                 r.wf.path(),
		"display_title":        r.title,
		"run_number":           r.number,
		"event":                "workflow_dispatch",
		"status":               st.status,
		"conclusion":           conclusion,
		"workflow_id":          r.wf.id,
		"check_suite_id":       checkSuiteID(r),
		"check_suite_node_id":  nodeID("CS_", checkSuiteID(r)),
		"url":                  u,
		"html_url":             s.runHTML(r),
		"pull_requests":        []any{},
		"created_at":           timestamp(r.created),
		"updated_at":           timestamp(st.updated),
		"actor":                s.userJSONLocked(r.actor),
		"run_attempt":          1,
		"referenced_workflows": []any{},
		"run_started_at":       timestamp(r.created), // the attempt's start, as GitHub reports it
		"triggering_actor":     s.userJSONLocked(r.actor),
		"jobs_url":             u + "/jobs",
		"logs_url":             u + "/logs",
		"check_suite_url":      s.repoAPI() + "/check-suites/" + strconv.FormatInt(checkSuiteID(r), 10),
		"artifacts_url":        u + "/artifacts",
		"cancel_url":           u + "/cancel",
		"rerun_url":            u + "/rerun",
		"previous_attempt_url": nil,
		"workflow_url":         s.repoAPI() + "/actions/workflows/" + strconv.FormatInt(r.wf.id, 10),
		"head_commit": map[string]any{
			"id":        r.sha,
			"tree_id":   s.shaFor("tree:" + r.sha),
			"message":   "Commit " + r.sha[:7],
			"timestamp": timestamp(s.created),
			"author":    author,
			"committer": author,
		},
		"repository":         s.repoJSONLocked(),
		"head_repository":    s.repoJSONLocked(),
		"head_repository_id": s.repoID,
	}
}

// jobJSONLocked is GitHub's "job" for the run's single job, "deploy".
func (s *Server) jobJSONLocked(r *run, st runState) map[string]any {
	status := st.status
	var conclusion any
	if st.conclusion != "" {
		conclusion = st.conclusion
	}
	started := r.created
	steps := []map[string]any{}
	var runnerID, runnerName, groupID, groupName any
	if !st.started.IsZero() {
		started = st.started
		runnerID, runnerName, groupID, groupName = 1, "GitHub Actions 1", 1, "GitHub Actions"
		step := func(n int, name, status string, conclusion any, from, to time.Time) map[string]any {
			return map[string]any{
				"name": name, "status": status, "conclusion": conclusion, "number": n,
				"started_at": optTimestamp(from), "completed_at": optTimestamp(to),
			}
		}
		steps = append(steps, step(1, "Set up job", "completed", "success", st.started, st.started))
		if st.status == "completed" {
			steps = append(steps,
				step(2, "Deploy", "completed", st.conclusion, st.started, st.completed),
				step(3, "Complete job", "completed", "success", st.completed, st.completed))
		} else {
			steps = append(steps, step(2, "Deploy", "in_progress", nil, st.started, time.Time{}))
		}
	}
	id := strconv.FormatInt(r.jobID, 10)
	return map[string]any{
		"id":                r.jobID,
		"run_id":            r.id,
		"workflow_name":     r.wf.name(),
		"head_branch":       r.branch,
		"run_url":           s.runURL(r),
		"run_attempt":       1,
		"node_id":           nodeID("CR_", r.jobID),
		"head_sha":          r.sha,
		"url":               s.repoAPI() + "/actions/jobs/" + id,
		"html_url":          s.runHTML(r) + "/job/" + id,
		"status":            status,
		"conclusion":        conclusion,
		"created_at":        timestamp(r.created),
		"started_at":        timestamp(started),
		"completed_at":      optTimestamp(st.completed),
		"name":              "deploy",
		"steps":             steps,
		"check_run_url":     s.repoAPI() + "/check-runs/" + id,
		"labels":            []string{"ubuntu-latest"},
		"runner_id":         runnerID,
		"runner_name":       runnerName,
		"runner_group_id":   groupID,
		"runner_group_name": groupName,
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
