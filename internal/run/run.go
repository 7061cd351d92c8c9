// Package run executes a plan: it starts nodes as soon as what they wait for
// has succeeded (and soaked), at most max_parallel at a time within a staged
// rollout window, critical path first. A failed node skips exactly the nodes
// that depend on it, unless fail_fast cancels the rest; transient failures are
// retried. How a node is deployed is an Executor's business.
package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/plan"
)

// Executor deploys one node. Deploy returns nil when the node succeeded. It
// must leave whatever it created (a GitHub Deployment, a process) in a true
// terminal state before it returns, also when ctx is cancelled.
type Executor interface {
	Deploy(ctx context.Context, n *plan.Node, attempt int, report func(Update)) error
}

// Resumer is an Executor that can tell whether a node already succeeded for
// the plan's commit, so that a rerun only does what is left. It returns
// ErrNoRecord when it keeps no record of such nodes.
type Resumer interface {
	Succeeded(ctx context.Context, n *plan.Node) (done bool, detail string, err error)
}

// ErrNoRecord is a Resumer's answer for a node whose past it cannot know.
var ErrNoRecord = errors.New("no record of earlier promotions")

// Phase is what a running node is doing.
type Phase string

// The phases a running node reports.
const (
	PhaseStarting  Phase = "starting"
	PhaseLocked    Phase = "waiting_for_lock" // another promotion of the same service@environment is active
	PhaseQueued    Phase = "queued"           // dispatched, not started
	PhaseWaiting   Phase = "waiting"          // waiting for approval or a wait timer
	PhaseDeploying Phase = "deploying"
	PhaseVerifying Phase = "verifying" // deployed; post-deploy checks running
)

// Update is what an executor reports while it deploys a node. Empty fields
// leave what was reported before unchanged.
type Update struct {
	Phase         Phase
	Message       string
	DeploymentID  int64
	DeploymentURL string
	RunURL        string
	// Calls is the number of GitHub API requests spent since the previous
	// update, counting only those that count against the rate limit.
	Calls int
	// Approvals are the decisions of the environment's required reviewers,
	// reported once the node's deploy stopped waiting for them.
	Approvals []Approval
	// Verification are the results of the post-deploy checks so far, all
	// of them: each report replaces the previous list.
	Verification []evidence.Verification
	// Rollback is what became of the rollback of the failed node.
	Rollback *Rollback
}

// Rollback is what became of the rollback of a failed node.
type Rollback struct {
	// ToCommit is the commit rolled back to; empty when none could be.
	ToCommit string `json:"to_commit,omitempty"`
	// Result is succeeded or failed for a rollback that deployed, and
	// not_possible when none could be made (no earlier success, an
	// irreversible range in between, the evidence unreadable).
	Result string `json:"result"`
	// Message says why the rollback was not possible or failed, or what
	// it deployed.
	Message string `json:"message"`
	// Reason is why the node was rolled back: its failure.
	Reason        string    `json:"reason"`
	DeploymentID  int64     `json:"deployment_id,omitempty"`
	DeploymentURL string    `json:"deployment_url,omitempty"`
	RunURL        string    `json:"run_url,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	// Verification are the rollback's own post-deploy checks.
	Verification []evidence.Verification `json:"verification,omitempty"`
	// Manual is true for promote rollback.
	Manual bool `json:"manual,omitempty"`
}

// The results of a Rollback.
const (
	RollbackSucceeded   = "succeeded"
	RollbackFailed      = "failed"
	RollbackNotPossible = "not_possible"
)

// Approval is a required reviewer's decision on a node's deployment.
type Approval struct {
	State    string `json:"state"` // approved or rejected
	Reviewer string `json:"reviewer"`
	Comment  string `json:"comment,omitempty"`
}

// TransientError is a failure worth retrying: GitHub's 5xx, rate limits, a
// lost connection. Everything else fails the node at once.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as worth retrying.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// IsTransient reports whether err is marked as worth retrying.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// FatalError is a failure that dooms every node, not just this one: a token
// GitHub refuses, a permission it lacks. The run starts nothing more.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// Fatal marks err as dooming the whole run.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &FatalError{Err: err}
}

// State is where a node is.
type State string

// The states of a node. Succeeded, Failed, Skipped and Cancelled are final.
const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Skipped   State = "skipped"
	Cancelled State = "cancelled"
)

// Final reports whether the state is one a node ends in.
func (s State) Final() bool {
	return s == Succeeded || s == Failed || s == Skipped || s == Cancelled
}

// Options tune a run; zero values take the plan's settings.
type Options struct {
	MaxParallel    int
	RolloutInitial int
	RolloutStep    int
	// Retries is how often a node is retried after a transient failure;
	// negative means never.
	Retries  int
	Timeout  time.Duration
	FailFast bool
	// Force deploys every node, also one the executor (a Resumer) knows
	// already succeeded for the plan's commit. A node's Requires is still
	// checked.
	Force bool
	// Backoff is the wait before retry number attempt (1, 2, ...); default
	// 2^attempt seconds, at most a minute.
	Backoff func(attempt int) time.Duration
	Clock   clock.Clock
	// OnChange is called, from one goroutine at a time, after every change
	// of a node's state or report, with a snapshot of the run.
	OnChange func(*Status)
	// Soak, when set, watches a node that succeeded while the next
	// environment's node soaks: it returns nil when the node stayed healthy
	// until the soak ends, or why it did not, which skips the next node
	// and its dependents. It reports with report, whose Verification
	// becomes the waiting node's. Without Soak a soak is a plain wait.
	Soak func(ctx context.Context, n *plan.Node, d time.Duration, report func(Update)) error
	// Rollback, when set, is called for a node that failed (not one
	// cancelled or interrupted) once its retries are spent. It returns nil
	// when the node is not rolled back, or what became of the rollback.
	Rollback func(ctx context.Context, n *plan.Node, cause error, report func(Update)) *Rollback
}

func (o *Options) fill(p *plan.Plan) {
	s := p.Settings
	if o.MaxParallel <= 0 {
		o.MaxParallel = max(s.MaxParallel, 1)
	}
	if o.RolloutInitial <= 0 {
		o.RolloutInitial = s.RolloutInitial
		if o.RolloutInitial <= 0 {
			o.RolloutInitial = o.MaxParallel
		}
	}
	o.RolloutInitial = min(o.RolloutInitial, o.MaxParallel)
	if o.RolloutStep <= 0 {
		o.RolloutStep = max(s.RolloutStep, 1)
	}
	switch {
	case o.Retries == 0:
		o.Retries = s.Retries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Duration(s.TimeoutSeconds) * time.Second
		if o.Timeout <= 0 {
			o.Timeout = 30 * time.Minute
		}
	}
	if s.OnFailure == "fail_fast" {
		o.FailFast = true
	}
	if o.Backoff == nil {
		o.Backoff = func(attempt int) time.Duration {
			return min(time.Duration(1<<min(attempt, 6))*time.Second, time.Minute)
		}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
}

// ErrInvalidPlan is returned for a plan that cannot be run as it is.
var ErrInvalidPlan = errors.New("invalid plan")

func validate(p *plan.Plan) error {
	index := make(map[string]int, len(p.Nodes))
	for i, n := range p.Nodes {
		if _, dup := index[n.ID]; dup {
			return fmt.Errorf("node %q appears twice: %w", n.ID, ErrInvalidPlan)
		}
		index[n.ID] = i
	}
	for _, n := range p.Nodes {
		for _, need := range n.Needs {
			j, ok := index[need]
			if !ok {
				return fmt.Errorf("node %q needs %q, which is not in the plan: %w", n.ID, need, ErrInvalidPlan)
			}
			if j >= index[n.ID] {
				return fmt.Errorf("node %q needs %q, which comes after it: the plan is not in topological order: %w", n.ID, need, ErrInvalidPlan)
			}
		}
	}
	return nil
}
