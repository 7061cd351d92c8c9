// Package rollback returns a service in an environment to the last commit
// whose promotion succeeded there: automatically when a node fails (opt-in
// per service and environment in the manifest), or by hand with promote
// rollback. The target comes from the verified evidence chain and is
// cross-checked with GitHub's Deployments; no rollback crosses a commit
// range the manifest marks irreversible. The rollback is deployed and
// verified like any node, once: one that fails is reported, never retried
// or rolled back in turn.
package rollback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/git"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Deployments cross-checks a target with the Deployments API: the id of a
// successful Deployment of commit for the node, 0 when there is none.
// *deploy.GitHub is one.
type Deployments interface {
	Deployed(ctx context.Context, n *plan.Node, commit string) (int64, error)
}

// Target is the commit a rollback returns to, and what vouches for it.
type Target struct {
	Commit string
	// Seq is the evidence record of its successful promotion; 0 for a
	// commit given by hand that the evidence does not know.
	Seq uint64
	// DeploymentID is GitHub's successful Deployment of it, 0 for a
	// command service.
	DeploymentID int64
	// Skipped says which newer candidates were passed over, and why.
	Skipped []string
}

// ErrNoTarget is a rollback with nowhere to go.
var ErrNoTarget = errors.New("no commit to roll back to")

// IrreversibleError is a rollback that would cross an irreversible range.
type IrreversibleError struct {
	From, To string
	Range    manifest.Irreversible
}

func (e *IrreversibleError) Error() string {
	return fmt.Sprintf("rolling back from %s to %s would cross irreversible commits %s (%s); not rolled back: fix forward, or deploy a commit after the range",
		short(e.From), short(e.To), e.Range.Commits, e.Range.Reason)
}

func short(c string) string { return c[:min(len(c), 12)] }

// Chooser finds rollback targets.
type Chooser struct {
	// Entries are the verified evidence log's records.
	Entries []evidence.Entry
	// Deployments, when set, must confirm a workflow service's target.
	Deployments Deployments
	// Dir is the git checkout that knows the commits, for irreversible
	// ranges.
	Dir string
}

// Choose returns the commit to roll n's service back to from commit from:
// the newest other commit whose promotion of the service succeeded in the
// environment (rollbacks included), that GitHub confirms for a workflow
// service, without crossing an irreversible range. A candidate beyond such
// a range ends the search with an *IrreversibleError: older ones lie
// beyond it too.
func (c *Chooser) Choose(ctx context.Context, n *plan.Node, from string, irreversible []manifest.Irreversible) (Target, error) {
	var t Target
	seen := map[string]bool{from: true}
	for i := len(c.Entries) - 1; i >= 0; i-- {
		e := c.Entries[i]
		if e.Kind != evidence.KindPromotion || e.Service != n.Service || e.Environment != n.Environment || e.Outcome != string(run.Succeeded) || seen[e.Commit] {
			continue
		}
		commit := e.Commit
		seen[commit] = true
		if err := c.crosses(ctx, from, commit, irreversible); err != nil {
			if len(t.Skipped) > 0 {
				return t, fmt.Errorf("%w (passed over: %s)", err, strings.Join(t.Skipped, "; "))
			}
			return t, err
		}
		id, err := c.confirm(ctx, n, commit)
		if err != nil {
			return t, err
		}
		if c.Deployments != nil && n.Deploy.Workflow != "" && id == 0 {
			t.Skipped = append(t.Skipped, fmt.Sprintf("%s (evidence record #%d) has no successful Deployment in %s on GitHub", short(commit), e.Seq, n.GitHubEnvironment))
			continue
		}
		t.Commit, t.Seq, t.DeploymentID = commit, e.Seq, id
		return t, nil
	}
	msg := fmt.Sprintf("%s: no earlier promotion of %s to %s succeeded", ErrNoTarget, n.Service, n.Environment)
	if len(t.Skipped) > 0 {
		msg += " that GitHub confirms (passed over: " + strings.Join(t.Skipped, "; ") + ")"
	}
	return t, fmt.Errorf("%s: %w", msg, ErrNoTarget)
}

// To checks a target given by hand: it must not cross an irreversible
// range; the evidence or GitHub need not know it.
func (c *Chooser) To(ctx context.Context, n *plan.Node, from, to string, irreversible []manifest.Irreversible) (Target, error) {
	if err := c.crosses(ctx, from, to, irreversible); err != nil {
		return Target{}, err
	}
	t := Target{Commit: to}
	for i := len(c.Entries) - 1; i >= 0; i-- {
		if e := c.Entries[i]; e.Kind == evidence.KindPromotion && e.Node == n.ID && e.Commit == to && e.Outcome == string(run.Succeeded) {
			t.Seq = e.Seq
			break
		}
	}
	id, err := c.confirm(ctx, n, to)
	t.DeploymentID = id
	return t, err
}

func (c *Chooser) confirm(ctx context.Context, n *plan.Node, commit string) (int64, error) {
	if c.Deployments == nil || n.Deploy.Workflow == "" {
		return 0, nil
	}
	id, err := c.Deployments.Deployed(ctx, n, commit)
	if err != nil {
		return 0, fmt.Errorf("cross-check %s with GitHub's deployments: %w", short(commit), err)
	}
	return id, nil
}

// crosses returns an *IrreversibleError when a commit of an irreversible
// range is in from's history and not in to's.
func (c *Chooser) crosses(ctx context.Context, from, to string, irreversible []manifest.Irreversible) error {
	if len(irreversible) == 0 {
		return nil
	}
	between, err := git.RevList(ctx, c.Dir, to+".."+from)
	if err != nil {
		return fmt.Errorf("cannot tell whether rolling back from %s to %s crosses an irreversible range, so not rolling back: %w", short(from), short(to), err)
	}
	for _, r := range irreversible {
		revs := r.Commits
		if !strings.Contains(revs, "..") {
			revs += "^!"
		}
		commits, err := git.RevList(ctx, c.Dir, revs)
		if err != nil {
			return fmt.Errorf("cannot read irreversible range %s (%s), so not rolling back: %w", r.Commits, r.Reason, err)
		}
		if slices.ContainsFunc(commits, func(x string) bool { return slices.Contains(between, x) }) {
			return &IrreversibleError{From: from, To: to, Range: r}
		}
	}
	return nil
}

// Deployer deploys a node at another commit: the executor the run uses,
// pointed at the target, its Deployment saying why.
type Deployer func(commit, why string) run.Executor

// Rollback deploys n's service at the target and verifies it (the
// executor's own verification), once. It returns what became of it.
func Rollback(ctx context.Context, deploy Deployer, n *plan.Node, t Target, reason string, report func(run.Update), now func() time.Time) *run.Rollback {
	rb := &run.Rollback{ToCommit: t.Commit, Reason: reason, StartedAt: now()}
	// The executor keeps it within a Deployment description's 140
	// characters.
	why := fmt.Sprintf("rollback of %s to %s: %s", n.ID, short(t.Commit), reason)
	capture := func(u run.Update) {
		rb.DeploymentID = cmp.Or(u.DeploymentID, rb.DeploymentID)
		rb.DeploymentURL = cmp.Or(u.DeploymentURL, rb.DeploymentURL)
		rb.RunURL = cmp.Or(u.RunURL, rb.RunURL)
		if u.Verification != nil {
			rb.Verification = u.Verification
		}
		if u.Message != "" {
			report(run.Update{Message: "rollback: " + u.Message, Calls: u.Calls})
		} else if u.Calls > 0 {
			report(run.Update{Calls: u.Calls})
		}
	}
	err := deploy(t.Commit, why).Deploy(ctx, n, 1, capture)
	rb.FinishedAt = now()
	if err != nil {
		rb.Result = run.RollbackFailed
		rb.Message = fmt.Sprintf("rolling back to %s failed: %v; %s is left as the failed promotion left it", short(t.Commit), err, n.ID)
		return rb
	}
	rb.Result = run.RollbackSucceeded
	rb.Message = fmt.Sprintf("rolled back to %s", short(t.Commit))
	if t.Seq > 0 {
		rb.Message += fmt.Sprintf(", last promoted successfully in evidence record #%d", t.Seq)
	}
	return rb
}
