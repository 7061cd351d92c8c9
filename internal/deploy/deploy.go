// Package deploy holds the executors that deploy one node of a plan: by
// dispatching the service's deploy workflow through GitHub (github.go), by
// running the service's command (command.go), or by only saying what would
// happen (dryrun.go). ByKind picks between the first two per node.
package deploy

import (
	"context"

	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Logger receives the lines a node prints: a command's output, or what a dry
// run would do.
type Logger interface {
	Log(node, line string)
}

// ByKind deploys workflow nodes with Workflow and command nodes with Command.
type ByKind struct {
	Workflow run.Executor
	Command  run.Executor
}

func (b ByKind) pick(n *plan.Node) run.Executor {
	if n.Deploy.Workflow != "" {
		return b.Workflow
	}
	return b.Command
}

// Deploy deploys n with the executor for its kind.
func (b ByKind) Deploy(ctx context.Context, n *plan.Node, attempt int, report func(run.Update)) error {
	return b.pick(n).Deploy(ctx, n, attempt, report)
}

// Succeeded asks the executor for n's kind whether n already succeeded.
func (b ByKind) Succeeded(ctx context.Context, n *plan.Node) (bool, string, error) {
	if r, ok := b.pick(n).(run.Resumer); ok {
		return r.Succeeded(ctx, n)
	}
	return false, "", run.ErrNoRecord
}
