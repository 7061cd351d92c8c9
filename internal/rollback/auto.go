package rollback

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Auto rolls back the failed nodes of a run whose service asks for it in
// their environment: give its Rollback to run.Options.Rollback.
type Auto struct {
	Manifest *manifest.Manifest
	// From is the commit the run promoted, which failed.
	From    string
	Deploy  Deployer
	Chooser *Chooser
	// Load reads the verified evidence when the run has not (a run with
	// --force); nil means there is none.
	Load func(ctx context.Context) ([]evidence.Entry, error)
	Now  func() time.Time

	once    sync.Once
	loadErr error
}

// Rollback rolls n back if the manifest asks for it; nil when not.
func (a *Auto) Rollback(ctx context.Context, n *plan.Node, cause error, report func(run.Update)) *run.Rollback {
	i, ok := a.Manifest.Service(n.Service)
	if !ok {
		return nil
	}
	cfg := a.Manifest.Services[i].Rollback
	if !cfg.Enabled(n.Environment) {
		return nil
	}
	reason := cause.Error()
	notPossible := func(err error) *run.Rollback {
		now := a.Now()
		return &run.Rollback{Result: run.RollbackNotPossible, Message: "not rolled back: " + err.Error(), Reason: reason, StartedAt: now, FinishedAt: now}
	}
	a.once.Do(func() {
		if a.Chooser.Entries == nil && a.Load != nil {
			a.Chooser.Entries, a.loadErr = a.Load(ctx)
		}
	})
	if a.loadErr != nil {
		return notPossible(fmt.Errorf("the evidence, which names the last good commit, could not be read: %w", a.loadErr))
	}
	t, err := a.Chooser.Choose(ctx, n, a.From, cfg.Irreversible)
	if err != nil {
		return notPossible(err)
	}
	report(run.Update{Message: fmt.Sprintf("rolling back to %s (evidence record #%d)", short(t.Commit), t.Seq)})
	return Rollback(ctx, a.Deploy, n, t, reason, report, a.Now)
}
