package github_test

import (
	"context"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
)

func TestCommitTime(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	srv := githubtest.New(githubtest.Options{Clock: clock.NewManual(start)})
	t.Cleanup(srv.Close)
	c, err := github.New(context.Background(), github.Config{APIURL: srv.URL(), Token: "t", Owner: "acme", Repo: "app", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := srv.SHA("main")
	first, err := c.CommitTime(ctx, sha)
	if err != nil || first.IsZero() {
		t.Fatalf("CommitTime(%s) = %v, %v; want a time", sha, first, err)
	}
	// The fake's commits are dated when its repository was created, a day
	// before the server started.
	if want := start.Add(-24 * time.Hour); !first.Equal(want) {
		t.Errorf("CommitTime(%s) = %v, want %v", sha, first, want)
	}
	again, err := c.CommitTime(ctx, sha)
	if err != nil || !again.Equal(first) {
		t.Errorf("CommitTime again = %v, %v; want %v", again, err, first)
	}
	if s := c.Stats()["GET /repos/{owner}/{repo}/commits/{ref}"]; s.Total != 2 || s.NotModified != 1 {
		t.Errorf("commit requests %+v, want 2 with the second answered 304", s)
	}
	if _, err := c.CommitTime(ctx, "0000000000000000000000000000000000000000"); github.StatusCode(err) != 422 {
		t.Errorf("CommitTime(unknown) error = %v, want GitHub's 422", err)
	}
}
