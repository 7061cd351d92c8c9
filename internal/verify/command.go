package verify

import (
	"context"
	"strings"
	"sync"

	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// commandProbe runs a command check the way the command executor runs a
// deploy (sh -c in the manifest's directory, the same PROMOTE_*
// variables, its own process group): exit status 0 passes, and its last
// line of output is the value.
func (v *Verifier) commandProbe(n *plan.Node, command, dir string) probe {
	return func(ctx context.Context) (string, error) {
		out := &lastLine{next: v.Logger}
		cmd := &deploy.Command{Dir: dir, Ref: v.Commit, Env: v.Env, Logger: out}
		node := *n
		node.Deploy = plan.Deploy{Command: command}
		err := cmd.Deploy(ctx, &node, 1, func(run.Update) {})
		return out.get(), err
	}
}

// lastLine keeps a command's last non-empty line, passing every line on.
type lastLine struct {
	next deploy.Logger
	mu   sync.Mutex
	line string
}

func (l *lastLine) Log(node, line string) {
	if l.next != nil {
		l.next.Log(node, line)
	}
	if s := strings.TrimSpace(line); s != "" {
		l.mu.Lock()
		l.line = s
		l.mu.Unlock()
	}
}

func (l *lastLine) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := []rune(l.line); len(r) > 200 {
		return string(r[:200]) + "…"
	}
	return l.line
}
