package kpi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/promote-dev/promote/internal/github"
)

// GitHubDeployments lists the repository's Deployments created since then
// that Promote did not make (neither recorded in the chain, by id, nor
// carrying Promote's payload), with the final state of each that ended:
// success, or failure and error. Deployments still running, or only ever
// inactive, are left out. Every GET goes through the client's ETag cache, so
// a refresh when nothing changed costs answers of 304, which GitHub does not
// count against the rate limit.
func GitHubDeployments(ctx context.Context, c *github.Client, since time.Time, promoted map[int64]bool) ([]Deployment, error) {
	var out []Deployment
	opts := &gh.DeploymentsListOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		page, resp, err := c.GH.Repositories.ListDeployments(ctx, c.Owner, c.Repo, opts)
		if err != nil {
			return nil, fmt.Errorf("listing GitHub deployments: %w", err)
		}
		older := false
		for _, d := range page {
			if d.GetCreatedAt().Before(since) {
				older = true // newest first: the rest are older too
				break
			}
			if promoted[d.GetID()] || isPromotes(d) {
				continue
			}
			dep, ok, err := finalState(ctx, c, d)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, dep)
			}
		}
		if older || resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// isPromotes reports whether Promote made d: its payload has a "promote"
// object.
func isPromotes(d *gh.Deployment) bool {
	var p struct {
		Promote map[string]any `json:"promote"`
	}
	return d.Payload != nil && json.Unmarshal(d.Payload, &p) == nil && p.Promote != nil
}

// finalState returns d as a Deployment with its newest final status.
func finalState(ctx context.Context, c *github.Client, d *gh.Deployment) (Deployment, bool, error) {
	statuses, _, err := c.GH.Repositories.ListDeploymentStatuses(ctx, c.Owner, c.Repo, d.GetID(), &gh.ListOptions{PerPage: 100})
	if err != nil {
		return Deployment{}, false, fmt.Errorf("listing the statuses of GitHub deployment %d: %w", d.GetID(), err)
	}
	for _, s := range statuses { // newest first
		switch s.GetState() {
		case "success", "failure", "error":
			return Deployment{
				ID: d.GetID(), Service: serviceOfTask(d.GetTask()), Environment: d.GetEnvironment(), Commit: d.GetSHA(),
				Succeeded: s.GetState() == "success", FinishedAt: s.GetCreatedAt().Time,
			}, true, nil
		}
	}
	return Deployment{}, false, nil
}
