package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Command deploys a node by running its deploy.command with sh -c in the
// manifest's directory, with PROMOTE_SERVICE, PROMOTE_ENVIRONMENT,
// PROMOTE_GITHUB_ENVIRONMENT, PROMOTE_REF, PROMOTE_NODE and PROMOTE_ATTEMPT
// set. Its output goes to Logger line by line. A command that exits non-zero
// fails the node and is not retried.
//
// A command leaves no record of its own that it ran, so whether a node
// already succeeded for Ref is Earlier's to say: the evidence log
// (run.Earlier), when the manifest keeps one.
type Command struct {
	Dir    string
	Ref    string
	Env    []string // the base environment; nil means os.Environ()
	Logger Logger
	// Earlier knows which nodes already succeeded for Ref; nil means
	// nothing is known and every node is deployed.
	Earlier run.Resumer
	// Grace is how long a cancelled command may take to exit after SIGTERM
	// before its process group is killed; default 10s.
	Grace time.Duration
	// Verify, when set, runs after the command succeeded: the node's
	// post-deploy checks, whose error fails the node.
	Verify func(ctx context.Context, n *plan.Node, report func(run.Update)) error
}

// Deploy runs the node's command.
func (c *Command) Deploy(ctx context.Context, n *plan.Node, attempt int, report func(run.Update)) error {
	if n.Deploy.Command == "" {
		return fmt.Errorf("%s has no deploy command", n.ID)
	}
	report(run.Update{Phase: run.PhaseDeploying, Message: "running " + n.Deploy.Command})
	cmd := exec.Command("sh", "-c", n.Deploy.Command)
	cmd.Dir = c.Dir
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env[:len(env):len(env)],
		"PROMOTE_SERVICE="+n.Service,
		"PROMOTE_ENVIRONMENT="+n.Environment,
		"PROMOTE_GITHUB_ENVIRONMENT="+n.GitHubEnvironment,
		"PROMOTE_REF="+c.Ref,
		"PROMOTE_NODE="+n.ID,
		"PROMOTE_ATTEMPT="+strconv.Itoa(attempt),
	)
	// Its own process group, so that cancelling reaches the command's
	// children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %q: %w", n.Deploy.Command, err)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.copyLines(n.ID, out)
	}()
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			c.terminate(cmd.Process.Pid, stopped)
		case <-stopped:
		}
	}()
	wg.Wait()
	err = cmd.Wait()
	close(stopped)
	if ctx.Err() != nil {
		return fmt.Errorf("command stopped: %w", context.Cause(ctx))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%q exited with status %d", n.Deploy.Command, ee.ExitCode())
	}
	if err == nil && c.Verify != nil {
		return c.Verify(ctx, n, report)
	}
	return err
}

// Succeeded asks Earlier whether n already succeeded for Ref.
func (c *Command) Succeeded(ctx context.Context, n *plan.Node) (bool, string, error) {
	if c.Earlier == nil {
		return false, "", run.ErrNoRecord
	}
	return c.Earlier.Succeeded(ctx, n)
}

func (c *Command) copyLines(node string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if c.Logger != nil {
			c.Logger.Log(node, sc.Text())
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line over 1 MiB: drain so the command is not blocked
}

// terminate sends SIGTERM to the command's process group, then SIGKILL after
// the grace period unless it exited.
func (c *Command) terminate(pid int, exited <-chan struct{}) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	grace := c.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
