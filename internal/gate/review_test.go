package gate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	gh "github.com/google/go-github/v60/github"

	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
)

// reviewWorld is a run of deploy.yml waiting on production, whose required
// reviewers are alice and bob; bob's token may only read.
func reviewWorld(t *testing.T) (*world, int64) {
	t.Helper()
	w := newWorld(t, githubtest.Options{
		Tokens: map[string]string{
			"bot-token": "promote-bot", "alice-token": "alice", "bob-token": "bob", "actions-token": "github-actions[bot]",
		},
		ReadOnlyTokens: []string{"bob-token"},
	})
	w.srv.AddEnvironment("production", githubtest.Protection{Reviewers: []string{"alice", "bob"}})
	w.srv.AddWorkflow("deploy.yml", githubtest.Workflow{Environment: "production"})
	run, err := w.client.Dispatch(context.Background(), "deploy.yml", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, run.RunID
}

// as is the world's gate with a client of token.
func (w *world) as(token string) *Gate {
	w.t.Helper()
	client, err := github.New(context.Background(), github.Config{
		APIURL: w.srv.URL(), Token: token, Owner: "acme", Repo: "app", HTTPClient: w.srv.Client(),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	g := w.gate(bubbleManifest)
	g.cfg.GitHub = client
	return g
}

func TestReviewByReviewer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		w, runID := reviewWorld(t)
		g := w.as("alice-token")
		target := Target{Service: "api", Environment: "production", Commit: w.commit, RunID: runID}
		d, err := g.Decide(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		if d.Result != Deny {
			t.Fatalf("Decide = %s, want deny: staging never ran", d.Result)
		}
		checkInput(t, d.Input)
		var in Input
		if err := json.Unmarshal(d.Input, &in); err != nil {
			t.Fatal(err)
		}
		if in.GitHub.Run == nil || in.GitHub.Run.ID != runID || in.Target.Actor != "promote-bot" ||
			len(in.GitHub.Pending) != 1 || !in.GitHub.Pending[0].CanApprove || in.GitHub.Pending[0].Environment != "production" {
			t.Errorf("the input's GitHub facts = %+v, actor %q; want run %d by promote-bot waiting on production, which alice may approve", in.GitHub, in.Target.Actor, runID)
		}

		rv, err := g.Review(ctx, target, d)
		if err != nil {
			t.Fatal(err)
		}
		if rv.State != "rejected" || rv.Environment != "production" {
			t.Errorf("Review = %+v, want production rejected", rv)
		}
		approvals, err := g.cfg.GitHub.Approvals(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if len(approvals) != 1 || approvals[0].State != "rejected" || approvals[0].User.Login != "alice" ||
			!strings.Contains(approvals[0].Comment, "deny previous-succeeded: api has not succeeded in staging") {
			t.Errorf("review history = %+v, want alice's rejection listing the reasons", approvals)
		}

		// The review is in the next decision's input.
		d2, err := g.Decide(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(d2.Input, &in); err != nil {
			t.Fatal(err)
		}
		if len(in.GitHub.Approvals) != 1 || in.GitHub.Approvals[0].User != "alice" || len(in.GitHub.Pending) != 0 {
			t.Errorf("approvals and pending after the review = %+v, %+v; want alice's review and nothing pending", in.GitHub.Approvals, in.GitHub.Pending)
		}
	})
}

func TestReviewRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		token  string
		target func(w *world, runID int64) Target
		status int
		want   string
	}{
		{
			what: "GITHUB_TOKEN", token: "actions-token", status: 0,
			want: "GitHub says this token may not review it (current_user_can_approve is false); only a required reviewer",
		},
		{
			what: "a reviewer's read-only token", token: "bob-token", status: http.StatusForbidden,
			want: "GitHub refused the token (403)",
		},
		{
			what: "another environment", token: "alice-token",
			target: func(w *world, runID int64) Target {
				return Target{Service: "api", Environment: "staging", Commit: w.commit, RunID: runID}
			},
			want: `the run waits on production, not on "staging"`,
		},
		{
			what: "a run that does not exist", token: "alice-token",
			target: func(w *world, runID int64) Target {
				return Target{Service: "api", Environment: "production", Commit: w.commit, RunID: runID + 1000}
			},
			status: http.StatusNotFound, want: "GitHub knows no run",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w, runID := reviewWorld(t)
				g := w.as(tt.token)
				target := Target{Service: "api", Environment: "production", Commit: w.commit, RunID: runID}
				if tt.target != nil {
					target = tt.target(w, runID)
				}
				_, err := g.Review(context.Background(), target, Decision{Result: Allow})
				var re *ReviewError
				if !errors.As(err, &re) {
					t.Fatalf("Review() error = %v, want a *ReviewError", err)
				}
				if re.Status != tt.status || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Review() error = %v (status %d), want status %d and %q", err, re.Status, tt.status, tt.want)
				}
				if approvals, _ := w.client.Approvals(context.Background(), runID); len(approvals) != 0 {
					t.Errorf("the run was reviewed: %+v", approvals)
				}
			})
		})
	}
}

// TestReviewError422 maps GitHub's own 422, for a run that waits on no
// review any more.
func TestReviewError422(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, runID := reviewWorld(t)
		g := w.as("alice-token")
		c := g.cfg.GitHub
		req := &gh.PendingDeploymentsRequest{EnvironmentIDs: []int64{1}, State: "approved", Comment: "x"}
		if _, _, err := c.GH.Actions.PendingDeployments(context.Background(), "acme", "app", runID, req); err == nil {
			t.Fatal("reviewing environment 1, which the run does not wait on, succeeded")
		} else if e := reviewError(runID, "production", err).Error(); !strings.Contains(e, "GitHub refused the review (422)") {
			t.Errorf("reviewError(422) = %s", e)
		}
	})
}

func TestComment(t *testing.T) {
	t.Parallel()
	d := Decision{Result: Warn, BreakGlass: "INC-1", Reasons: []Reason{
		{Policy: "freeze", Result: Warn, Message: "overridden", Link: "https://x"},
		{Policy: "soak", Result: Allow, Message: "ok"},
	}}
	want := "promote gate: warn (break-glass: INC-1)\n- warn freeze: overridden (https://x)\n1 policies passed."
	if got := Comment(d); got != want {
		t.Errorf("Comment() = %q, want %q", got, want)
	}
	long := Decision{Result: Deny}
	for range 100 {
		long.Reasons = append(long.Reasons, Reason{Policy: "p", Result: Deny, Message: strings.Repeat("x", 100)})
	}
	if got := Comment(long); len(got) > maxComment || !strings.Contains(got, "more findings") {
		t.Errorf("Comment() of 100 long reasons is %d bytes, want at most %d, ending with how many more", len(got), maxComment)
	}
}
