package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promote-dev/promote/internal/github"
)

// RunWorkflow dispatches a workflow on ref, such as a verification
// workflow, and follows its run until it completes. It returns the run's
// conclusion (success, failure, cancelled, ...) and its link. It needs the
// run's id from the dispatch's answer (return_run_details): a GitHub that
// does not give it is reported, since a verification run has no
// Deployment whose id its name could carry. Cancelling ctx cancels the run.
func (g *GitHub) RunWorkflow(ctx context.Context, file, ref string, inputs map[string]any) (conclusion, runURL string, err error) {
	g.init()
	d, err := g.Client.Dispatch(ctx, file, ref, inputs)
	if err != nil {
		return "", "", fmt.Errorf("dispatch %s on %s: %w", file, ref, err)
	}
	if d.RunID == 0 {
		return "", "", errors.New("this GitHub does not say which run a dispatch started (return_run_details), which a verification workflow needs; use an http, prometheus or command check instead")
	}
	c := g.Client
	link := fmt.Sprintf("%s/%s/%s/actions/runs/%d", g.ServerURL, c.Owner, c.Repo, d.RunID)
	poll := g.Poll
	failures := 0
	for {
		if err := g.Clock.Sleep(ctx, poll.Next(false)); err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = c.GH.Actions.CancelWorkflowRunByID(cctx, c.Owner, c.Repo, d.RunID)
			return "", link, fmt.Errorf("stopped following %s, and cancelled it: %w", link, err)
		}
		r, _, err := c.GH.Actions.GetWorkflowRunByID(ctx, c.Owner, c.Repo, d.RunID)
		switch {
		case err != nil:
			failures++
			if code := github.StatusCode(err); code == 401 || code == 403 || code == 404 || failures > 20 {
				return "", link, fmt.Errorf("lost track of %s: %w", link, err)
			}
		case r.GetStatus() == "completed":
			return r.GetConclusion(), link, nil
		default:
			failures = 0
		}
	}
}
