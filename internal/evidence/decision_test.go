package evidence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	intoto "github.com/in-toto/attestation/go/v1"
)

// gateDecision is the decision of testRecord's gate record i: a warning
// under break-glass.
func gateDecision(i int) *Decision {
	return &Decision{
		Result: "warn",
		Reasons: []DecisionReason{
			{Policy: "freeze", Result: "warn", Message: `change freeze "year-end" is open, overridden by break-glass: INC-1`},
			{Policy: "soak", Result: "allow", Message: "The commit soaked long enough in the previous environment"},
		},
		InputSHA256: fmt.Sprintf("%064x", 0xda7a+i),
		BreakGlass:  "INC-1",
	}
}

func TestDecodeDecisionStrictly(t *testing.T) {
	t.Parallel()
	commit := strings.Repeat("a", 40)
	prev := strings.Repeat("b", 64)
	input := strings.Repeat("c", 64)
	statement := func(kind Kind, version int, outcome, decision string) string {
		return `{"_type":"` + intoto.StatementTypeUri + `","subject":[{"digest":{"gitCommit":"` + commit + `"}},{"name":"gate-input.json","digest":{"sha256":"` + input + `"}}],"predicateType":"` +
			kind.predicateType(version) + `","predicate":{"kind":"` + string(kind) + `","outcome":"` + outcome + `","service":"s","environment":"e","node":"n","actor":"a","approvers":[],` +
			`"started_at":"t","finished_at":"t","attempts":0,"seq":2,"prev":"` + prev + `"` + decision + `}}`
	}
	good := `,"decision":{"result":"deny","reasons":[{"policy":"soak","result":"deny","message":"wait"}],"input_sha256":"` + input + `","break_glass":""}`
	tests := []struct {
		what, in, wantErr string
	}{
		{"gate with a decision", statement(KindGate, 2, "rejected", good), ""},
		{"no reasons", statement(KindGate, 2, "approved", strings.Replace(good, `[{"policy":"soak","result":"deny","message":"wait"}]`, "[]", 1)), ""},
		{"in a v1 record", statement(KindGate, 1, "rejected", good), `"decision" is new in predicate v2`},
		{"in a promotion", statement(KindPromotion, 2, "succeeded", good), "not allowed in a promotion record"},
		{"unknown result", statement(KindGate, 2, "rejected", strings.Replace(good, `"result":"deny","reasons"`, `"result":"maybe","reasons"`, 1)), `result "maybe"`},
		{"reason without message", statement(KindGate, 2, "rejected", strings.Replace(good, `,"message":"wait"`, "", 1)), `no "message"`},
		{"reason with an unknown result", statement(KindGate, 2, "rejected", strings.Replace(good, `"result":"deny","message"`, `"result":"block","message"`, 1)), "want a policy, a message and a result"},
		{"no break_glass", statement(KindGate, 2, "rejected", strings.Replace(good, `,"break_glass":""`, "", 1)), `no "break_glass"`},
		{"short digest", statement(KindGate, 2, "rejected", strings.Replace(good, input, "abc", 1)), "64 lowercase hex digits"},
		{"unknown key", statement(KindGate, 2, "rejected", strings.Replace(good, `"break_glass":""`, `"break_glass":"","by":"x"`, 1)), `unknown decision field "by"`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			checkDecodeStatement(t, tt.in, tt.wantErr)
		})
	}
}

func TestAppendRefusesInvalidDecisions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		change func(r *Record)
		want   string
	}{
		{"deny approved", func(r *Record) { r.Decision.Result = "deny" }, `decision deny with outcome "approved"`},
		{"warn rejected", func(r *Record) { r.Outcome = "rejected" }, `decision warn with outcome "rejected"`},
		{"input not a subject", func(r *Record) { r.Subjects = r.Subjects[:1] }, "must cover the gate input as the subject gate-input.json"},
		{"empty policy", func(r *Record) { r.Decision.Reasons[0].Policy = "" }, "want a policy"},
		{"on a mesh check", func(r *Record) { r.Kind, r.Outcome, r.Mesh = KindMeshCheck, "passed", nil }, "only [\"gate\"] records carry it"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			r := testRecord(1)
			if r.Kind != KindGate {
				t.Fatalf("testRecord(1) is a %s record, want a gate", r.Kind)
			}
			tt.change(&r)
			_, err := Append(context.Background(), newLocalStore(t), newFastSigner(t, 1), []Record{r})
			if err == nil || errors.Is(err, ErrExists) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Append(%s) error = %v, want one containing %q", tt.what, err, tt.want)
			}
		})
	}
}

func TestDecisionRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, signer := newLocalStore(t), newFastSigner(t, 1)
	r := testRecord(1)
	if _, err := Append(ctx, store, signer, []Record{r}); err != nil {
		t.Fatal(err)
	}
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := (&Verifier{Keys: keys}).Read(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	got := entries[0].Decision
	if got == nil || got.Result != "warn" || got.BreakGlass != "INC-1" || len(got.Reasons) != 2 || got.Reasons[0] != r.Decision.Reasons[0] ||
		got.InputSHA256 != r.Decision.InputSHA256 || entries[0].Subject(GateInputSubject) != r.Decision.InputSHA256 {
		t.Errorf("read back decision %+v, want %+v covering the input", got, r.Decision)
	}
}
