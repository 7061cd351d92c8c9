package githubtest_test

import (
	"fmt"
	"github.com/promote-dev/promote/internal/clock"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/githubtest"
)

// A dispatched run waits for its protected environment, is approved by the
// automatic reviewer five minutes later, runs for two minutes and succeeds.
func Example() {
	clock := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	s := githubtest.New(githubtest.Options{Clock: clock})
	defer s.Close()
	s.AddEnvironment("production", githubtest.Protection{Reviewers: []string{"alice"}})
	s.AddWorkflow("deploy.yml", githubtest.Workflow{
		Name:        "Deploy",
		RunName:     "Deploy ${{ inputs.service }}",
		Inputs:      []string{"service"},
		Environment: "production",
		Script: func(map[string]string) githubtest.RunScript {
			return githubtest.RunScript{QueueDelay: 30 * time.Second, Duration: 2 * time.Minute}
		},
	})
	s.SetApprover(func(runID int64, env string) (time.Duration, bool) { return 5 * time.Minute, true })

	req, err := http.NewRequest("POST", s.URL()+"repos/acme/app/actions/workflows/deploy.yml/dispatches",
		strings.NewReader(`{"ref":"main","inputs":{"service":"api"},"return_run_details":true}`))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer example")
	resp, err := s.Client().Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	for _, d := range []time.Duration{0, time.Minute, 5 * time.Minute, 2 * time.Minute} {
		clock.Advance(d)
		r := s.Runs()[0]
		fmt.Printf("%s %s: %s\n", clock.Now().Format("15:04"), r.DisplayTitle, strings.TrimSpace(r.Status+" "+r.Conclusion))
	}
	// Output:
	// 200 OK
	// 09:00 Deploy api: queued
	// 09:01 Deploy api: waiting
	// 09:06 Deploy api: in_progress
	// 09:08 Deploy api: completed success
}

// BenchmarkCreateDeployment measures one deployment and one status through
// the full pipeline: authentication, rate limit, routing and JSON.
func BenchmarkCreateDeployment(b *testing.B) {
	s := githubtest.New(githubtest.Options{RateLimit: 1 << 30})
	defer s.Close()
	c := s.Client()
	post := func(path, body string) {
		req, err := http.NewRequest("POST", s.URL()+path, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer bench")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	for b.Loop() {
		post("repos/acme/app/deployments", `{"ref":"main","environment":"staging","auto_merge":false,"required_contexts":[]}`)
	}
	b.StopTimer()
	deps := s.Deployments()
	post(fmt.Sprintf("repos/acme/app/deployments/%d/statuses", deps[len(deps)-1].ID), `{"state":"success"}`)
}
