package evidence

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	predicateSchemaFile = "../../schema/evidence-predicate.schema.json"
	predicateSchemaID   = "https://raw.githubusercontent.com/promote-dev/promote/main/schema/evidence-predicate.schema.json"
)

// predicateSchema compiles the schema once for all tests, which only read
// it.
var predicateSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	b, err := os.ReadFile(predicateSchemaFile)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	// Validators such as editors check formats (date-time, uri), so the
	// tests do too.
	c.AssertFormat()
	if err := c.AddResource(predicateSchemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(predicateSchemaID)
})

func compilePredicateSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := predicateSchema()
	if err != nil {
		t.Fatalf("compiling %s: %v", predicateSchemaFile, err)
	}
	return sch
}

func TestPredicateSchemaIsValid(t *testing.T) {
	t.Parallel()
	meta, err := jsonschema.NewCompiler().Compile("https://json-schema.org/draft/2020-12/schema")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(predicateSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("UnmarshalJSON(%s) error = %v", predicateSchemaFile, err)
	}
	if err := meta.Validate(doc); err != nil {
		t.Errorf("metaschema Validate(%s) = %v, want nil", predicateSchemaFile, err)
	}
	// The schema names every field the Go type has, and no other.
	var schema struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(predicateNames, slices.Collect(maps.Keys(schema.Properties)), cmpopts.SortSlices(strings.Compare)); diff != "" {
		t.Errorf("schema properties (-Go fields +schema):\n%s", diff)
	}
	var tags []string
	for f := range reflect.TypeFor[Predicate]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		tags = append(tags, name)
	}
	if diff := cmp.Diff(predicateNames, tags); diff != "" {
		t.Errorf("Predicate's JSON names (-decoder +struct):\n%s", diff)
	}
	compilePredicateSchema(t)
}

// payloadOf returns the payload of a stored envelope.
func payloadOf(t *testing.T, envelope []byte) []byte {
	t.Helper()
	env, err := decodeEnvelope(envelope)
	if err != nil {
		t.Fatalf("decodeEnvelope() error = %v", err)
	}
	return env.payload
}

// predicateJSON returns the predicate of a payload as a JSON value for the
// schema validator.
func predicateJSON(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	var st struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(st.Predicate))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// TestStatementsAreInToto decodes the statements Append writes with the
// in-toto types and protojson, the reference, and checks their subjects,
// predicate type and predicate against the JSON Schema; the package's own
// fast decoder must agree with encoding/json.
func TestStatementsAreInToto(t *testing.T) {
	t.Parallel()
	sch := compilePredicateSchema(t)
	store := newLocalStore(t)
	records := testRecords(0, 6)
	records[4].Approvers = nil
	records[4].DeploymentID = 0
	records[4].WorkflowRunURL = ""
	stored := mustAppend(t, store, newFastSigner(t, 1), records)
	for i, s := range stored {
		r := records[i]
		payload := payloadOf(t, s.Envelope)

		var st intoto.Statement
		if err := protojson.Unmarshal(payload, &st); err != nil {
			t.Fatalf("%s: protojson.Unmarshal() error = %v", s.Key, err)
		}
		if err := st.Validate(); err != nil {
			t.Errorf("%s: in-toto Validate() error = %v", s.Key, err)
		}
		if st.GetPredicateType() != r.Kind.PredicateType() {
			t.Errorf("%s: predicateType = %q, want %q", s.Key, st.GetPredicateType(), r.Kind.PredicateType())
		}
		type subject struct{ Name, Alg, Digest string }
		var got []subject
		for _, d := range st.GetSubject() {
			for alg, digest := range d.GetDigest() {
				got = append(got, subject{d.GetName(), alg, digest})
			}
		}
		want := []subject{
			{"git+https://github.com/promote-dev/promote@" + r.Commit, "gitCommit", r.Commit},
			{"plan.json", "sha256", r.Subjects[0].SHA256},
		}
		if r.MeshReportSHA256 != "" {
			want = append(want, subject{"mesh-report", "sha256", r.MeshReportSHA256})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: subjects (-want +got):\n%s", s.Key, diff)
		}

		pj := predicateJSON(t, payload)
		if err := sch.Validate(pj); err != nil {
			t.Errorf("%s: predicate does not validate against %s: %v", s.Key, predicateSchemaFile, err)
		}

		var viaJSON struct {
			Predicate Predicate `json:"predicate"`
		}
		if err := json.Unmarshal(payload, &viaJSON); err != nil {
			t.Fatal(err)
		}
		fast, err := decodeStatement(payload)
		if err != nil {
			t.Fatalf("%s: decodeStatement() error = %v", s.Key, err)
		}
		if diff := cmp.Diff(viaJSON.Predicate, fast.predicate); diff != "" {
			t.Errorf("%s: decodeStatement() predicate differs from encoding/json's (-json +fast):\n%s", s.Key, diff)
		}
		if fast.commit != r.Commit || fast.predicateType != r.Kind.PredicateType() {
			t.Errorf("%s: decodeStatement() = commit %q, type %q; want %q, %q", s.Key, fast.commit, fast.predicateType, r.Commit, r.Kind.PredicateType())
		}
	}
	// Spot-check the fields of one record.
	p, err := decodeStatement(payloadOf(t, stored[0].Envelope))
	if err != nil {
		t.Fatal(err)
	}
	want := Predicate{
		Kind: KindPromotion, Service: "api", Environment: "staging", Node: "api@staging",
		DeploymentID: 1000000, WorkflowRunURL: "https://github.com/promote-dev/promote/actions/runs/9000000",
		Actor: "octocat", Approvers: []string{"alice", "bob"},
		StartedAt: "2026-05-04T09:30:00Z", FinishedAt: "2026-05-04T09:30:42Z",
		Outcome: "succeeded", Attempts: 1, Seq: 1, Prev: "",
		QueuedAt: "2026-05-04T09:29:50Z", ApprovalWaitSeconds: 12.5, CommitTime: "2026-05-04T08:00:00Z", APIRequests: 7,
		Run: &RunSummary{
			ID: "9000000-1", StartedAt: testStart.Add(-time.Minute), FinishedAt: testStart.Add(10 * time.Minute),
			MakespanSeconds: 600, LowerBoundSeconds: 480.5, MaxParallel: 4, BusySeconds: 1500,
		},
	}
	if diff := cmp.Diff(want, p.predicate); diff != "" {
		t.Errorf("record 1 predicate (-want +got):\n%s", diff)
	}
}

// TestSchemaRejects checks that the schema is as strict as the records
// Append refuses to write.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	sch := compilePredicateSchema(t)
	stored := mustAppend(t, newLocalStore(t), newFastSigner(t, 1), testRecords(0, 2))
	valid := predicateJSON(t, payloadOf(t, stored[1].Envelope)) // a gate, seq 2
	if err := sch.Validate(valid); err != nil {
		t.Fatalf("Validate(record 2) error = %v", err)
	}
	tests := []struct {
		what   string
		change func(p map[string]any)
	}{
		{"no seq", func(p map[string]any) { delete(p, "seq") }},
		{"seq 0", func(p map[string]any) { p["seq"] = json.Number("0") }},
		{"no prev", func(p map[string]any) { delete(p, "prev") }},
		{"empty prev after seq 1", func(p map[string]any) { p["prev"] = "" }},
		{"prev at seq 1", func(p map[string]any) { p["seq"] = json.Number("1") }},
		{"prev not hex", func(p map[string]any) { p["prev"] = strings.Repeat("G", 64) }},
		{"unknown kind", func(p map[string]any) { p["kind"] = "deploy" }},
		{"outcome of another kind", func(p map[string]any) { p["outcome"] = "succeeded" }},
		{"unknown field", func(p map[string]any) { p["comment"] = "lgtm" }},
		{"no actor", func(p map[string]any) { delete(p, "actor") }},
		{"time not RFC 3339", func(p map[string]any) { p["started_at"] = "yesterday" }},
		{"deployment id 0", func(p map[string]any) { p["deployment_id"] = json.Number("0") }},
		{"bad mesh digest", func(p map[string]any) { p["mesh_report_sha256"] = "abc" }},
		{"promotion field on a gate", func(p map[string]any) { p["queued_at"] = "2026-05-04T09:29:50Z" }},
		{"mesh on a gate", func(p map[string]any) {
			p["mesh"] = map[string]any{"findings": []any{}, "ignored": json.Number("0"), "mtls": []any{}, "policies": []any{}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			p := maps.Clone(valid)
			tt.change(p)
			if err := sch.Validate(p); err == nil {
				t.Errorf("Validate(%s) error = nil, want one", tt.what)
			}
		})
	}
}

func TestPredicateTypes(t *testing.T) {
	t.Parallel()
	want := []string{
		"https://promote.dev/evidence/promotion/v2",
		"https://promote.dev/evidence/gate/v2",
		"https://promote.dev/evidence/mesh-check/v2",
	}
	var got []string
	for _, k := range kinds {
		got = append(got, k.PredicateType())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("predicate types (-want +got):\n%s", diff)
	}
}

func TestStatementRefusesSeqsBeyondFloat64(t *testing.T) {
	t.Parallel()
	r := testRecord(0)
	if _, err := r.statement(1<<53, strings.Repeat("a", 64)); err == nil {
		t.Error("statement(2^53) error = nil, want one: a float64 cannot carry it exactly")
	}
	if _, err := r.statement(1<<53-1, strings.Repeat("a", 64)); err != nil {
		t.Errorf("statement(2^53-1) error = %v, want nil", err)
	}
}

func TestStatementFromAnotherWriterDecodes(t *testing.T) {
	t.Parallel()
	// A statement as another protojson version might lay it out: spaces,
	// another key order, escapes.
	payload := []byte(`{ "predicateType" : "https://promote.dev/evidence/gate/v1",
	  "subject": [ {"digest": {"gitCommit": "` + strings.Repeat("a", 40) + `"}, "name": "x"} ],
	  "_type": "https://in-toto.io/Statement/v1",
	  "predicate": {"seq": 2, "prev": "` + strings.Repeat("b", 64) + `", "kind": "gate", "service": "\u0061pi",
	    "environment": "prod", "node": "api@prod", "actor": "a", "approvers": [], "started_at": "t", "finished_at": "t",
	    "outcome": "approved", "attempts": 1}}`)
	st, err := decodeStatement(payload)
	if err != nil {
		t.Fatalf("decodeStatement() error = %v", err)
	}
	if st.predicate.Seq != 2 || st.predicate.Service != "api" {
		t.Errorf("decodeStatement() = seq %d, service %q; want 2, %q", st.predicate.Seq, st.predicate.Service, "api")
	}
	var ref intoto.Statement
	if err := protojson.Unmarshal(payload, &ref); err != nil {
		t.Errorf("protojson.Unmarshal() error = %v", err)
	}
}
