package run

import (
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/promote-dev/promote/internal/clock"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/sign"
)

// TestRecordsCarryKPIFields runs the diamond in dev in a bubble, where
// durations are exact, and checks the predicate v2 fields of its records:
// queue and approval waits, API requests, and the run's makespan, lower
// bound and busy time.
func TestRecordsCarryKPIFields(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := clock.Real{}
		p := testPlan(t, diamond, dag.Selection{To: "dev"})
		p.Commit = "c0ffee0000000000000000000000000000000000"
		f := newFake(c, map[string]script{"a@dev": {wait: 2 * time.Minute}})
		start := time.Now()
		st := runPlan(t, p, f, Options{Clock: c, MaxParallel: 2})
		committed := start.Add(-time.Hour)
		records, err := Records(p, st, Origin{Actor: "octocat", RunID: "42-1", CommitTime: committed})
		if err != nil {
			t.Fatal(err)
		}
		byNode := map[string]evidence.Record{}
		for _, r := range records {
			if r.Kind == evidence.KindPromotion {
				byNode[r.Node] = r
			}
		}
		a, d := byNode["a@dev"], byNode["d@dev"]
		if a.ApprovalWait != 2*time.Minute || a.APIRequests != 5 || !a.CommitTime.Equal(committed) {
			t.Errorf("a@dev: approval wait %v, api requests %d, commit time %v; want 2m0s, 5, %v", a.ApprovalWait, a.APIRequests, a.CommitTime, committed)
		}
		// d waits for b (2m) and c (3m) after a (1m + 2m approval): ready
		// at 6m, started at once.
		if got := d.QueuedAt.Sub(start); got != 6*time.Minute || !d.StartedAt.Equal(d.QueuedAt) {
			t.Errorf("d@dev queued at +%v, started at +%v; want +6m0s for both", got, d.StartedAt.Sub(start))
		}
		// Nodes: a 3m (approval included), b 2m, c 3m, d 1m, e 1m = 10m
		// busy; critical path a → c → d = 7m; two slots: 10m/2 = 5m.
		want := evidence.RunSummary{
			ID: "42-1", StartedAt: start, FinishedAt: start.Add(7 * time.Minute),
			MakespanSeconds: 7 * 60, LowerBoundSeconds: 7 * 60, MaxParallel: 2, BusySeconds: 10 * 60,
		}
		for id, r := range byNode {
			if r.Run == nil || *r.Run != want {
				t.Errorf("%s: run = %+v, want %+v", id, r.Run, want)
			}
		}
		if len(byNode) != 5 {
			t.Errorf("%d promotion records, want 5", len(byNode))
		}
	})
}

func TestSummaryOfARunThatStartedNothing(t *testing.T) {
	t.Parallel()
	p := testPlan(t, diamond, dag.Selection{To: "dev"})
	st := &Status{StartedAt: time.Now(), Nodes: []NodeStatus{{ID: "a@dev", State: Succeeded, Resumed: true}}}
	if s := Summary(p, st, ""); s != nil {
		t.Errorf("Summary() = %+v, want nil: no node ran", s)
	}
}

// TestGateRecordOfAVerifiedNode seals the records of a node that reviewers
// approved and that verification checked: the gate record carries none of
// the promotion's checks, which the evidence refuses on a gate record
// (before, such a run's records could never leave the spool).
func TestGateRecordOfAVerifiedNode(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	promotion := evidence.Record{
		Kind: evidence.KindPromotion, Commit: "c0ffee0000000000000000000000000000000000", Service: "web", Environment: "production",
		Node: "web@production", Actor: "octocat", Approvers: []string{}, StartedAt: at, FinishedAt: at.Add(time.Minute),
		Outcome: "succeeded", Attempts: 1,
		Verification: []evidence.Verification{{Name: "smoke", Type: "command", Outcome: evidence.VerificationPassed, Attempts: 1,
			StartedAt: at.Add(30 * time.Second), FinishedAt: at.Add(31 * time.Second)}},
	}
	gate, ok := gateRecord(promotion, NodeStatus{Approvals: []Approval{{State: "approved", Reviewer: "alice"}}, ApprovalWaitSeconds: 20})
	if !ok {
		t.Fatal("gateRecord() = false, want a gate record")
	}
	if gate.Verification != nil || gate.Rollback != nil {
		t.Errorf("gate record: verification %v, rollback %v; want neither", gate.Verification, gate.Rollback)
	}
	dir := t.TempDir()
	signer, _, err := sign.LoadOrCreateLocal(filepath.Join(dir, "key.pem"), sign.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	st, err := evidence.NewLocalStore(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Append(t.Context(), st, signer, []evidence.Record{promotion, gate}); err != nil {
		t.Errorf("sealing the promotion and gate records: %v", err)
	}
}
