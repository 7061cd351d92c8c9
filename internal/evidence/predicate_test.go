package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// appendV1 writes records 1 to n as predicate v1 records, signed and
// chained as Append wrote them before v2, without checkpoints.
func appendV1(t *testing.T, store Store, signer *fastSigner, records []Record) {
	t.Helper()
	prev := ""
	for i, r := range records {
		payload, err := r.statementOf(uint64(i+1), prev, predicateV1)
		if err != nil {
			t.Fatalf("statementOf(v1) error = %v", err)
		}
		sigs, err := signer.Sign(context.Background(), [][]byte{dsse.PAE(PayloadType, payload)})
		if err != nil {
			t.Fatal(err)
		}
		env, err := encodeEnvelope(payload, signer.KeyID(), sigs[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Create(context.Background(), RecordKey(uint64(i+1)), env); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(payload)
		prev = hex.EncodeToString(sum[:])
	}
}

// TestV1RecordsStillVerify writes a log as Promote did before predicate v2,
// appends v2 records to it, and reads both back.
func TestV1RecordsStillVerify(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	signer := newFastSigner(t, 1)
	old := make([]Record, 3)
	for i := range old {
		old[i] = stripV2(testRecord(i))
	}
	appendV1(t, store, signer, old)
	mustAppend(t, store, signer, testRecords(3, 3))

	entries, err := (&Verifier{Keys: publicKeys(t, signer)}).Read(context.Background(), store)
	if err != nil {
		t.Fatalf("Read() error = %v, want nil", err)
	}
	var versions []int
	for _, e := range entries {
		versions = append(versions, e.Version)
	}
	if diff := cmp.Diff([]int{1, 1, 1, 2, 2, 2}, versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if e := entries[3]; e.Kind != KindPromotion || e.Run == nil || e.QueuedAt == "" || e.APIRequests != 7 || e.ApprovalWaitSeconds != 12.5 {
		t.Errorf("v2 promotion entry = %+v, want its v2 fields", e.Predicate)
	}
	if e := entries[5]; e.Kind != KindMeshCheck || e.Mesh == nil || len(e.Mesh.MTLS) != 2 {
		t.Errorf("v2 mesh-check entry = %+v, want its mesh summary", e.Predicate)
	}
	if e := entries[0]; e.Run != nil || e.QueuedAt != "" {
		t.Errorf("v1 entry = %+v, want no v2 fields", e.Predicate)
	}
}

// stripV2 removes the fields predicate v2 added.
func stripV2(r Record) Record {
	r.QueuedAt, r.CommitTime = time.Time{}, time.Time{}
	r.ApprovalWait, r.APIRequests, r.Run, r.Mesh = 0, 0, nil, nil
	return r
}

func TestDecodeV2FieldsStrictly(t *testing.T) {
	t.Parallel()
	commit := strings.Repeat("a", 40)
	prev := strings.Repeat("b", 64)
	base := `"service":"s","environment":"e","node":"n","actor":"a","approvers":[],"started_at":"t","finished_at":"t","attempts":1,"seq":2,"prev":"` + prev + `"`
	statement := func(kind Kind, version int, outcome, extra string) string {
		return `{"_type":"` + intoto.StatementTypeUri + `","subject":[{"digest":{"gitCommit":"` + commit + `"}}],"predicateType":"` +
			kind.predicateType(version) + `","predicate":{"kind":"` + string(kind) + `","outcome":"` + outcome + `",` + base + extra + `}}`
	}
	run := `"run":{"id":"r","started_at":"2026-05-04T09:30:00Z","finished_at":"2026-05-04T09:40:00Z","makespan_seconds":600,"lower_bound_seconds":480.5,"max_parallel":4,"busy_seconds":1500}`
	mesh := `"mesh":{"findings":[{"rule":"r","severity":"error","count":2}],"ignored":0,"mtls":[{"namespace":"n","workload":"","mode":"STRICT"}],"policies":["p"]}`
	tests := []struct {
		what, in, wantErr string
	}{
		{"v2 promotion", statement(KindPromotion, 2, "succeeded", `,"queued_at":"2026-05-04T09:29:50Z","approval_wait_seconds":1.5e1,"commit_time":"2026-05-04T08:00:00Z","api_requests":7,`+run), ""},
		{"v2 mesh check", statement(KindMeshCheck, 2, "passed", ","+mesh), ""},
		{"v2 without v2 fields", statement(KindGate, 2, "approved", ""), ""},
		{"v1 promotion", statement(KindPromotion, 1, "succeeded", ""), ""},
		{"v2 field in a v1 record", statement(KindPromotion, 1, "succeeded", `,"api_requests":7`), `"api_requests" is new in predicate v2`},
		{"promotion field in a gate", statement(KindGate, 2, "approved", `,"queued_at":"2026-05-04T09:29:50Z"`), `not allowed in a gate record`},
		{"mesh in a promotion", statement(KindPromotion, 2, "succeeded", ","+mesh), `not allowed in a promotion record`},
		{"negative wait", statement(KindPromotion, 2, "succeeded", `,"approval_wait_seconds":-1`), "finite number of 0 or more"},
		{"requests not whole", statement(KindPromotion, 2, "succeeded", `,"api_requests":1.5`), "whole number"},
		{"run field missing", statement(KindPromotion, 2, "succeeded", `,"run":{"id":"r"}`), `run: no "started_at"`},
		{"run unknown field", statement(KindPromotion, 2, "succeeded", `,"run":{"x":1}`), `unknown run field "x"`},
		{"run time with an escape", statement(KindPromotion, 2, "succeeded", strings.Replace(","+run, "2026-05-04T09:30:00Z", `\u0032026-05-04T09:30:00Z`, 1)), "without escapes"},
		{"run time not RFC 3339", statement(KindPromotion, 2, "succeeded", strings.Replace(","+run, "2026-05-04T09:30:00Z", "yesterday", 1)), "want RFC 3339"},
		{"mesh finding without count", statement(KindMeshCheck, 2, "passed", `,"mesh":{"findings":[{"rule":"r","severity":"e"}],"ignored":0,"mtls":[],"policies":[]}`), `no "count"`},
		{"mesh duplicate key", statement(KindMeshCheck, 2, "passed", `,"mesh":{"ignored":0,"ignored":1}`), "duplicate key"},
		{"unknown version", strings.Replace(statement(KindGate, 2, "approved", ""), "/v2", "/v3", 1), "not a Promote evidence type"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			checkDecodeStatement(t, tt.in, tt.wantErr)
		})
	}
}

func TestAppendRefusesInvalidV2Fields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		change func(r *Record)
	}{
		{"negative wait", func(r *Record) { r.ApprovalWait = -1 }},
		{"negative requests", func(r *Record) { r.APIRequests = -1 }},
		{"run without id", func(r *Record) { r.Run.ID = "" }},
		{"run max parallel 0", func(r *Record) { r.Run.MaxParallel = 0 }},
		{"run ends before it starts", func(r *Record) { r.Run.FinishedAt = r.Run.StartedAt.Add(-1) }},
		{"queued_at on a gate", func(r *Record) {
			r.Kind, r.Outcome, r.Run, r.APIRequests, r.ApprovalWait = KindGate, "approved", nil, 0, 0
		}},
		{"mesh on a promotion", func(r *Record) { r.Mesh = &MeshSummary{} }},
		{"mesh finding without rule", func(r *Record) {
			*r = testRecord(2)
			r.Mesh.Findings[0].Rule = ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			r := testRecord(0)
			tt.change(&r)
			_, err := Append(context.Background(), newLocalStore(t), newFastSigner(t, 1), []Record{r})
			if err == nil {
				t.Fatalf("Append(%s) error = nil, want one", tt.what)
			}
			if errors.Is(err, ErrExists) {
				t.Errorf("Append(%s) error = %v, want a validation error", tt.what, err)
			}
		})
	}
}
