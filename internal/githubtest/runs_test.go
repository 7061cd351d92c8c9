package githubtest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// deployWorkflow is a workflow like the one Promote dispatches: inputs name
// the service and the environment, and the job deploys to that environment.
func deployWorkflow(script RunScript) Workflow {
	return Workflow{
		Name:        "Deploy",
		RunName:     "Deploy ${{ inputs.service }} to ${{ inputs.environment }} from ${{ github.ref_name }}",
		Inputs:      []string{"service", "environment"},
		Environment: "${{ inputs.environment }}",
		Script:      func(map[string]string) RunScript { return script },
	}
}

// dispatch dispatches deploy.yml with return_run_details and returns the run id.
func (a *api) dispatch(service, env string) int64 {
	a.t.Helper()
	var v struct {
		ID int64 `json:"workflow_run_id"`
	}
	a.do("POST", "repos/acme/app/actions/workflows/deploy.yml/dispatches", map[string]any{
		"ref": "main", "inputs": map[string]string{"service": service, "environment": env}, "return_run_details": true,
	}).want(a.t, "dispatch", http.StatusOK).decode(a.t, &v)
	return v.ID
}

// runState is the status and conclusion the API shows for a run.
func (a *api) runState(id int64) string {
	a.t.Helper()
	var v struct {
		Status     string
		Conclusion *string
	}
	a.do("GET", fmt.Sprintf("repos/acme/app/actions/runs/%d", id), nil).want(a.t, "get run", 200).decode(a.t, &v)
	if v.Conclusion != nil {
		return v.Status + "/" + *v.Conclusion
	}
	return v.Status
}

func (a *api) review(id int64, state string) response {
	a.t.Helper()
	a.s.mu.Lock()
	env := a.s.environmentLocked("production", false).id
	a.s.mu.Unlock()
	return a.do("POST", fmt.Sprintf("repos/acme/app/actions/runs/%d/pending_deployments", id),
		map[string]any{"environment_ids": []int64{env}, "state": state, "comment": "by test"})
}

func TestRunLifecycle(t *testing.T) {
	t.Parallel()
	script := RunScript{QueueDelay: 10 * time.Second, Duration: time.Minute, Conclusion: "failure"}
	type step struct {
		advance   time.Duration
		act       func(a *api, run int64) response // optional, after advancing
		actStatus int                              // the act's answer
		want      string
	}
	approve := func(a *api, run int64) response { return a.review(run, "approved") }
	reject := func(a *api, run int64) response { return a.review(run, "rejected") }
	cancel := func(a *api, run int64) response {
		return a.do("POST", fmt.Sprintf("repos/acme/app/actions/runs/%d/cancel", run), nil)
	}
	tests := []struct {
		what     string
		env      string
		protect  Protection
		approver func(int64, string) (time.Duration, bool)
		steps    []step
	}{
		{
			what: "unprotected",
			env:  "staging",
			steps: []step{
				{want: "queued"},
				{advance: 9 * time.Second, want: "queued"},
				{advance: time.Second, want: "in_progress"},
				{advance: time.Minute, want: "completed/failure"},
			},
		},
		{
			what:    "reviewers and a wait timer",
			env:     "production",
			protect: Protection{Reviewers: []string{"promote-bot"}, WaitTimer: 2 * time.Minute},
			steps: []step{
				{advance: 10 * time.Second, want: "waiting"},
				{advance: time.Hour, want: "waiting"},               // nobody approved
				{act: approve, actStatus: 200, want: "in_progress"}, // the timer ran out while waiting
				{advance: time.Minute, want: "completed/failure"},
			},
		},
		{
			what:    "approved before the wait timer ends",
			env:     "production",
			protect: Protection{Reviewers: []string{"promote-bot"}, WaitTimer: 2 * time.Minute},
			steps: []step{
				{advance: 10 * time.Second, act: approve, actStatus: 200, want: "waiting"},
				{advance: 2*time.Minute - time.Second, want: "waiting"},
				{advance: time.Second, want: "in_progress"},
			},
		},
		{
			what:    "wait timer only",
			env:     "production",
			protect: Protection{WaitTimer: time.Minute},
			steps: []step{
				{advance: 10 * time.Second, want: "waiting"},
				{advance: time.Minute, want: "in_progress"},
			},
		},
		{
			what:    "rejected",
			env:     "production",
			protect: Protection{Reviewers: []string{"promote-bot"}},
			steps: []step{
				{advance: 10 * time.Second, act: reject, actStatus: 200, want: "completed/failure"},
				{advance: time.Hour, want: "completed/failure"},
			},
		},
		{
			what:     "approver",
			env:      "production",
			protect:  Protection{Reviewers: []string{"alice"}},
			approver: func(int64, string) (time.Duration, bool) { return 30 * time.Second, true },
			steps: []step{
				{advance: 10 * time.Second, want: "waiting"},
				{advance: 29 * time.Second, want: "waiting"},
				{advance: time.Second, want: "in_progress"},
			},
		},
		{
			what:     "approver rejects",
			env:      "production",
			protect:  Protection{Reviewers: []string{"alice"}},
			approver: func(int64, string) (time.Duration, bool) { return 0, false },
			steps:    []step{{advance: 10 * time.Second, want: "completed/failure"}},
		},
		{
			what:     "a review before the approver's",
			env:      "production",
			protect:  Protection{Reviewers: []string{"promote-bot"}},
			approver: func(int64, string) (time.Duration, bool) { return time.Minute, false },
			steps: []step{
				{advance: 10 * time.Second, act: approve, actStatus: 200, want: "in_progress"},
				{advance: 2 * time.Minute, want: "completed/failure"}, // the script's conclusion, not a rejection
			},
		},
		{what: "cancelled while queued", env: "staging", steps: []step{{act: cancel, actStatus: 202, want: "completed/cancelled"}, {advance: time.Hour, want: "completed/cancelled"}}},
		{what: "cancelled while in progress", env: "staging", steps: []step{{advance: 20 * time.Second, act: cancel, actStatus: 202, want: "completed/cancelled"}}},
		{
			what:    "cancelled while waiting",
			env:     "production",
			protect: Protection{Reviewers: []string{"promote-bot"}},
			steps:   []step{{advance: 20 * time.Second, act: cancel, actStatus: 202, want: "completed/cancelled"}, {act: approve, actStatus: 422, want: "completed/cancelled"}, {act: cancel, actStatus: 409, want: "completed/cancelled"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s, clock := newManual(t, Options{})
			s.AddEnvironment(tt.env, tt.protect)
			s.AddWorkflow("deploy.yml", deployWorkflow(script))
			if tt.approver != nil {
				s.SetApprover(tt.approver)
			}
			a := newAPI(t, s)
			run := a.dispatch("api", tt.env)
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				if st.act != nil {
					st.act(a, run).want(t, fmt.Sprintf("step %d", i), st.actStatus)
				}
				if got := a.runState(run); got != st.want {
					t.Errorf("step %d (after %v): state = %s, want %s", i, clock.Now().Sub(epoch), got, st.want)
				}
			}
		})
	}
}

func TestRunTimestampsAndETags(t *testing.T) {
	t.Parallel()
	s, clock := newManual(t, Options{})
	s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{QueueDelay: 5 * time.Second, Duration: 30 * time.Second}))
	a := newAPI(t, s)
	run := a.dispatch("api", "staging")
	path := fmt.Sprintf("repos/acme/app/actions/runs/%d", run)
	var etags []string
	var updated []string
	for _, d := range []time.Duration{0, 5 * time.Second, 30 * time.Second} {
		clock.Advance(d)
		r := a.do("GET", path, nil).want(t, "get run", 200)
		etags = append(etags, r.header.Get("ETag"))
		updated = append(updated, r.object(t)["updated_at"].(string))
		a.do("GET", path, nil, "If-None-Match", r.header.Get("ETag")).want(t, "conditional get", 304)
	}
	want := []string{"2026-03-02T09:00:00Z", "2026-03-02T09:00:05Z", "2026-03-02T09:00:35Z"}
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("updated_at at each transition (-want +got):\n%s", diff)
	}
	if etags[0] == etags[1] || etags[1] == etags[2] {
		t.Errorf("ETags %q do not change with the run's state", etags)
	}
	runs := s.Runs()
	wantRun := Run{
		ID: run, JobID: runs[0].JobID, RunNumber: 1, WorkflowID: runs[0].WorkflowID, WorkflowFile: "deploy.yml",
		DisplayTitle: "Deploy api to staging from main", Event: "workflow_dispatch", Ref: "main",
		HeadSHA: shaOf("refs/heads/main"), Actor: "promote-bot",
		Inputs: map[string]string{"service": "api", "environment": "staging"}, Environment: "staging",
		Status: "completed", Conclusion: "success",
		CreatedAt: epoch, StartedAt: epoch.Add(5 * time.Second), DeployedAt: epoch.Add(5 * time.Second),
		CompletedAt: epoch.Add(35 * time.Second), UpdatedAt: epoch.Add(35 * time.Second),
	}
	if diff := cmp.Diff([]Run{wantRun}, runs); diff != "" {
		t.Errorf("Runs() (-want +got):\n%s", diff)
	}
}

// TestWaitForGoAhead follows the first step of Promote's example deploy
// workflow: the job deploys only once the run's Deployment is in_progress
// naming the run, and stops when it is anything else.
func TestWaitForGoAhead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		// statuses are posted at 10 s, 20 s, ...; "mine" is in_progress
		// naming the run, "other" in_progress naming another run.
		statuses []string
		want     string        // the run's status/conclusion at 30 minutes
		wantAt   time.Duration // when it deployed, or completed without deploying
	}{
		{what: "the go-ahead before the job starts", statuses: []string{"mine"}, want: "completed/success", wantAt: 10 * time.Second},
		{what: "queued, then the go-ahead", statuses: []string{"queued", "queued", "mine"}, want: "completed/success", wantAt: 30 * time.Second},
		{what: "abandoned", statuses: []string{"queued", "error"}, want: "completed/failure", wantAt: 20 * time.Second},
		{what: "the Deployment went to another run", statuses: []string{"other", "mine"}, want: "completed/failure", wantAt: 10 * time.Second},
		{what: "no go-ahead within 10 minutes", want: "completed/failure", wantAt: 10*time.Second + goAheadTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s, clock := newManual(t, Options{})
			s.AddWorkflow("deploy.yml", Workflow{Inputs: []string{"deployment_id"}, WaitForGoAhead: true,
				Script: func(map[string]string) RunScript {
					return RunScript{QueueDelay: 10 * time.Second, Duration: time.Minute}
				}})
			a := newAPI(t, s)
			dep := a.deploy("staging", nil)
			var v struct {
				ID int64 `json:"workflow_run_id"`
			}
			a.do("POST", "repos/acme/app/actions/workflows/deploy.yml/dispatches", map[string]any{
				"ref": "main", "inputs": map[string]string{"deployment_id": fmt.Sprint(dep)}, "return_run_details": true,
			}).want(t, "dispatch", http.StatusOK).decode(t, &v)
			for _, st := range tt.statuses {
				clock.Advance(10 * time.Second)
				body := map[string]any{"state": st}
				switch st {
				case "mine":
					body = map[string]any{"state": "in_progress", "log_url": fmt.Sprintf("https://github.com/acme/app/actions/runs/%d", v.ID)}
				case "other":
					body = map[string]any{"state": "in_progress", "log_url": fmt.Sprintf("https://github.com/acme/app/actions/runs/%d", v.ID+1)}
				}
				a.do("POST", fmt.Sprintf("repos/acme/app/deployments/%d/statuses", dep), body).want(t, "status", http.StatusCreated)
			}
			clock.Advance(30 * time.Minute)
			if got := a.runState(v.ID); got != tt.want {
				t.Errorf("run %s, want %s", got, tt.want)
			}
			r := s.Runs()[0]
			at := r.DeployedAt
			if tt.want != "completed/success" {
				if !r.DeployedAt.IsZero() {
					t.Errorf("DeployedAt = %v, want zero: the run never deployed", r.DeployedAt)
				}
				at = r.CompletedAt
			}
			if got := at.Sub(epoch); got != tt.wantAt {
				t.Errorf("deployed or stopped at %v, want %v", got, tt.wantAt)
			}
		})
	}
}

func TestRunReviews(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what       string
		protect    Protection
		tokens     map[string]string
		token      string
		wantStatus int
		wantCan    bool
	}{
		{what: "a reviewer", protect: Protection{Reviewers: []string{"promote-bot"}}, wantStatus: 200, wantCan: true},
		{what: "not a reviewer", protect: Protection{Reviewers: []string{"alice"}}, wantStatus: 422},
		{
			what:       "another token of a reviewer",
			protect:    Protection{Reviewers: []string{"alice"}},
			tokens:     map[string]string{"t-bot": "promote-bot", "t-alice": "alice"},
			token:      "t-alice",
			wantStatus: 200, wantCan: true,
		},
		{what: "self review prevented", protect: Protection{Reviewers: []string{"promote-bot"}, PreventSelfReview: true}, wantStatus: 422},
		{what: "timer only", protect: Protection{WaitTimer: time.Hour}, wantStatus: 422},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s, _ := newManual(t, Options{Tokens: tt.tokens})
			s.AddEnvironment("production", tt.protect)
			s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{}))
			a := newAPI(t, s)
			if tt.tokens != nil {
				a.token = "t-bot"
			}
			run := a.dispatch("api", "production")
			if tt.token != "" {
				a.token = tt.token
			}
			var pending []struct {
				Environment struct {
					Name string
				}
				CurrentUserCanApprove bool `json:"current_user_can_approve"`
				WaitTimer             int  `json:"wait_timer"`
			}
			a.do("GET", fmt.Sprintf("repos/acme/app/actions/runs/%d/pending_deployments", run), nil).want(t, "pending", 200).decode(t, &pending)
			if len(pending) != 1 || pending[0].Environment.Name != "production" || pending[0].CurrentUserCanApprove != tt.wantCan {
				t.Errorf("pending deployments = %+v, want production with current_user_can_approve %v", pending, tt.wantCan)
			}
			a.review(run, "approved").want(t, "review", tt.wantStatus)
			if tt.wantStatus != 200 {
				return
			}
			reviews := s.Runs()[0].Reviews
			if len(reviews) != 1 || reviews[0].State != "approved" || reviews[0].User == "" {
				t.Errorf("Reviews = %+v, want one approval by a user", reviews)
			}
		})
	}
}

func TestListRunsFilters(t *testing.T) {
	t.Parallel()
	s, clock := newManual(t, Options{ListingDelay: 3 * time.Second})
	s.SetBranches("release")
	s.AddEnvironment("production", Protection{Reviewers: []string{"promote-bot"}})
	s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{QueueDelay: time.Minute, Duration: time.Hour}))
	s.AddWorkflow("other.yml", Workflow{Script: func(map[string]string) RunScript { return RunScript{Conclusion: "failure"} }})
	a := newAPI(t, s)
	queued := a.dispatch("api", "staging") // at 09:00:00
	clock.Advance(2 * time.Minute)
	waiting := a.dispatch("api", "production") // at 09:02:00, waits from 09:03:00
	clock.Advance(2 * time.Minute)
	a.do("POST", "repos/acme/app/actions/workflows/other.yml/dispatches", `{"ref":"release"}`).want(t, "dispatch", 204)
	failed := s.Runs()[2].ID // at 09:04:00, completes at once
	clock.Advance(3 * time.Second)
	a.dispatch("web", "staging") // at 09:04:03, not listed until 09:04:06
	clock.Advance(2 * time.Second)
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{failed, waiting, queued}},
		{"status=in_progress", []int64{queued}},
		{"status=waiting", []int64{waiting}},
		{"status=completed", []int64{failed}},
		{"status=failure", []int64{failed}},
		{"status=success", nil},
		{"branch=release", []int64{failed}},
		{"head_sha=" + shaOf("refs/heads/main"), []int64{waiting, queued}},
		{"event=workflow_dispatch&actor=promote-bot", []int64{failed, waiting, queued}},
		{"event=push", nil},
		{"created=" + url.QueryEscape(">=2026-03-02T09:02:00Z"), []int64{failed, waiting}},
		{"created=" + url.QueryEscape(">2026-03-02T09:02:00Z"), []int64{failed}},
		{"created=" + url.QueryEscape("<2026-03-02T09:02:00Z"), []int64{queued}},
		{"created=" + url.QueryEscape("<=2026-03-02T09:02:00+00:00"), []int64{waiting, queued}},
		{"created=2026-03-02T09:01:00Z..2026-03-02T09:03:00Z", []int64{waiting}},
		{"created=2026-03-02T09:01:00Z..*", []int64{failed, waiting}},
		{"created=2026-03-02", []int64{failed, waiting, queued}},
		{"created=2026-03-01", nil},
		{"created=" + url.QueryEscape(">2026-03-01"), []int64{failed, waiting, queued}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			var got struct {
				TotalCount   int                  `json:"total_count"`
				WorkflowRuns []struct{ ID int64 } `json:"workflow_runs"`
			}
			newAPI(t, s).do("GET", "repos/acme/app/actions/runs?"+tt.query, nil).want(t, tt.query, 200).decode(t, &got)
			var ids []int64
			for _, r := range got.WorkflowRuns {
				ids = append(ids, r.ID)
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("GET runs?%s (-want +got):\n%s", tt.query, diff)
			}
			if got.TotalCount != len(tt.want) {
				t.Errorf("total_count = %d, want %d", got.TotalCount, len(tt.want))
			}
		})
	}
	t.Run("workflow runs", func(t *testing.T) {
		t.Parallel()
		var got struct {
			WorkflowRuns []struct{ ID int64 } `json:"workflow_runs"`
		}
		newAPI(t, s).do("GET", "repos/acme/app/actions/workflows/other.yml/runs", nil).want(t, "list", 200).decode(t, &got)
		if len(got.WorkflowRuns) != 1 || got.WorkflowRuns[0].ID != failed {
			t.Errorf("runs of other.yml = %+v, want [%d]", got.WorkflowRuns, failed)
		}
	})
}

func TestDispatchErrors(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range 26 {
		many[fmt.Sprintf("in%d", i)] = "x"
	}
	tests := []struct {
		what       string
		workflow   string
		body       any
		wantStatus int
		wantMsg    string
		legacy     bool // Options.NoRunDetails
	}{
		{"an older GHES", "deploy.yml", `{"ref":"main","return_run_details":true}`, 422, "Invalid request.\n\n\"return_run_details\" is not a permitted key.", true},
		{"an older GHES without details", "deploy.yml", `{"ref":"main"}`, 204, "", true},
		{"undeclared inputs", "deploy.yml", `{"ref":"main","inputs":{"zeta":"1","alpha":"2","service":"api"}}`, 422, `Unexpected inputs provided: ["alpha", "zeta"]`, false},
		{"too many inputs", "deploy.yml", map[string]any{"ref": "main", "inputs": many}, 422, "", false},
		{"unknown ref", "deploy.yml", `{"ref":"nope"}`, 422, "No ref found for: nope", false},
		{"a sha is not a ref", "deploy.yml", fmt.Sprintf(`{"ref":%q}`, shaOf("refs/heads/main")), 422, "", false},
		{"no ref", "deploy.yml", `{"inputs":{}}`, 422, "Invalid request.\n\n\"ref\" wasn't supplied.", false},
		{"inputs not an object", "deploy.yml", `{"ref":"main","inputs":[]}`, 422, "Invalid request.\n\nFor 'properties/inputs', [] is not an object.", false},
		{"unknown workflow", "nope.yml", `{"ref":"main"}`, 404, "Not Found", false},
		{"boolean input", "deploy.yml", `{"ref":"main","inputs":{"service":true}}`, 204, "", false},
		{"by path and tag", ".github%2Fworkflows%2Fdeploy.yml", `{"ref":"refs/tags/v1"}`, 204, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{NoRunDetails: tt.legacy})
			s.SetTags("v1")
			s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{}))
			r := newAPI(t, s).do("POST", "repos/acme/app/actions/workflows/"+tt.workflow+"/dispatches", tt.body).want(t, tt.what, tt.wantStatus)
			if tt.wantMsg != "" && r.message(t) != tt.wantMsg {
				t.Errorf("message = %q, want %q", r.message(t), tt.wantMsg)
			}
			wantRuns := 0
			if tt.wantStatus == 204 {
				wantRuns = 1
			}
			if n := len(s.Runs()); n != wantRuns {
				t.Errorf("%d runs, want %d", n, wantRuns)
			}
		})
	}
}

func TestJobs(t *testing.T) {
	t.Parallel()
	s, clock := newManual(t, Options{})
	s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{QueueDelay: time.Second, Duration: time.Minute}))
	a := newAPI(t, s)
	run := a.dispatch("api", "staging")
	type job struct {
		ID          int64
		Name        string
		Status      string
		Conclusion  *string
		CompletedAt *string `json:"completed_at"`
		Steps       []struct{ Name, Status string }
	}
	get := func() job {
		var v struct {
			TotalCount int `json:"total_count"`
			Jobs       []job
		}
		a.do("GET", fmt.Sprintf("repos/acme/app/actions/runs/%d/jobs", run), nil).want(t, "jobs", 200).decode(t, &v)
		if v.TotalCount != 1 || len(v.Jobs) != 1 {
			t.Fatalf("jobs = %+v, want one", v)
		}
		return v.Jobs[0]
	}
	if j := get(); j.Status != "queued" || j.Conclusion != nil || len(j.Steps) != 0 {
		t.Errorf("queued job = %+v", j)
	}
	clock.Advance(2 * time.Second)
	if j := get(); j.Status != "in_progress" || len(j.Steps) != 2 || j.Steps[1].Status != "in_progress" {
		t.Errorf("running job = %+v", j)
	}
	clock.Advance(time.Minute)
	j := get()
	if j.Status != "completed" || j.Conclusion == nil || *j.Conclusion != "success" || j.CompletedAt == nil || len(j.Steps) != 3 || j.Name != "deploy" {
		t.Errorf("completed job = %+v", j)
	}
	one := a.do("GET", fmt.Sprintf("repos/acme/app/actions/jobs/%d", j.ID), nil).want(t, "job", 200).object(t)
	if one["run_id"] != float64(run) {
		t.Errorf("job run_id = %v, want %d", one["run_id"], run)
	}
}

func TestEnvironments(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.AddEnvironment("production", Protection{Reviewers: []string{"alice"}, WaitTimer: 90 * time.Second})
	a := newAPI(t, s)
	var env struct {
		Name            string
		ProtectionRules []map[string]any `json:"protection_rules"`
	}
	a.do("GET", "repos/acme/app/environments/Production", nil).want(t, "get", 200).decode(t, &env)
	var types []string
	for _, r := range env.ProtectionRules {
		types = append(types, r["type"].(string))
		if r["type"] == "wait_timer" && r["wait_timer"] != float64(2) {
			t.Errorf("wait_timer = %v, want 2 (minutes, rounded up)", r["wait_timer"])
		}
		if r["type"] == "required_reviewers" {
			rv := r["reviewers"].([]any)[0].(map[string]any)
			if rv["type"] != "User" || rv["reviewer"].(map[string]any)["login"] != "alice" {
				t.Errorf("reviewers = %v, want alice", r["reviewers"])
			}
		}
	}
	if diff := cmp.Diff([]string{"wait_timer", "required_reviewers"}, types); diff != "" {
		t.Errorf("protection rule types (-want +got):\n%s", diff)
	}
	a.do("PUT", "repos/acme/app/environments/qa", `{"wait_timer":3}`).want(t, "put", 200)
	a.do("PUT", "repos/acme/app/environments/qa", nil).want(t, "put without a body", 200)
	var list struct {
		TotalCount   int `json:"total_count"`
		Environments []struct{ Name string }
	}
	a.do("GET", "repos/acme/app/environments", nil).want(t, "list", 200).decode(t, &list)
	if list.TotalCount != 2 || list.Environments[1].Name != "qa" {
		t.Errorf("environments = %+v, want production and qa", list)
	}
	if p := s.protection(t, "qa"); p.WaitTimer != 3*time.Minute {
		t.Errorf("qa wait timer = %v, want 3m (an empty PUT keeps it)", p.WaitTimer)
	}
	a.do("PUT", "repos/acme/app/environments/qa", `{"wait_timer":null}`).want(t, "put null", 200)
	if p := s.protection(t, "qa"); p.WaitTimer != 0 {
		t.Errorf("qa wait timer = %v, want 0 after null", p.WaitTimer)
	}
	if r := a.do("PUT", "repos/acme/app/environments/qa", `{"reviewers":[{"type":"Team","id":1}]}`); r.status != 422 || !strings.Contains(r.message(t), "reviewers") {
		t.Errorf("PUT with a team: %d %s, want 422 about reviewers", r.status, r.body)
	}
}

// protection returns an environment's rules.
func (s *Server) protection(t *testing.T, name string) Protection {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.environmentLocked(name, false)
	if e == nil {
		t.Fatalf("no environment %q", name)
	}
	return e.protection
}
