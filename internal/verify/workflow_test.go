package verify

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// TestWorkflowCheck dispatches a verification workflow on the in-memory
// GitHub (in a bubble, where its durations are exact): its conclusion
// decides, and its inputs name the node.
func TestWorkflowCheck(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := githubtest.New(githubtest.Options{InMemory: true})
		t.Cleanup(srv.Close)
		var seen []string
		srv.AddWorkflow("verify.yml", githubtest.Workflow{
			Inputs: []string{"service", "environment", "ref", "suite"},
			Script: func(in map[string]string) githubtest.RunScript {
				seen = append(seen, in["service"]+"@"+in["environment"]+" "+in["ref"][:4]+" "+in["suite"])
				if in["service"] == "web" {
					return githubtest.RunScript{Duration: time.Minute, Conclusion: "failure"}
				}
				return githubtest.RunScript{Duration: 3 * time.Minute, Conclusion: "success"}
			},
		})
		c := clock.Real{}
		client, err := github.New(context.Background(), github.Config{APIURL: srv.URL(), Token: "t", Owner: "acme", Repo: "app", HTTPClient: srv.Client(), Sleep: c.Sleep, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		gh := &deploy.GitHub{Client: client, Clock: c, Poll: github.Backoff{Min: 10 * time.Second, Max: 10 * time.Second, Factor: 1}}
		m, err := manifest.Parse("promotion.yaml", []byte(`version: 1
environments: [{name: staging}]
defaults:
  deploy: {command: "true"}
  verify:
    failures: 1
    deadline: 10m
    checks: [{name: e2e, workflow: {file: verify.yml, inputs: {suite: smoke}}}]
services:
  api: {paths: ["api/**"]}
  web: {paths: ["web/**"]}
`))
		if err != nil {
			t.Fatal(err)
		}
		v := &Verifier{Manifest: m, Commit: srv.SHA("main"), Workflows: gh, DispatchRef: "main"}
		start := time.Now()
		var last []run.Update
		report := func(u run.Update) { last = append(last, u) }
		if err := v.Verify(t.Context(), &plan.Node{ID: "api@staging", Service: "api", Environment: "staging", GitHubEnvironment: "staging"}, report); err != nil {
			t.Errorf("Verify(api) = %v, want nil", err)
		}
		if took := time.Since(start); took != 3*time.Minute { // polled every 10s: the poll at 3m sees it completed
			t.Errorf("Verify(api) took %v, want the run's 3m", took)
		}
		err = v.Verify(t.Context(), &plan.Node{ID: "web@staging", Service: "web", Environment: "staging", GitHubEnvironment: "staging"}, report)
		if err == nil || !strings.Contains(err.Error(), `workflow check "e2e": 1 of 1 attempts failed (limit 1); the last: verify.yml concluded failure: `) || !strings.HasSuffix(err.Error(), "last value: failure") {
			t.Errorf("Verify(web) = %v, want the failed run named", err)
		}
		if got := strings.Join(seen, ", "); got != "api@staging "+v.Commit[:4]+" smoke, web@staging "+v.Commit[:4]+" smoke" {
			t.Errorf("runs dispatched with %s", got)
		}

		v.Workflows = nil
		err = v.Verify(t.Context(), &plan.Node{ID: "api@staging", Service: "api", Environment: "staging"}, report)
		if err == nil || !strings.Contains(err.Error(), "a workflow check needs GitHub") {
			t.Errorf("Verify(no GitHub) = %v, want it to say why", err)
		}
	})
}
