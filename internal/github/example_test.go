package github_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/promote-dev/promote/internal/github"
)

func ExampleClient_Dispatch() {
	// A stand-in for GitHub that answers a dispatch with its run.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"workflow_run_id":42,"run_url":"https://api.github.com/repos/octo-org/octo-repo/actions/runs/42","html_url":"https://github.com/octo-org/octo-repo/actions/runs/42"}`)
	}))
	defer srv.Close()
	env := map[string]string{
		"GITHUB_API_URL":    srv.URL,
		"GITHUB_REPOSITORY": "octo-org/octo-repo",
		"GITHUB_TOKEN":      "ghs_example",
	}

	ctx := context.Background()
	cfg, err := github.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := github.New(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	run, err := c.Dispatch(ctx, "deploy.yml", "main", map[string]any{"service": "api", "environment": "staging"})
	var ambiguous *github.AmbiguousError
	switch {
	case errors.As(err, &ambiguous):
		fmt.Println("GitHub may have started the run: list the runs before dispatching again")
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(run.RunID, run.HTMLURL)
	}
	fmt.Println(c.Counted(), "request(s) counted against the rate limit")
	// Output:
	// 42 https://github.com/octo-org/octo-repo/actions/runs/42
	// 1 request(s) counted against the rate limit
}
