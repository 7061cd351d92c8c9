package kpi

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/run"
)

const commit3 = "c0ffee0000000000000000000000000000000003"

// check returns a verification that started at start and took took.
func check(name, typ, outcome string, attempts int, start, took time.Duration) evidence.Verification {
	return evidence.Verification{Name: name, Type: typ, Outcome: outcome, Attempts: attempts, LastValue: "200",
		StartedAt: t0.Add(start), FinishedAt: t0.Add(start + took)}
}

// rolledBack returns the record that run.RollbackRecord seals for the
// rollback of failed to commit, from start to start+took.
func rolledBack(t *testing.T, failed evidence.Record, commit, result string, manual bool, deployment int64, start, took time.Duration, checks ...evidence.Verification) evidence.Record {
	t.Helper()
	r, ok := run.RollbackRecord(failed, &run.Rollback{ToCommit: commit, Result: result, Reason: "verification of api@production failed",
		DeploymentID: deployment, StartedAt: t0.Add(start), FinishedAt: t0.Add(start + took), Verification: checks, Manual: manual})
	if !ok {
		t.Fatalf("RollbackRecord(%s) made no record", result)
	}
	return r
}

type want struct {
	desc   *Desc
	labels []string
	value  float64
}

type wantHist struct {
	desc   *Desc
	labels []string
	count  uint64
	sum    float64
}

// computeChain seals records in a local store and computes the figures
// over a day from t0.
func computeChain(t *testing.T, records []evidence.Record) *Snapshot {
	t.Helper()
	st, keys, _ := sealChain(t, records)
	g := Gather(t.Context(), Sources{StoreName: "file://evidence", Store: st, Keys: keys})
	if len(g.Errors) > 0 {
		t.Fatalf("Gather() errors = %v", g.Errors)
	}
	s := Compute(g.Input, Options{Now: t0.Add(24 * time.Hour), Since: 24 * time.Hour})
	if !s.ChainOK {
		t.Fatalf("ChainOK = false; problems %q", s.Problems)
	}
	return s
}

func checkFigures(t *testing.T, s *Snapshot, values []want, hists []wantHist) {
	t.Helper()
	for _, w := range values {
		if got, ok := s.Value(w.desc, w.labels...); !ok || got != w.value {
			t.Errorf("%s%q = %v (present %v), want %v", w.desc.Name, w.labels, got, ok, w.value)
		}
	}
	for _, w := range hists {
		var found bool
		for _, smp := range s.Family(w.desc).Samples {
			if slices.Equal(smp.Labels, w.labels) {
				found = true
				if smp.Count != w.count || smp.Sum != w.sum {
					t.Errorf("%s%q = count %d, sum %v; want %d, %v", w.desc.Name, w.labels, smp.Count, smp.Sum, w.count, w.sum)
				}
			}
		}
		if !found {
			t.Errorf("%s%q: no series", w.desc.Name, w.labels)
		}
	}
}

// TestVerifications counts a staging deploy's checks and the soak checks
// that the production node's record holds (production skipped: the
// service did not stay healthy in staging).
func TestVerifications(t *testing.T) {
	t.Parallel()
	staging := promotion("api", "staging", "succeeded", 1, commit1, time.Hour, 10*time.Minute)
	staging.Verification = []evidence.Verification{
		check("health", "http", "passed", 3, time.Hour+5*time.Minute, 30*time.Second),
		check("errors", "prometheus", "passed", 2, time.Hour+6*time.Minute, 2*time.Minute),
	}
	production := promotion("api", "production", "skipped", 0, commit1, 2*time.Hour, 0)
	production.Attempts, production.Run, production.QueuedAt, production.APIRequests, production.ApprovalWait = 0, nil, time.Time{}, 0, 0
	production.Verification = []evidence.Verification{
		check("soak/health", "http", "failed", 3, time.Hour+10*time.Minute, 10*time.Minute),
		check("soak/errors", "prometheus", "passed", 60, time.Hour+10*time.Minute, time.Hour),
	}
	s := computeChain(t, []evidence.Record{staging, production})
	checkFigures(t, s, []want{
		{VerificationsTotal, []string{"api", "staging", "http", "passed"}, 1},
		{VerificationsTotal, []string{"api", "staging", "http", "failed"}, 0},
		{VerificationsTotal, []string{"api", "staging", "prometheus", "passed"}, 1},
		{VerificationsTotal, []string{"api", "production", "http", "failed"}, 1},
		{VerificationsTotal, []string{"api", "production", "prometheus", "passed"}, 1},
		{PromotionsTotal, []string{"api", "production", "skipped"}, 1},
	}, []wantHist{
		{VerificationTime, []string{"api", "staging", "http"}, 1, 30},
		{VerificationTime, []string{"api", "staging", "prometheus"}, 1, 120},
		// The soak checks last the soak: no duration.
		{VerificationTime, []string{"api", "production", "http"}, 0, 0},
	})
	if _, ok := s.Value(VerificationsTotal, "api", "staging", "command", "passed"); ok {
		t.Errorf("%s has a series for a type no check had", VerificationsTotal.Name)
	}
}

// TestAutomaticRollback: commit 2's production deploy fails its
// verification and is rolled back to commit 1. The node's record ends
// after the rollback (the node finishes once its rollback has), so the
// failure dates from the rollback's start: one change failure, recovered
// in the rollback's 10 minutes.
func TestAutomaticRollback(t *testing.T) {
	t.Parallel()
	good := promotion("api", "production", "succeeded", 1, commit1, time.Hour, 5*time.Minute)
	failed := promotion("api", "production", "failed", 2, commit2, 2*time.Hour, 20*time.Minute)
	failed.Verification = []evidence.Verification{check("health", "http", "failed", 3, 2*time.Hour+3*time.Minute, time.Minute)}
	rb := rolledBack(t, failed, commit1, run.RollbackSucceeded, false, 3, 2*time.Hour+5*time.Minute, 10*time.Minute,
		check("health", "http", "passed", 2, 2*time.Hour+10*time.Minute, 5*time.Minute))
	s := computeChain(t, []evidence.Record{good, failed, rb})
	checkFigures(t, s, []want{
		{RollbacksTotal, []string{"api", "production", "succeeded"}, 1},
		{RollbacksTotal, []string{"api", "production", "failed"}, 0},
		// Commit 2's deployment fails once, though a rollback left it.
		{DORADeployments, []string{"api", "production", "failed"}, 1},
		{DORADeployments, []string{"api", "production", "succeeded"}, 2},
		{DORAFailureRatio, []string{"api", "production"}, 1.0 / 3},
		// The rollback's record is no node's promotion.
		{PromotionsTotal, []string{"api", "production", "succeeded"}, 1},
		{PromotionsTotal, []string{"api", "production", "failed"}, 1},
		{PromotionSuccess, []string{"api", "production"}, 0.5},
		{VerificationsTotal, []string{"api", "production", "http", "failed"}, 1},
		{VerificationsTotal, []string{"api", "production", "http", "passed"}, 1},
	}, []wantHist{
		{DORARecovery, []string{"api", "production"}, 1, (10 * time.Minute).Seconds()},
		// Commit 1 at 1h05m; the rollback's commit time is unknown.
		{DORALeadTime, []string{"api", "production"}, 1, (time.Hour + 5*time.Minute).Seconds()},
		{VerificationTime, []string{"api", "production", "http"}, 2, 60 + 300},
		{NodeDuration, []string{"api", "production"}, 2, (25 * time.Minute).Seconds()},
	})
}

// TestManualRollback: commit 2 deployed fine, and someone rolled it back
// by hand three hours later (promote rollback). Its deployment is a change
// failure from its end to the rollback's success. Without the rollback
// field (a v1 record, or a rollback made outside Promote) the commit it
// deploys tells the same story; with it, it is counted once.
func TestManualRollback(t *testing.T) {
	t.Parallel()
	good := promotion("api", "production", "succeeded", 1, commit1, time.Hour, 5*time.Minute)
	bad := promotion("api", "production", "succeeded", 2, commit2, 2*time.Hour, 5*time.Minute)
	// promote rollback's record starts from a bare record of the commit
	// it leaves.
	base := evidence.Record{Kind: evidence.KindPromotion, Repository: "https://github.com/o/r", Commit: commit2, Service: "api",
		Environment: "production", Node: "api@production", Actor: "octocat"}
	rb := rolledBack(t, base, commit1, run.RollbackSucceeded, true, 3, 4*time.Hour+55*time.Minute, 10*time.Minute)
	if !rb.Rollback.Manual {
		t.Fatal("RollbackRecord() did not mark the rollback manual")
	}
	outside := rb
	outside.Rollback = nil
	for _, tt := range []struct {
		name      string
		rollback  evidence.Record
		succeeded float64
	}{
		{"recorded", rb, 2},
		{"commit only", outside, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := computeChain(t, []evidence.Record{good, bad, tt.rollback})
			checkFigures(t, s, []want{
				{RollbacksTotal, []string{"api", "production", "succeeded"}, 1},
				{DORADeployments, []string{"api", "production", "failed"}, 1},
				{DORADeployments, []string{"api", "production", "succeeded"}, 2},
				{PromotionsTotal, []string{"api", "production", "succeeded"}, tt.succeeded},
			}, []wantHist{
				{DORARecovery, []string{"api", "production"}, 1, (3 * time.Hour).Seconds()},
			})
		})
	}
}

// TestFailedRollback: the rollback of commit 2's failed deploy fails too;
// commit 3 fixes it two hours later. The failed rollback is a failed
// deployment of its own, and recovery lasts until commit 3.
func TestFailedRollback(t *testing.T) {
	t.Parallel()
	good := promotion("api", "production", "succeeded", 1, commit1, time.Hour, 5*time.Minute)
	failed := promotion("api", "production", "failed", 2, commit2, 2*time.Hour, 20*time.Minute)
	rb := rolledBack(t, failed, commit1, run.RollbackFailed, false, 3, 2*time.Hour+5*time.Minute, 10*time.Minute,
		check("health", "http", "failed", 3, 2*time.Hour+10*time.Minute, 5*time.Minute))
	fix := promotion("api", "production", "succeeded", 4, commit3, 4*time.Hour, 5*time.Minute)
	s := computeChain(t, []evidence.Record{good, failed, rb, fix})
	if md := Markdown(s, 24*time.Hour); !strings.Contains(md, "| api | production | 0 | 1 | 0 | 1 |") {
		t.Errorf("Markdown() lacks the checks and rollbacks:\n%s", md)
	}
	checkFigures(t, s, []want{
		{RollbacksTotal, []string{"api", "production", "failed"}, 1},
		{RollbacksTotal, []string{"api", "production", "succeeded"}, 0},
		{DORADeployments, []string{"api", "production", "failed"}, 2},
		{DORADeployments, []string{"api", "production", "succeeded"}, 2},
		{DORAFailureRatio, []string{"api", "production"}, 0.5},
		{VerificationsTotal, []string{"api", "production", "http", "failed"}, 1},
	}, []wantHist{
		{DORARecovery, []string{"api", "production"}, 1, (2 * time.Hour).Seconds()},
	})
}
