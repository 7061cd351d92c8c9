package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// TestGitHubVerifyHook checks that a node's Deployment stays in_progress
// while its checks run after the deploy run succeeded, then ends success,
// or failure with the checks' error, which fails the node without a retry.
func TestGitHubVerifyHook(t *testing.T) {
	t.Parallel()
	for _, healthy := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			w := newWorld(t, githubtest.Options{})
			ex := w.executor()
			var during []string
			ex.Verify = func(ctx context.Context, n *plan.Node, report func(run.Update)) error {
				if n.ID == "a@dev" {
					during = append(during, last(w.srv.Deployments()[0]))
				}
				if err := w.clock.Sleep(ctx, 3*time.Minute); err != nil {
					return err
				}
				if !healthy && n.ID == "a@dev" {
					return errors.New(`verification of a@dev failed: http check "health": 2 of 2 attempts failed`)
				}
				return nil
			}
			p := selectPlan(t, workflowManifest, dag.Selection{To: "dev"}, ex.Commit)
			st := w.run(t, context.Background(), ex, p)
			deps := w.srv.Deployments()
			if len(during) == 0 || during[0] != "in_progress" {
				t.Errorf("deployment states while verifying = %v, want in_progress", during)
			}
			got := stateOf(st)
			if healthy {
				if got["a@dev"] != run.Succeeded || last(deps[0]) != "success" {
					t.Errorf("healthy: a@dev %s, deployment %v; want succeeded and success", got["a@dev"], statesOf(deps[0]))
				}
				return
			}
			if got["a@dev"] != run.Failed || got["b@dev"] != run.Skipped || len(deps) != 1 || last(deps[0]) != "failure" {
				t.Errorf("unhealthy: states %v, deployments %d ending %v; want a@dev failed once, b@dev skipped, failure", got, len(deps), statesOf(deps[0]))
			}
			if d := deps[0].Statuses[len(deps[0].Statuses)-1].Description; !strings.Contains(d, `http check "health"`) {
				t.Errorf("failure description = %q, want the failed check", d)
			}
		})
	}
}

// TestRunWorkflow dispatches a verification workflow and reads its
// conclusion.
func TestRunWorkflow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, githubtest.Options{})
		w.srv.AddWorkflow("verify.yml", githubtest.Workflow{
			Name:   "verify",
			Inputs: []string{"service", "environment", "ref"},
			Script: func(in map[string]string) githubtest.RunScript {
				if in["service"] == "broken" {
					return githubtest.RunScript{Duration: time.Minute, Conclusion: "failure"}
				}
				return githubtest.RunScript{Duration: 2 * time.Minute, Conclusion: "success"}
			},
		})
		ex := w.executor()
		for svc, want := range map[string]string{"a": "success", "broken": "failure"} {
			start := time.Now()
			got, url, err := ex.RunWorkflow(t.Context(), "verify.yml", "main", map[string]any{"service": svc, "environment": "dev", "ref": ex.Commit})
			if err != nil || got != want || !strings.Contains(url, "/actions/runs/") {
				t.Errorf("RunWorkflow(%s) = %q, %q, %v; want %s and the run's link", svc, got, url, err, want)
			}
			if took := time.Since(start); took > 3*time.Minute {
				t.Errorf("RunWorkflow(%s) took %v, want within a poll of the run's end", svc, took)
			}
		}
		if _, _, err := ex.RunWorkflow(t.Context(), "nope.yml", "main", nil); err == nil || !strings.Contains(err.Error(), "dispatch nope.yml") {
			t.Errorf("RunWorkflow(missing workflow) error = %v, want the dispatch's", err)
		}
	})
}

// TestCommandVerifyHook checks that a command node is verified only after
// its command succeeded, and fails with its verification.
func TestCommandVerifyHook(t *testing.T) {
	t.Parallel()
	var verified []string
	c := &Command{Dir: t.TempDir(), Ref: "abc", Verify: func(ctx context.Context, n *plan.Node, report func(run.Update)) error {
		verified = append(verified, n.ID)
		if n.Service == "bad" {
			return errors.New("verification of bad@dev failed")
		}
		return nil
	}}
	tests := []struct {
		service, command, wantErr string
	}{
		{"good", "true", ""},
		{"bad", "true", "verification of bad@dev failed"},
		{"broken", "exit 4", "exited with status 4"},
	}
	for _, tt := range tests {
		err := c.Deploy(t.Context(), &plan.Node{ID: tt.service + "@dev", Service: tt.service, Environment: "dev", Deploy: plan.Deploy{Command: tt.command}}, 1, func(run.Update) {})
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("Deploy(%s) = %v, want %q", tt.service, err, tt.wantErr)
		}
	}
	if strings.Join(verified, ",") != "good@dev,bad@dev" {
		t.Errorf("verified %v, want good@dev and bad@dev: a failed command is not verified", verified)
	}
}
