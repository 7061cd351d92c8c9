package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/rollback"
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

// attach gives the executors the verifier's checks; nothing without a
// verifier.
func attach(v *verify.Verifier, cmd *deploy.Command, gh *deploy.GitHub) {
	if v == nil {
		return
	}
	cmd.Verify = v.Verify
	if gh != nil {
		gh.Verify = v.Verify
		v.Workflows = gh
	}
}

// rollbackHook returns run.Options.Rollback for the plan's nodes whose
// service rolls back in their environment, reading the last good commits
// from the evidence in l; nil when no node may roll back.
func (c *Command) rollbackHook(rt *actions.Runtime, o runOptions, p *plan.Plan, ex run.Executor, v *verify.Verifier, l *ledger) (func(context.Context, *plan.Node, error, func(run.Update)) *run.Rollback, error) {
	kinds, ok := ex.(deploy.ByKind)
	if !ok {
		return nil, nil // a dry run
	}
	_, m, err := c.loadManifest(rt, o.manifest, false)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(p.Nodes, func(n plan.Node) bool {
		i, _ := m.Service(n.Service)
		return m.Services[i].Rollback.Enabled(n.Environment)
	}) {
		return nil, nil
	}
	gh, _ := kinds.Workflow.(*deploy.GitHub)
	cmd, _ := kinds.Command.(*deploy.Command)
	auto := &rollback.Auto{
		Manifest: m, From: p.Commit, Now: time.Now,
		Deploy:  deployer(cmd, gh, v),
		Chooser: &rollback.Chooser{Dir: filepath.Dir(o.manifest)},
		Load:    l.verified,
	}
	if gh != nil {
		auto.Chooser.Deployments = gh
	}
	return auto.Rollback, nil
}

// deployer deploys a node at another commit with the run's executors,
// verifying it with v's checks, if any.
func deployer(cmd *deploy.Command, gh *deploy.GitHub, v *verify.Verifier) rollback.Deployer {
	return func(commit, why string) run.Executor {
		c := cmd.At(commit)
		var g *deploy.GitHub
		if gh != nil {
			g = gh.At(commit, why)
		}
		if v != nil {
			attach(v.At(commit), c, g)
		}
		ex := deploy.ByKind{Command: c}
		if g != nil {
			ex.Workflow = g
		}
		return ex
	}
}

// verified reads the evidence log, verifying it.
func (l *ledger) verified(ctx context.Context) ([]evidence.Entry, error) {
	switch {
	case l == nil:
		return nil, errors.New("the manifest keeps no evidence (add an evidence section): the evidence names the last commit that succeeded")
	case l.store == nil:
		return nil, fmt.Errorf("the evidence store cannot be reached: %w", l.storeErr)
	}
	return (&evidence.Verifier{Keys: l.keys}).Read(ctx, l.store)
}
