package github

import (
	stdcmp "cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDispatch(t *testing.T) {
	t.Parallel()
	details, err := os.ReadFile("testdata/dispatch_run_details.json")
	if err != nil {
		t.Fatal(err)
	}
	rejected := `{"message":"Invalid request.\n\n\"return_run_details\" is not a permitted key.","documentation_url":"https://docs.github.com/enterprise-server@3.14/rest/actions/workflows#create-a-workflow-dispatch-event"}`
	withDetails := `{"ref":"main","inputs":{"service":"api"},"return_run_details":true}` + "\n"
	without := `{"ref":"main","inputs":{"service":"api"}}` + "\n"
	tests := []struct {
		what       string
		workflow   string
		inputs     map[string]any
		replies    []reply
		wantPath   string
		wantBodies []string
		want       Dispatched
		wantStatus int
		// wantErr is a part of the error; "" means success.
		wantErr       string
		wantAmbiguous bool
	}{
		{
			what:       "run details",
			replies:    []reply{{status: 200, body: string(details)}},
			wantBodies: []string{withDetails},
			want: Dispatched{
				RunID:   1,
				RunURL:  "https://api.github.com/repos/octo-org/octo-repo/actions/runs/1",
				HTMLURL: "https://github.com/octo-org/octo-repo/actions/runs/1",
			},
		},
		{
			what:       "204 from a server without run details",
			replies:    []reply{{status: 204}},
			wantBodies: []string{withDetails},
		},
		{
			what:       "422 for return_run_details: sent again without it",
			replies:    []reply{{status: 422, body: rejected}, {status: 204}},
			wantBodies: []string{withDetails, without},
		},
		{
			what:       "another 422 is the caller's",
			replies:    []reply{{status: 422, body: `{"message":"Unexpected inputs provided: [\"service\"]"}`}},
			wantBodies: []string{withDetails},
			wantStatus: 422,
			wantErr:    `dispatch workflow "deploy.yml" on "main": 422 Unprocessable Entity: GitHub says "Unexpected inputs provided: [\"service\"]"`,
		},
		{
			what:          "502 is ambiguous: a dispatch is not idempotent",
			replies:       []reply{{status: 502}, {status: 204}},
			wantBodies:    []string{withDetails},
			wantStatus:    502,
			wantErr:       "may or may not",
			wantAmbiguous: true,
		},
		{
			what:       "a workflow ID",
			workflow:   "161335",
			replies:    []reply{{status: 204}},
			wantPath:   repoPath("actions/workflows/161335/dispatches"),
			wantBodies: []string{withDetails},
		},
		{
			what:     "too many inputs",
			inputs:   manyInputs(26),
			wantErr:  "26 inputs, but GitHub takes at most 25",
			wantPath: "-",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			workflow := stdcmp.Or(tt.workflow, "deploy.yml")
			path := stdcmp.Or(tt.wantPath, repoPath("actions/workflows/deploy.yml/dispatches"))
			handlers := map[string]http.HandlerFunc{}
			if len(tt.replies) > 0 {
				handlers["POST "+path] = script(t, tt.replies...)
			}
			srv := newServer(t, handlers)
			c, _ := newTestClient(t, srv, nil)
			inputs := tt.inputs
			if inputs == nil {
				inputs = map[string]any{"service": "api"}
			}

			got, err := c.Dispatch(context.Background(), workflow, "main", inputs)

			if tt.wantErr == "" && err != nil {
				t.Fatalf("Dispatch: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Dispatch error = %v, want it to contain %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Dispatch (-want +got):\n%s", diff)
			}
			if got := StatusCode(err); got != tt.wantStatus {
				t.Errorf("StatusCode(%v) = %d, want %d", err, got, tt.wantStatus)
			}
			var ambiguous *AmbiguousError
			if got := errors.As(err, &ambiguous); got != tt.wantAmbiguous {
				t.Errorf("errors.As(%v, *AmbiguousError) = %v, want %v", err, got, tt.wantAmbiguous)
			}
			var bodies []string
			for _, r := range srv.seen() {
				bodies = append(bodies, r.Body)
				if r.Method != http.MethodPost || r.Path != path {
					t.Errorf("request %s %s, want POST %s", r.Method, r.Path, path)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
					t.Errorf("Authorization = %q, want the token", got)
				}
			}
			if diff := cmp.Diff(tt.wantBodies, bodies); diff != "" {
				t.Errorf("bodies (-want +got):\n%s", diff)
			}
		})
	}
}

func manyInputs(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[fmt.Sprintf("input_%d", i)] = "x"
	}
	return m
}

func TestPendingDeployments(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile("testdata/pending_deployments.json")
	if err != nil {
		t.Fatal(err)
	}
	route := "GET " + repoPath("actions/runs/30433642/pending_deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 200, body: string(example)})})
	c, _ := newTestClient(t, srv, nil)

	got, err := c.PendingDeployments(context.Background(), 30433642)

	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2020, 11, 23, 22, 0, 40, 0, time.UTC)
	want := []PendingDeployment{{
		Environment: PendingEnvironment{
			ID:      161088068,
			NodeID:  "MDExOkVudmlyb25tZW50MTYxMDg4MDY4",
			Name:    "staging",
			URL:     "https://api.github.com/repos/github/hello-world/environments/staging",
			HTMLURL: "https://github.com/github/hello-world/deployments/activity_log?environments_filter=staging",
		},
		WaitTimer:             30,
		WaitTimerStartedAt:    &started,
		CurrentUserCanApprove: true,
		Reviewers: []Reviewer{
			{Type: "User", Reviewer: ReviewerAccount{ID: 1, Login: "octocat", HTMLURL: "https://github.com/octocat"}},
			{Type: "Team", Reviewer: ReviewerAccount{ID: 1, Slug: "justice-league", Name: "Justice League", HTMLURL: "https://github.com/orgs/github/teams/justice-league"}},
		},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PendingDeployments (-want +got):\n%s", diff)
	}
	if n := srv.calls(route); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestReviewProtectionRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what        string
		state       string
		comment     string
		reply       reply
		wantBody    map[string]string
		wantErr     string
		wantNoCalls bool
	}{
		{
			what:     "approve",
			state:    "approved",
			comment:  "All health checks passed.",
			reply:    reply{status: 204},
			wantBody: map[string]string{"environment_name": "production", "state": "approved", "comment": "All health checks passed."},
		},
		{
			what:     "status report",
			comment:  "Waiting for canary metrics.",
			reply:    reply{status: 204},
			wantBody: map[string]string{"environment_name": "production", "comment": "Waiting for canary metrics."},
		},
		{
			what:        "unknown state",
			state:       "approve",
			wantErr:     `state "approve": use "approved", "rejected"`,
			wantNoCalls: true,
		},
		{
			what:        "status report without comment",
			wantErr:     "needs a comment",
			wantNoCalls: true,
		},
		{
			what:     "not the App that owns the rule",
			state:    "rejected",
			reply:    reply{status: 403, body: `{"message":"Resource not accessible by integration"}`},
			wantBody: map[string]string{"environment_name": "production", "state": "rejected"},
			wantErr:  "only the GitHub App that owns the custom protection rule can review it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			route := "POST " + repoPath("actions/runs/99/deployment_protection_rule")
			srv := newServer(t, map[string]http.HandlerFunc{route: script(t, tt.reply)})
			c, _ := newTestClient(t, srv, nil)

			err := c.ReviewProtectionRule(context.Background(), 99, "production", tt.state, tt.comment)

			if tt.wantErr == "" && err != nil {
				t.Fatalf("ReviewProtectionRule: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ReviewProtectionRule error = %v, want it to contain %q", err, tt.wantErr)
			}
			seen := srv.seen()
			if tt.wantNoCalls {
				if len(seen) != 0 {
					t.Errorf("requests = %d, want none", len(seen))
				}
				return
			}
			if len(seen) != 1 {
				t.Fatalf("requests = %d, want 1", len(seen))
			}
			var body map[string]string
			if err := json.Unmarshal([]byte(seen[0].Body), &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantBody, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}
