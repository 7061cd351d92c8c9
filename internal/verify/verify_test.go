package verify

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// scripted is a probe that passes or fails attempt by attempt ('+' or
// '-'), repeating the last forever; each attempt takes a second.
func scripted(script string, calls *atomic.Int32) probe {
	return func(ctx context.Context) (string, error) {
		i := int(calls.Add(1)) - 1
		_ = clock.Real{}.Sleep(ctx, time.Second)
		c := script[min(i, len(script)-1)]
		if c == '+' {
			return fmt.Sprintf("ok %d", i+1), nil
		}
		return fmt.Sprintf("bad %d", i+1), fmt.Errorf("attempt %d failed", i+1)
	}
}

// TestLoop checks the decision rules on the bubble's fake clock, where the
// durations are exact.
func TestLoop(t *testing.T) {
	t.Parallel()
	timing := manifest.Timing{Interval: 10 * time.Second, Successes: 3, Failures: 2, Deadline: time.Minute}
	tests := []struct {
		what     string
		script   string
		timing   manifest.Timing
		watch    time.Duration
		outcome  string
		attempts int
		took     time.Duration
		message  string
		last     string
	}{
		{what: "passes at once", script: "+", timing: timing, outcome: "passed", attempts: 3, took: 23 * time.Second, message: "3 consecutive attempts passed", last: "ok 3"},
		{what: "a failure restarts the count", script: "+-+++", timing: timing, outcome: "passed", attempts: 5, took: 45 * time.Second, last: "ok 5"},
		{what: "flapping reaches the failure limit", script: "+-+-", timing: timing, outcome: "failed", attempts: 4, took: 34 * time.Second, message: "2 of 4 attempts failed (limit 2); the last: attempt 4 failed", last: "bad 4"},
		{what: "deadline without a decision", script: "+-+++", timing: manifest.Timing{Interval: 10 * time.Second, Successes: 5, Failures: 3, Deadline: 40 * time.Second}, outcome: "failed", attempts: 4, took: 34 * time.Second, message: "no decision within its deadline of 40s: 2 consecutive of 5 needed successes after 4 attempts; the last failure: attempt 2 failed"},
		{what: "watch outlives the soak", script: "+-+", timing: timing, watch: time.Minute, outcome: "passed", attempts: 6, took: 56 * time.Second, message: "healthy for 1m0s: 6 attempts, 1 failed (limit 2)"},
		{what: "watch fails at the limit", script: "++--", timing: timing, watch: time.Minute, outcome: "failed", attempts: 4, took: 34 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				v := &Verifier{}
				var calls atomic.Int32
				start := time.Now()
				res, stopped := v.loop(t.Context(), tt.timing, evidence.Verification{Name: "x", StartedAt: start}, scripted(tt.script, &calls), 5*time.Second, tt.watch)
				if stopped || res.Outcome != tt.outcome || res.Attempts != tt.attempts {
					t.Fatalf("loop() = %s after %d attempts (stopped %v): %s; want %s after %d", res.Outcome, res.Attempts, stopped, res.Message, tt.outcome, tt.attempts)
				}
				if took := res.FinishedAt.Sub(start); took != tt.took {
					t.Errorf("loop() took %v, want %v", took, tt.took)
				}
				if tt.message != "" && res.Message != tt.message {
					t.Errorf("message = %q, want %q", res.Message, tt.message)
				}
				if tt.last != "" && res.LastValue != tt.last {
					t.Errorf("last value = %q, want %q", res.LastValue, tt.last)
				}
			})
		})
	}
}

// TestLoopAttemptTimeout checks that an attempt that hangs is cut at its
// timeout and counts as a failure.
func TestLoopAttemptTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hang := func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "no answer", ctx.Err()
		}
		start := time.Now()
		res, _ := (&Verifier{}).loop(t.Context(), manifest.Timing{Interval: 10 * time.Second, Successes: 1, Failures: 2, Deadline: time.Hour}, evidence.Verification{StartedAt: start}, hang, 3*time.Second, 0)
		if res.Outcome != "failed" || res.Attempts != 2 || res.FinishedAt.Sub(start) != 16*time.Second || !strings.Contains(res.Message, "deadline exceeded") {
			t.Errorf("loop() = %+v, want failed after 2 attempts cut at 3s each (16s)", res)
		}
	})
}

// TestVerifyReportsAndStops checks Verify end to end with command checks:
// results are reported in order, and the first failure stops the rest and
// names the check and its last value.
func TestVerifyReportsAndStops(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse(filepath.Join(t.TempDir(), "promotion.yaml"), []byte(`version: 1
environments: [{name: dev}]
services:
  api:
    paths: ["api/**"]
    deploy: {command: "true"}
    verify:
      interval: 1s
      deadline: 10s
      failures: 1
      checks:
        - {name: first, command: 'echo "up on $PROMOTE_SERVICE@$PROMOTE_ENVIRONMENT at $PROMOTE_REF"'}
        - {name: second, command: 'echo "503 from $PROMOTE_SERVICE"; exit 3'}
        - {name: third, command: "echo never"}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Manifest: m, Commit: "abc123"}
	var updates []run.Update
	n := &plan.Node{ID: "api@dev", Service: "api", Environment: "dev"}
	err = v.Verify(t.Context(), n, func(u run.Update) { updates = append(updates, u) })
	var f *Failure
	if !errors.As(err, &f) || f.Result.Name != "second" {
		t.Fatalf("Verify() = %v, want a *Failure of check second", err)
	}
	want := `verification of api@dev failed: command check "second": 1 of 1 attempts failed (limit 1); the last: "echo \"503 from $PROMOTE_SERVICE\"; exit 3" exited with status 3; last value: 503 from api`
	if err.Error() != want {
		t.Errorf("Verify() = %q\nwant %q", err, want)
	}
	var last []evidence.Verification
	for _, u := range updates {
		if u.Verification != nil {
			last = u.Verification
		}
	}
	if len(last) != 2 || last[0].Outcome != "passed" || last[0].LastValue != "up on api@dev at abc123" || last[1].Outcome != "failed" {
		t.Errorf("reported verification = %+v, want first passed (its output the value), second failed, third never run", last)
	}
	if err := v.Verify(t.Context(), &plan.Node{ID: "web@dev", Service: "web", Environment: "dev"}, func(run.Update) {}); err != nil {
		t.Errorf("Verify(unverified service) = %v, want nil", err)
	}
}
