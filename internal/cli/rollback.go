package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/rollback"
	"github.com/promote-dev/promote/internal/run"
	"github.com/promote-dev/promote/internal/verify"
)

type rollbackOptions struct {
	manifest, service, environment, to, reason, dispatchRef string
	lockTimeout                                             time.Duration
}

func (c *Command) parseRollback(rt *actions.Runtime, args []string) (rollbackOptions, error) {
	var o rollbackOptions
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.service, args = args[0], args[1:]
	}
	fs := c.flags("rollback", "rollback SERVICE --environment ENV [--to COMMIT] [--reason TEXT]")
	fs.StringVar(&o.manifest, "manifest", "promotion.yaml", "the manifest")
	fs.StringVar(&o.service, "service", o.service, "the service to roll back (or the first argument)")
	fs.StringVar(&o.environment, "environment", "", "the environment to roll it back in")
	fs.StringVar(&o.to, "to", "", "the full commit to return to (default: the last one whose promotion succeeded there, by the evidence)")
	fs.StringVar(&o.reason, "reason", "", "why, for the Deployment and the evidence")
	fs.StringVar(&o.dispatchRef, "dispatch-ref", "", "branch or tag deploy workflows are dispatched on (default: GITHUB_REF_NAME)")
	fs.DurationVar(&o.lockTimeout, "lock-timeout", 10*time.Minute, "how long to wait for another promotion of the service in the environment to end")
	if err := parse(fs, rt, args); err != nil {
		return o, err
	}
	switch {
	case o.service == "" || o.environment == "":
		return o, badInput(errors.New("name the service and the environment: promote rollback SERVICE --environment ENV"))
	case o.to != "" && !isCommit(o.to):
		return o, badInput(fmt.Errorf("--to %q: want a full 40-hex commit", o.to))
	}
	return o, nil
}

// runRollback is promote rollback: the rollback package decides and
// deploys, the evidence records it.
func runRollback(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	o, err := c.parseRollback(rt, args)
	if err != nil {
		return err
	}
	data, m, err := c.loadManifest(rt, o.manifest, false)
	if err != nil {
		return err
	}
	si, ok := m.Service(o.service)
	if !ok {
		return badInput(fmt.Errorf("no service %q in %s", o.service, o.manifest))
	}
	ei, ok := m.Environment(o.environment)
	if !ok {
		return badInput(fmt.Errorf("no environment %q in %s (the environments are %s)", o.environment, o.manifest, strings.Join(m.EnvironmentNames(), ", ")))
	}
	svc, env := m.Services[si], m.Environments[ei]
	n := plan.Node{ID: svc.Name + "@" + env.Name, Service: svc.Name, Environment: env.Name, GitHubEnvironment: env.GitHubName(svc.Name),
		Protected: env.Protected, Compliance: string(svc.Compliance), Deploy: plan.Deploy(svc.Deploy), ExpectedSeconds: int64(svc.ExpectedDuration / time.Second)}
	if m.Evidence == nil {
		return badInput(errors.New("promote rollback reads the last good commit from the evidence and records the rollback in it: add an evidence section to the manifest"))
	}
	l, err := c.openLedger(ctx, rt, m)
	if err != nil {
		return err
	}
	entries, err := l.verified(ctx)
	var ue *evidence.UnverifiedError
	if errors.As(err, &ue) {
		return &exitError{ExitFindings, fmt.Errorf("not rolled back: the evidence does not verify, so it cannot say what to return to: %w", err)}
	}
	if err != nil {
		return err
	}

	prog := newProgress(c.Stdout, rt, time.Now)
	p := &plan.Plan{Nodes: []plan.Node{n}}
	dispatchRef := o.dispatchRef
	if dispatchRef == "" {
		dispatchRef = c.Getenv("GITHUB_REF_NAME")
	}
	cmd := &deploy.Command{Dir: filepath.Dir(o.manifest), Logger: prog}
	var gh *deploy.GitHub
	if n.Deploy.Workflow != "" {
		if gh, err = c.githubExecutor(ctx, rt, runOptions{lockTimeout: o.lockTimeout}, p, dispatchRef, prog); err != nil {
			return err
		}
	}
	v, err := c.verifier(rt, runOptions{selection: selection{manifest: o.manifest}}, p, dispatchRef, prog)
	if err != nil {
		return err
	}
	ch := &rollback.Chooser{Entries: entries, Dir: filepath.Dir(o.manifest)}
	if gh != nil {
		ch.Deployments = gh
	}
	man := &rollback.Manual{Chooser: ch, Deploy: deployer(cmd, gh, v), Now: time.Now}
	var irreversible []manifest.Irreversible
	if svc.Rollback != nil {
		irreversible = svc.Rollback.Irreversible
	}
	from, rb, err := man.Run(ctx, &n, o.to, o.reason, irreversible, func(u run.Update) {
		if u.Message != "" {
			prog.Log(n.ID, u.Message)
		}
	})
	if err != nil {
		_ = rt.SetOutput("result", run.RollbackNotPossible)
		return &exitError{ExitFindings, fmt.Errorf("%s not rolled back: %w", n.ID, err)}
	}
	fmt.Fprintf(c.Stdout, "%s %s: %s\n", n.ID, rb.Result, rb.Message)
	sum := sha256.Sum256(data)
	o2 := c.origin(rt)
	base := evidence.Record{Kind: evidence.KindPromotion, Repository: o2.Repository, Commit: from, Service: n.Service, Environment: n.Environment,
		Node: n.ID, Actor: cmp.Or(o2.Actor, "unknown"), WorkflowRunURL: o2.RunURL, Subjects: []evidence.Subject{{Name: run.ManifestSubject, SHA256: hex.EncodeToString(sum[:])}}}
	record, _ := run.RollbackRecord(base, rb)
	if _, err := c.seal(ctx, rt, l, []evidence.Record{record}, nil); err != nil {
		return err
	}
	if rt.Enabled() {
		rt.AddSummary(fmt.Sprintf("## Rollback of %s %s\n\n%s\n%s", n.ID, rb.Result, rb.Message, rollbackSummary(n.ID, rb)))
		_ = rt.SetOutput("result", rb.Result)
		_ = rt.SetOutput("commit", rb.ToCommit)
	}
	if rb.Result != run.RollbackSucceeded {
		return &exitError{ExitFindings, fmt.Errorf("%s: %s", n.ID, rb.Message)}
	}
	return nil
}

func rollbackSummary(id string, rb *run.Rollback) string {
	return verify.Markdown(&run.Status{Nodes: []run.NodeStatus{{ID: id, State: run.Failed, Rollback: rb}}})
}
