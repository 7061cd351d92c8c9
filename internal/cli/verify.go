package cli

import (
	"context"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
	"github.com/promote-dev/promote/internal/verify"
)

// verifier returns the post-deploy checks of the manifest the plan was
// made from, or nil when it verifies no node of the plan.
func (c *Command) verifier(rt *actions.Runtime, o runOptions, p *plan.Plan, dispatchRef string, prog *progress) (*verify.Verifier, error) {
	_, m, err := c.loadManifest(rt, o.manifest, false)
	if err != nil {
		return nil, err
	}
	v := &verify.Verifier{Manifest: m, Commit: p.Commit, Getenv: c.Getenv, DispatchRef: dispatchRef, Logger: prog}
	for i := range p.Nodes {
		if len(v.Checks(&p.Nodes[i])) > 0 {
			return v, nil
		}
	}
	return nil, nil
}

// soakWatch is run.Options.Soak.
type soakWatch = func(context.Context, *plan.Node, time.Duration, func(run.Update)) error

// attach gives the executors the verifier's checks and returns the soak
// watch for run.Options, nil without a verifier.
func attach(v *verify.Verifier, cmd *deploy.Command, gh *deploy.GitHub) soakWatch {
	if v == nil {
		return nil
	}
	cmd.Verify = v.Verify
	if gh != nil {
		gh.Verify = v.Verify
		v.Workflows = gh
	}
	return v.Soak
}
