package deploy

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v60/github"
	"github.com/promote-dev/promote/internal/plan"
)

// At returns an executor like g that deploys commit instead, as a rollback
// whose Deployments say why.
func (g *GitHub) At(commit, why string) *GitHub {
	g.init()
	return &GitHub{
		Client: g.Client, Commit: commit, DispatchRef: g.DispatchRef, RunURL: g.RunURL, ServerURL: g.ServerURL,
		LockTimeout: g.LockTimeout, LockLease: g.LockLease, StartGrace: g.StartGrace, RunLookup: g.RunLookup,
		Clock: g.Clock, Poll: g.Poll, Verify: g.Verify, Rollback: why,
	}
}

// At returns an executor like c that deploys commit instead (PROMOTE_REF).
func (c *Command) At(commit string) *Command {
	return &Command{Dir: c.Dir, Ref: commit, Env: c.Env, Logger: c.Logger, Grace: c.Grace, Verify: c.Verify}
}

// Deployed returns the newest Deployment of commit for the node's service
// in its environment that succeeded: its latest status is success, or
// inactive after a success (GitHub's auto_inactive, or a newer success).
// It returns 0 when GitHub has none.
func (g *GitHub) Deployed(ctx context.Context, n *plan.Node, commit string) (int64, error) {
	g.init()
	c := g.Client
	ds, _, err := c.GH.Repositories.ListDeployments(ctx, c.Owner, c.Repo, &gh.DeploymentsListOptions{
		SHA: commit, Task: task(n.Service), Environment: n.GitHubEnvironment, ListOptions: gh.ListOptions{PerPage: 30}})
	if err != nil {
		return 0, fmt.Errorf("list the deployments of %s in %s: %w", short(commit), n.GitHubEnvironment, err)
	}
	for _, d := range ds {
		s, err := g.latestState(ctx, d.GetID())
		if err != nil {
			return 0, fmt.Errorf("read the status of deployment #%d: %w", d.GetID(), err)
		}
		if s != nil && (s.GetState() == "success" || s.GetState() == "inactive" && hadSuccess(ctx, g, d.GetID())) {
			return d.GetID(), nil
		}
	}
	return 0, nil
}
