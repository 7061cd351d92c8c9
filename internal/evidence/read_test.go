package evidence

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// promotion is a promotion record of node for commit.
func promotion(commit, node, outcome string, attempts int) Record {
	r := testRecord(0)
	r.Commit = commit
	r.Service, r.Environment, r.Node = "api", "dev", node
	r.Outcome, r.Attempts = outcome, attempts
	r.Subjects = append(r.Subjects, Subject{Name: "manifest", SHA256: fmt.Sprintf("%064x", 0xa11)})
	return r
}

// TestReadAndLastPromotions reads a verified log back and picks, per node,
// the record a rerun of a commit resumes from.
func TestReadAndLastPromotions(t *testing.T) {
	t.Parallel()
	store, signer := newLocalStore(t), newFastSigner(t, 1)
	a, b := fmt.Sprintf("%040x", 0xa), fmt.Sprintf("%040x", 0xb)
	mustAppend(t, store, signer, []Record{
		promotion(a, "api@dev", "failed", 1),     // 1
		promotion(a, "api@dev", "succeeded", 2),  // 2: the last attempt for a
		promotion(a, "api@dev", "skipped", 0),    // 3: never started: changes nothing
		promotion(b, "api@dev", "failed", 1),     // 4: another commit
		promotion(a, "web@dev", "succeeded", 1),  // 5
		promotion(a, "web@dev", "cancelled", 1),  // 6: stopped while deploying: web's state is unknown
		promotion(a, "db@dev", "cancelled", 0),   // 7: never started
		testRecord(1),                            // 8: a gate record
		promotion(b, "web@dev", "succeeded", 1)}) // 9
	entries, err := (&Verifier{Keys: publicKeys(t, signer)}).Read(context.Background(), store)
	if err != nil {
		t.Fatalf("Read() error = %v, want nil", err)
	}
	if len(entries) != 9 || entries[1].Seq != 2 || entries[1].Commit != a || entries[1].Subject("manifest") != fmt.Sprintf("%064x", 0xa11) ||
		entries[1].Subject("plan.json") != fmt.Sprintf("%064x", 0xfeed) || entries[1].Finished().IsZero() {
		t.Fatalf("Read() = %d entries, the second %+v", len(entries), entries[1])
	}
	got := map[string]string{}
	for node, e := range LastPromotions(entries, a) {
		got[node] = fmt.Sprintf("#%d %s", e.Seq, e.Outcome)
	}
	want := map[string]string{"api@dev": "#2 succeeded", "web@dev": "#6 cancelled"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LastPromotions(commit a) (-want +got):\n%s", diff)
	}
}

// TestReadRefusesALogThatDoesNotVerify: one changed record makes Read trust
// none of them.
func TestReadRefusesALogThatDoesNotVerify(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	env := l.envelope(t, 3)
	env.Payload[len(env.Payload)/2] ^= 1
	l.setEnvelope(t, 3, env)
	entries, err := (&Verifier{Keys: publicKeys(t, l.signer)}).Read(context.Background(), l.store)
	var ue *UnverifiedError
	if !errors.As(err, &ue) || entries != nil {
		t.Fatalf("Read() = %d entries, %v; want none and an *UnverifiedError", len(entries), err)
	}
	if ue.Report.OK() || ue.Error() == "" {
		t.Errorf("UnverifiedError = %q with report %+v", ue.Error(), ue.Report.Failures)
	}
	// An untrusted key is refused the same way.
	other := newFastSigner(t, 2)
	if _, err := (&Verifier{Keys: publicKeys(t, other)}).Read(context.Background(), newTestLog(t).store); !errors.As(err, &ue) {
		t.Errorf("Read() with another key: error = %v, want an *UnverifiedError", err)
	}
}
