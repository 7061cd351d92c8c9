package rollback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Current returns the commit of the newest promotion of the node that
// deployed something (succeeded or failed), from verified evidence.
func Current(entries []evidence.Entry, n *plan.Node) (evidence.Entry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Kind == evidence.KindPromotion && e.Service == n.Service && e.Environment == n.Environment &&
			(e.Outcome == string(run.Succeeded) || e.Outcome == string(run.Failed)) {
			return e, true
		}
	}
	return evidence.Entry{}, false
}

// Manual is promote rollback: it rolls one service in one environment back
// from what the evidence says is there now.
type Manual struct {
	Chooser *Chooser
	Deploy  Deployer
	Now     func() time.Time
}

// ErrNothingDeployed is a rollback of a node the evidence never promoted.
var ErrNothingDeployed = errors.New("nothing to roll back from")

// Run rolls n back to the commit to, or to the last good one when to is
// empty, saying why. The error is non-nil when no rollback was deployed:
// no target, an irreversible range, or a problem reading what it needs.
func (m *Manual) Run(ctx context.Context, n *plan.Node, to, reason string, irreversible []manifest.Irreversible, report func(run.Update)) (from string, rb *run.Rollback, err error) {
	cur, ok := Current(m.Chooser.Entries, n)
	if !ok {
		return "", nil, fmt.Errorf("the evidence records no promotion of %s to %s: %w", n.Service, n.Environment, ErrNothingDeployed)
	}
	from = cur.Commit
	var t Target
	if to != "" {
		if to == from {
			return from, nil, fmt.Errorf("%s is already the commit of the last promotion of %s (evidence record #%d); name another with --to", short(to), n.ID, cur.Seq)
		}
		t, err = m.Chooser.To(ctx, n, from, to, irreversible)
	} else {
		t, err = m.Chooser.Choose(ctx, n, from, irreversible)
	}
	if err != nil {
		return from, nil, err
	}
	reason = cmp.Or(reason, fmt.Sprintf("rolled back by hand from %s", short(from)))
	rb = Rollback(ctx, m.Deploy, n, t, reason, report, m.Now)
	rb.Manual = true
	return from, rb, nil
}
