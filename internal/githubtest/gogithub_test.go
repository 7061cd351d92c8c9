package githubtest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"
)

// newGitHub returns a go-github v60 client for the server.
func newGitHub(t *testing.T, s *Server) *github.Client {
	t.Helper()
	c := github.NewClient(s.Client()).WithAuthToken("test-token")
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

func TestGoGitHubDeployments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, Options{})
	s.SetBranches("feature")
	gh := newGitHub(t, s)

	var ids []int64
	for _, env := range []string{"staging", "staging", "production"} {
		d, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "app", &github.DeploymentRequest{
			Ref:              github.String("main"),
			Environment:      github.String(env),
			AutoMerge:        github.Bool(false),
			RequiredContexts: &[]string{},
			Payload:          map[string]string{"service": "api"},
		})
		if err != nil {
			t.Fatalf("CreateDeployment: %v", err)
		}
		ids = append(ids, d.GetID())
	}
	_, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "app", &github.DeploymentRequest{Ref: github.String("feature")})
	var ghErr *github.ErrorResponse
	if !errors.As(err, &ghErr) || ghErr.Response.StatusCode != http.StatusConflict || ghErr.Message != "Conflict merging main into feature." {
		t.Errorf("CreateDeployment with auto_merge: %v, want a 409 merge conflict", err)
	}

	st, _, err := gh.Repositories.CreateDeploymentStatus(ctx, "acme", "app", ids[0], &github.DeploymentStatusRequest{
		State: github.String("success"), LogURL: github.String("https://ci.example/1"), EnvironmentURL: github.String("https://staging.example"),
	})
	if err != nil {
		t.Fatalf("CreateDeploymentStatus: %v", err)
	}
	if st.GetTargetURL() != "https://ci.example/1" || st.GetState() != "success" {
		t.Errorf("status = %+v", st)
	}
	if _, _, err := gh.Repositories.CreateDeploymentStatus(ctx, "acme", "app", ids[1], &github.DeploymentStatusRequest{State: github.String("success")}); err != nil {
		t.Fatal(err)
	}
	statuses, _, err := gh.Repositories.ListDeploymentStatuses(ctx, "acme", "app", ids[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, st := range statuses {
		states = append(states, st.GetState())
	}
	if diff := cmp.Diff([]string{"inactive", "success"}, states); diff != "" {
		t.Errorf("statuses of the first deployment, newest first (-want +got):\n%s", diff)
	}
	if got, _, err := gh.Repositories.GetDeploymentStatus(ctx, "acme", "app", ids[0], st.GetID()); err != nil || got.GetEnvironmentURL() != "https://staging.example" {
		t.Errorf("GetDeploymentStatus = %+v, %v", got, err)
	}

	var all []int64
	opts := &github.DeploymentsListOptions{Environment: "staging", ListOptions: github.ListOptions{PerPage: 1}}
	for {
		page, resp, err := gh.Repositories.ListDeployments(ctx, "acme", "app", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			all = append(all, d.GetID())
		}
		if resp.NextPage == 0 {
			break
		}
		if resp.LastPage != 2 && resp.LastPage != 0 {
			t.Errorf("LastPage = %d, want 2", resp.LastPage)
		}
		opts.Page = resp.NextPage
	}
	if diff := cmp.Diff([]int64{ids[1], ids[0]}, all); diff != "" {
		t.Errorf("staging deployments over pages (-want +got):\n%s", diff)
	}
	d, _, err := gh.Repositories.GetDeployment(ctx, "acme", "app", ids[2])
	if err != nil || !d.GetCreatedAt().Equal(d.GetUpdatedAt()) || d.GetEnvironment() != "production" || d.GetCreator().GetLogin() != "promote-bot" {
		t.Errorf("GetDeployment = %+v, %v", d, err)
	}
}

func TestGoGitHubRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, clock := newManual(t, Options{})
	s.AddEnvironment("production", Protection{Reviewers: []string{"promote-bot"}})
	s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{QueueDelay: time.Second, Duration: time.Minute}))
	gh := newGitHub(t, s)

	wf, _, err := gh.Actions.GetWorkflowByFileName(ctx, "acme", "app", "deploy.yml")
	if err != nil || wf.GetName() != "Deploy" || wf.GetPath() != ".github/workflows/deploy.yml" {
		t.Fatalf("GetWorkflowByFileName = %+v, %v", wf, err)
	}
	if _, err := gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, "acme", "app", "deploy.yml", github.CreateWorkflowDispatchEventRequest{
		Ref: "main", Inputs: map[string]interface{}{"service": "api", "environment": "production"},
	}); err != nil {
		t.Fatalf("CreateWorkflowDispatchEventByFileName: %v", err)
	}
	// go-github v60 has no return_run_details: find the run by listing, as a
	// client of an older GitHub must.
	runs, _, err := gh.Actions.ListWorkflowRunsByFileName(ctx, "acme", "app", "deploy.yml", &github.ListWorkflowRunsOptions{
		Event: "workflow_dispatch", HeadSHA: s.SHA("main"), Created: ">=" + epoch.Format(time.RFC3339),
	})
	if err != nil || runs.GetTotalCount() != 1 {
		t.Fatalf("ListWorkflowRunsByFileName = %+v, %v", runs, err)
	}
	run := runs.WorkflowRuns[0]
	if run.GetDisplayTitle() != "Deploy api to production from main" || run.GetStatus() != "queued" || run.GetHeadBranch() != "main" {
		t.Errorf("run = %s %s %s", run.GetDisplayTitle(), run.GetStatus(), run.GetHeadBranch())
	}

	clock.Advance(time.Second)
	run, _, err = gh.Actions.GetWorkflowRunByID(ctx, "acme", "app", run.GetID())
	if err != nil || run.GetStatus() != "waiting" {
		t.Fatalf("GetWorkflowRunByID = %s, %v; want waiting", run.GetStatus(), err)
	}
	// go-github v60 lacks the GET of pending deployments.
	req, err := gh.NewRequest("GET", "repos/acme/app/actions/runs/"+itoa(run.GetID())+"/pending_deployments", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pending []struct {
		Environment struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"environment"`
	}
	if _, err := gh.Do(ctx, req, &pending); err != nil || len(pending) != 1 {
		t.Fatalf("pending deployments = %+v, %v", pending, err)
	}
	if _, _, err := gh.Actions.PendingDeployments(ctx, "acme", "app", run.GetID(), &github.PendingDeploymentsRequest{
		EnvironmentIDs: []int64{pending[0].Environment.ID}, State: "approved", Comment: "go",
	}); err != nil {
		t.Fatalf("PendingDeployments: %v", err)
	}
	jobs, _, err := gh.Actions.ListWorkflowJobs(ctx, "acme", "app", run.GetID(), nil)
	if err != nil || jobs.GetTotalCount() != 1 || jobs.Jobs[0].GetStatus() != "in_progress" {
		t.Fatalf("ListWorkflowJobs = %+v, %v", jobs, err)
	}
	if job, _, err := gh.Actions.GetWorkflowJobByID(ctx, "acme", "app", jobs.Jobs[0].GetID()); err != nil || job.GetRunID() != run.GetID() {
		t.Errorf("GetWorkflowJobByID = %+v, %v", job, err)
	}

	_, err = gh.Actions.CancelWorkflowRunByID(ctx, "acme", "app", run.GetID())
	var accepted *github.AcceptedError
	if !errors.As(err, &accepted) {
		t.Errorf("CancelWorkflowRunByID = %v, want go-github's AcceptedError for 202", err)
	}
	run, _, err = gh.Actions.GetWorkflowRunByID(ctx, "acme", "app", run.GetID())
	if err != nil || run.GetConclusion() != "cancelled" {
		t.Errorf("after cancel: %s/%s, %v", run.GetStatus(), run.GetConclusion(), err)
	}

	env, _, err := gh.Repositories.GetEnvironment(ctx, "acme", "app", "production")
	if err != nil || len(env.ProtectionRules) != 1 || env.ProtectionRules[0].Reviewers[0].Reviewer == nil {
		t.Errorf("GetEnvironment = %+v, %v", env, err)
	}
	if _, _, err := gh.Repositories.CreateUpdateEnvironment(ctx, "acme", "app", "qa", &github.CreateUpdateEnvironment{WaitTimer: github.Int(5)}); err != nil {
		t.Errorf("CreateUpdateEnvironment: %v", err)
	}
	rl, _, err := gh.RateLimit.Get(ctx)
	if err != nil || rl.GetCore().Limit != 5000 || rl.GetCore().Remaining != 5000-s.RateLimitUsed() {
		t.Errorf("RateLimit.Get = %+v, %v", rl.GetCore(), err)
	}
}

func TestGoGitHubRateLimitErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, Options{Faults: Faults{Rate: 1, Kinds: []FaultKind{FaultSecondaryRateLimit}, RetryAfter: 3 * time.Second}})
	_, _, err := newGitHub(t, s).Repositories.ListDeployments(ctx, "acme", "app", nil)
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.GetRetryAfter() != 3*time.Second {
		t.Errorf("secondary limit: %v, want an AbuseRateLimitError retrying after 3s", err)
	}

	s = newServer(t, Options{RateLimit: 1})
	gh := newGitHub(t, s)
	if _, _, err := gh.Repositories.ListDeployments(ctx, "acme", "app", nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Repositories.ListDeployments(ctx, "acme", "app", nil)
	var primary *github.RateLimitError
	if !errors.As(err, &primary) || primary.Rate.Remaining != 0 {
		t.Errorf("primary limit: %v, want a RateLimitError", err)
	}
}
