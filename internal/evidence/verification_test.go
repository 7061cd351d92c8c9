package evidence

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	intoto "github.com/in-toto/attestation/go/v1"
)

// verifiedRollback is a promotion record of a rollback with its checks.
func verifiedRollback() Record {
	r := testRecord(0)
	r.Verification = []Verification{
		{Name: "health", Type: "http", Outcome: "passed", Attempts: 3, LastValue: "HTTP 200", Message: "3 consecutive attempts passed", StartedAt: r.FinishedAt.Add(-time.Minute), FinishedAt: r.FinishedAt},
		{Name: "errors", Type: "prometheus", Outcome: "passed", Attempts: 1, StartedAt: r.FinishedAt, FinishedAt: r.FinishedAt},
	}
	r.Rollback = &Rollback{FromCommit: strings.Repeat("d", 40), Reason: `verification of api@staging failed: prometheus check "errors"`, Manual: false}
	return r
}

func TestVerificationRoundTrip(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	signer := newFastSigner(t, 1)
	want := verifiedRollback()
	manual := testRecord(3)
	manual.Rollback = &Rollback{FromCommit: strings.Repeat("e", 40), Reason: "paged: checkout errors", Manual: true}
	mustAppend(t, store, signer, []Record{want, manual})
	entries, err := (&Verifier{Keys: publicKeys(t, signer)}).Read(context.Background(), store)
	if err != nil {
		t.Fatalf("Read() error = %v, want nil", err)
	}
	got := entries[0].Predicate
	if diff := cmp.Diff(want.Verification, got.Verification, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("verification (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Rollback, got.Rollback); diff != "" {
		t.Errorf("rollback (-want +got):\n%s", diff)
	}
	if rb := entries[1].Rollback; rb == nil || !rb.Manual || entries[1].Verification != nil {
		t.Errorf("manual rollback entry = %+v, want manual and no verification", entries[1].Predicate)
	}
}

func TestDecodeVerificationStrictly(t *testing.T) {
	t.Parallel()
	commit := strings.Repeat("a", 40)
	statement := func(version int, extra string) string {
		return `{"_type":"` + intoto.StatementTypeUri + `","subject":[{"digest":{"gitCommit":"` + commit + `"}}],"predicateType":"` +
			KindPromotion.predicateType(version) + `","predicate":{"kind":"promotion","outcome":"failed","service":"s","environment":"e","node":"n","actor":"a","approvers":[],"started_at":"t","finished_at":"t","attempts":1,"seq":1,"prev":""` + extra + `}}`
	}
	check := `{"name":"health","type":"http","outcome":"failed","attempts":3,"last_value":"HTTP 503","message":"3 of 3 attempts failed","started_at":"2026-05-04T09:30:00Z","finished_at":"2026-05-04T09:31:00Z"}`
	rollback := `"rollback":{"from_commit":"` + strings.Repeat("b", 40) + `","reason":"deploy failed","manual":false}`
	tests := []struct {
		what, in, wantErr string
	}{
		{"verification and rollback", statement(2, `,"verification":[`+check+`],`+rollback), ""},
		{"without the optional values", statement(2, `,"verification":[{"name":"x","type":"command","outcome":"passed","attempts":1,"started_at":"2026-05-04T09:30:00Z","finished_at":"2026-05-04T09:30:00Z"}]`), ""},
		{"in a v1 record", statement(1, `,"verification":[`+check+`]`), `"verification" is new in predicate v2`},
		{"unknown type", statement(2, `,"verification":[`+strings.Replace(check, `"http"`, `"ping"`, 1)+`]`), `type "ping"`},
		{"unknown outcome", statement(2, `,"verification":[`+strings.Replace(check, `"outcome":"failed"`, `"outcome":"flaky"`, 1)+`]`), `outcome "flaky"`},
		{"no attempts", statement(2, `,"verification":[`+strings.Replace(check, `"attempts":3,`, ``, 1)+`]`), `no "attempts"`},
		{"unknown field", statement(2, `,"verification":[`+strings.Replace(check, `"name"`, `"threshold":1,"name"`, 1)+`]`), `unknown verification field "threshold"`},
		{"manual not a boolean", statement(2, `,`+strings.Replace(rollback, "false", `"no"`, 1)), "want true or false"},
		{"rollback from a short commit", statement(2, `,"rollback":{"from_commit":"abc","reason":"r","manual":true}`), "want 40 lowercase hex digits"},
		{"rollback without reason", statement(2, `,"rollback":{"from_commit":"`+strings.Repeat("b", 40)+`","manual":true}`), `no "reason"`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			checkDecodeStatement(t, tt.in, tt.wantErr)
		})
	}
}

func TestAppendRefusesInvalidVerification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		change func(r *Record)
	}{
		{"unnamed check", func(r *Record) { r.Verification[0].Name = "" }},
		{"unknown type", func(r *Record) { r.Verification[0].Type = "ping" }},
		{"finished before it started", func(r *Record) { r.Verification[0].FinishedAt = r.Verification[0].StartedAt.Add(-time.Second) }},
		{"rollback without reason", func(r *Record) { r.Rollback.Reason = "" }},
		{"verification on a gate", func(r *Record) {
			r.Kind, r.Outcome, r.Run, r.APIRequests, r.ApprovalWait, r.QueuedAt, r.CommitTime, r.Rollback = KindGate, "approved", nil, 0, 0, time.Time{}, time.Time{}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			r := verifiedRollback()
			tt.change(&r)
			if _, err := Append(context.Background(), newLocalStore(t), newFastSigner(t, 1), []Record{r}); err == nil {
				t.Fatalf("Append(%s) error = nil, want one", tt.what)
			}
		})
	}
}
