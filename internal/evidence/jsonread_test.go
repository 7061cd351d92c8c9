package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

var (
	b64Payload = base64.StdEncoding.EncodeToString([]byte(`{"a":1}`))
	b64Sig     = base64.StdEncoding.EncodeToString([]byte("sig"))
)

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		in      string
		want    *envelope
		wantErr string
	}{
		{
			what: "as Append writes it",
			in:   `{"payloadType":"t","payload":"` + b64Payload + `","signatures":[{"keyid":"k","sig":"` + b64Sig + `"}]}` + "\n",
			want: &envelope{payloadType: "t", payload: []byte(`{"a":1}`), signatures: []envelopeSignature{{keyID: "k", sig: []byte("sig")}}},
		},
		{
			what: "another order, white space, escapes, URL-safe base64",
			in:   " {\n\"signatures\" : [ {\"sig\":\"" + base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}) + "\", \"keyid\":\"k\\u00e9\\n\"} ],\t\"payload\":\"\", \"payloadType\":\"a\\/b\"} ",
			want: &envelope{payloadType: "a/b", payload: []byte{}, signatures: []envelopeSignature{{keyID: "ké\n", sig: []byte{0xfb, 0xff}}}},
		},
		{
			what: "no signatures",
			in:   `{"payloadType":"t","payload":"","signatures":[]}`,
			want: &envelope{payloadType: "t", payload: []byte{}},
		},
		{what: "duplicate key", in: `{"payloadType":"t","payloadType":"u","payload":"","signatures":[]}`, wantErr: `duplicate key "payloadType"`},
		{what: "unknown field", in: `{"payloadType":"t","payload":"","signatures":[],"x":1}`, wantErr: `unknown envelope field "x"`},
		{what: "unknown signature field", in: `{"payloadType":"t","payload":"","signatures":[{"sig":"","cert":""}]}`, wantErr: `unknown signature field "cert"`},
		{what: "signature without sig", in: `{"payloadType":"t","payload":"","signatures":[{"keyid":"k"}]}`, wantErr: `without "sig"`},
		{what: "no payload", in: `{"payloadType":"t","signatures":[]}`, wantErr: `no "payload"`},
		{what: "no payloadType", in: `{"payload":"","signatures":[]}`, wantErr: `no "payloadType"`},
		{what: "no signatures field", in: `{"payloadType":"t","payload":""}`, wantErr: `no "signatures"`},
		{what: "bad base64", in: `{"payloadType":"t","payload":"!!!!","signatures":[]}`, wantErr: "payload: not base64"},
		{what: "trailing data", in: `{"payloadType":"t","payload":"","signatures":[]} {}`, wantErr: "data after the document"},
		{what: "truncated", in: `{"payloadType":"t","payload":"`, wantErr: "unexpected end"},
		{what: "control character", in: "{\"payloadType\":\"a\tb\",\"payload\":\"\",\"signatures\":[]}", wantErr: "control character"},
		{what: "invalid UTF-8", in: "{\"payloadType\":\"\xff\",\"payload\":\"\",\"signatures\":[]}", wantErr: "not UTF-8"},
		{what: "not an object", in: `[]`, wantErr: `want '{'`},
		{what: "bad escape", in: `{"payloadType":"\x","payload":"","signatures":[]}`, wantErr: "invalid escape"},
		{what: "null", in: `{"payloadType":null,"payload":"","signatures":[]}`, wantErr: `want '"'`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got, err := decodeEnvelope([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("decodeEnvelope(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeEnvelope(%q) error = %v, want nil", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(envelope{}, envelopeSignature{})); diff != "" {
				t.Errorf("decodeEnvelope(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestJSONStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{`"plain"`, "plain"},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\u00e9\u20AC"`, "é€"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d"`, "\uFFFD"},
		{`"\ud83dx"`, "\uFFFDx"},
		{`"\ud83d\u0041"`, "\uFFFDA"},
		{`"ü"`, "ü"},
	}
	for _, tt := range tests {
		r := jsonReader{b: []byte(tt.in)}
		got, err := r.str()
		if err != nil || got != tt.want {
			t.Errorf("str(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		var ref string
		if err := json.Unmarshal([]byte(tt.in), &ref); err != nil || ref != got {
			t.Errorf("str(%s) = %q, but encoding/json says %q (%v)", tt.in, got, ref, err)
		}
	}
	for _, in := range []string{`"\u12"`, `"\u12zz"`, `"\ud83d\u12"`, `"abc`, `"\`} {
		r := jsonReader{b: []byte(in)}
		if got, err := r.str(); err == nil {
			t.Errorf("str(%s) = %q, want an error", in, got)
		}
	}
}

func TestJSONIntegers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"0", 0, false},
		{"42", 42, false},
		{"1e+06", 0, true},
		{"2.0", 0, true},
		{"9007199254740991", 9007199254740991, false},
		{"9007199254740992", 0, true},
		{"-1", 0, true},
		{"1.5", 0, true},
		{"01", 0, true}, // the reader stops after 0; end() then fails
		{"1.", 0, true},
		{"1e", 0, true},
		{"-", 0, true},
		{"x", 0, true},
	}
	for _, tt := range tests {
		r := jsonReader{b: []byte(tt.in)}
		got, err := r.integer(maxSeq)
		if err == nil {
			err = r.end()
		}
		if (err != nil) != tt.wantErr || got != tt.want && !tt.wantErr {
			t.Errorf("integer(%s) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecodeStatementRefuses(t *testing.T) {
	t.Parallel()
	commit := strings.Repeat("a", 40)
	prev := strings.Repeat("b", 64)
	predicate := `"kind":"gate","service":"s","environment":"e","node":"n","actor":"a","approvers":[],"started_at":"t","finished_at":"t","outcome":"approved","attempts":1`
	statement := func(typ, subject, predicateType, pred string) string {
		return `{"_type":"` + typ + `","subject":[` + subject + `],"predicateType":"` + predicateType + `","predicate":{` + pred + `}}`
	}
	okSubject := `{"name":"x","digest":{"gitCommit":"` + commit + `"}}`
	gate := KindGate.PredicateType()
	tests := []struct {
		what    string
		in      string
		wantErr string
	}{
		{"valid", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"seq":2,"prev":"`+prev+`"`), ""},
		{"old statement type", statement("https://in-toto.io/Statement/v0.1", okSubject, gate, predicate+`,"seq":2,"prev":"`+prev+`"`), "_type is"},
		{"another predicate type", statement(intoto.StatementTypeUri, okSubject, "https://slsa.dev/provenance/v1", predicate+`,"seq":2,"prev":"`+prev+`"`), "not a Promote evidence type"},
		{"kind and type disagree", statement(intoto.StatementTypeUri, okSubject, KindPromotion.PredicateType(), predicate+`,"seq":2,"prev":"`+prev+`"`), "does not match predicateType"},
		{"no commit", statement(intoto.StatementTypeUri, `{"name":"x","digest":{"sha256":"`+prev+`"}}`, gate, predicate+`,"seq":2,"prev":"`+prev+`"`), "no subject with a gitCommit"},
		{"short commit", statement(intoto.StatementTypeUri, `{"digest":{"gitCommit":"abc"}}`, gate, predicate+`,"seq":2,"prev":"`+prev+`"`), "gitCommit digest \"abc\""},
		{"two commits", statement(intoto.StatementTypeUri, okSubject+","+okSubject, gate, predicate+`,"seq":2,"prev":"`+prev+`"`), "more than one gitCommit"},
		{"subject without digest", statement(intoto.StatementTypeUri, okSubject+`,{"name":"y","digest":{}}`, gate, predicate+`,"seq":2,"prev":"`+prev+`"`), "without a digest"},
		{"no seq", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"prev":"`+prev+`"`), "without seq and prev"},
		{"seq 0", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"seq":0,"prev":""`), "has no seq"},
		{"prev on record 1", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"seq":1,"prev":"`+prev+`"`), "record 1 has prev"},
		{"no prev after record 1", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"seq":3,"prev":""`), "want 64 lowercase hex"},
		{"unknown predicate field", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"seq":2,"prev":"`+prev+`","x":1`), `unknown predicate field "x"`},
		{"seq not a number", statement(intoto.StatementTypeUri, okSubject, gate, predicate+`,"seq":"2","prev":"`+prev+`"`), "predicate seq"},
		{"unknown statement field", `{"_type":"https://in-toto.io/Statement/v1","extra":1}`, `unknown statement field "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			checkDecodeStatement(t, tt.in, tt.wantErr)
		})
	}
}

// FuzzDecodeEnvelope checks that whatever decodeEnvelope accepts,
// encoding/json decodes to the same envelope, as cosign would read it.
func FuzzDecodeEnvelope(f *testing.F) {
	stored := mustAppend(f, newLocalStore(f), newFastSigner(f, 1), testRecords(0, 2))
	for _, s := range stored {
		f.Add(s.Envelope)
	}
	f.Add([]byte(`{"payloadType":"t","payload":"","signatures":[{"keyid":"\u00e9","sig":"-_8="}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		var ref dsse.Envelope
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("decodeEnvelope(%q) accepted what encoding/json refuses: %v", data, err)
		}
		payload, err := ref.DecodeB64Payload()
		if err != nil || ref.PayloadType != env.payloadType || !bytes.Equal(payload, env.payload) || len(ref.Signatures) != len(env.signatures) {
			t.Fatalf("decodeEnvelope(%q) = %+v, encoding/json = %+v", data, env, ref)
		}
		for i, s := range ref.Signatures {
			sig, err := decodeBase64([]byte(s.Sig))
			if err != nil || s.KeyID != env.signatures[i].keyID || !bytes.Equal(sig, env.signatures[i].sig) {
				t.Fatalf("decodeEnvelope(%q) signature %d = %+v, encoding/json = %+v", data, i, env.signatures[i], s)
			}
		}
	})
}

// FuzzDecodeStatement checks that whatever decodeStatement accepts,
// protojson decodes to an in-toto Statement and encoding/json to the same
// predicate.
func FuzzDecodeStatement(f *testing.F) {
	stored := mustAppend(f, newLocalStore(f), newFastSigner(f, 1), testRecords(0, 3))
	for _, s := range stored {
		env, err := decodeEnvelope(s.Envelope)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env.payload)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeStatement(data)
		if err != nil {
			return
		}
		var ref intoto.Statement
		if err := protojson.Unmarshal(data, &ref); err != nil {
			t.Fatalf("decodeStatement(%q) accepted what protojson refuses: %v", data, err)
		}
		if ref.GetPredicateType() != st.predicateType {
			t.Fatalf("decodeStatement(%q) predicate type %q, protojson %q", data, st.predicateType, ref.GetPredicateType())
		}
		var viaJSON struct {
			Predicate Predicate `json:"predicate"`
		}
		if err := json.Unmarshal(data, &viaJSON); err != nil {
			t.Fatalf("decodeStatement(%q) accepted what encoding/json refuses: %v", data, err)
		}
		if diff := cmp.Diff(viaJSON.Predicate, st.predicate); diff != "" {
			t.Fatalf("decodeStatement(%q) predicate (-encoding/json +fast):\n%s", data, diff)
		}
	})
}

// checkDecodeStatement decodes in and checks that it fails with an error
// containing wantErr, or succeeds when wantErr is empty.
func checkDecodeStatement(t *testing.T, in, wantErr string) {
	t.Helper()
	_, err := decodeStatement([]byte(in))
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("decodeStatement() error = %v, want nil", err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Errorf("decodeStatement() error = %v, want one containing %q", err, wantErr)
	}
}
