package deploy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Log(node, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, node+": "+line)
}

func node(command string) *plan.Node {
	return &plan.Node{ID: "api@dev", Service: "api", Environment: "dev", GitHubEnvironment: "api-dev", Deploy: plan.Deploy{Command: command}}
}

func TestCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		command string
		want    []string
		err     string
	}{
		{what: "environment", command: `echo "$PROMOTE_NODE $PROMOTE_SERVICE $PROMOTE_ENVIRONMENT $PROMOTE_GITHUB_ENVIRONMENT $PROMOTE_REF $PROMOTE_ATTEMPT"; echo oops >&2`,
			want: []string{"api@dev: api@dev api dev api-dev abc123 2", "api@dev: oops"}},
		{what: "failure", command: "echo half; exit 3", want: []string{"api@dev: half"}, err: `"echo half; exit 3" exited with status 3`},
		{what: "not found", command: "no-such-deployer", err: "exited with status 127"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			var l lines
			c := &Command{Dir: t.TempDir(), Ref: "abc123", Logger: &l}
			err := c.Deploy(context.Background(), node(tt.command), 2, func(run.Update) {})
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Deploy() = %v, want %q", err, tt.err)
			}
			if err != nil && run.IsTransient(err) {
				t.Errorf("Deploy() = %v, marked transient; a failed command is not retried", err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, l.got); diff != "" {
					t.Errorf("output (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestCommandCancel checks that a cancelled node stops its command and the
// command's children promptly.
func TestCommandCancel(t *testing.T) {
	t.Parallel()
	var l lines
	c := &Command{Dir: t.TempDir(), Logger: &l, Grace: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := c.Deploy(ctx, node("echo started; sleep 30 & wait"), 1, func(run.Update) {})
	if err == nil || !strings.Contains(err.Error(), "command stopped") {
		t.Errorf("Deploy() = %v, want it stopped", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Deploy() took %v after cancel, want the process group terminated", d)
	}
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	var l lines
	d := DryRun{Ref: "0123456789abcdef", DispatchRef: "main", Logger: &l}
	wf := &plan.Node{ID: "api@prod", Service: "api", Environment: "prod", GitHubEnvironment: "production", Deploy: plan.Deploy{Workflow: "deploy.yml", Inputs: map[string]string{"region": "eu"}}}
	if err := d.Deploy(context.Background(), wf, 1, func(run.Update) {}); err != nil {
		t.Fatal(err)
	}
	want := `api@prod: would create a Deployment of 0123456789ab to environment "production" (task deploy:api) and dispatch workflow deploy.yml on main with deployment_id=<new> environment=production ref=0123456789abcdef region=eu service=api`
	if diff := cmp.Diff([]string{want}, l.got); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
}
