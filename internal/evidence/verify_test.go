package evidence

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/promote-dev/promote/internal/sign"
)

// testLog is a log of 10 records appended in two runs, 6 and 4, so that it
// has checkpoints at 6 and 10.
type testLog struct {
	store  *LocalStore
	signer *fastSigner
	// checkpoint10 is the last checkpoint, as a run would print it.
	checkpoint10 []byte
}

func newTestLog(t *testing.T) *testLog {
	t.Helper()
	l := &testLog{store: newLocalStore(t), signer: newFastSigner(t, 1)}
	mustAppend(t, l.store, l.signer, testRecords(0, 6))
	mustAppend(t, l.store, l.signer, testRecords(6, 4))
	l.checkpoint10 = readObject(t, l.store, CheckpointKey(10))
	return l
}

// envelopeJSON is a stored envelope, to tamper with.
type envelopeJSON struct {
	PayloadType string          `json:"payloadType"`
	Payload     []byte          `json:"payload"`
	Signatures  []signatureJSON `json:"signatures"`
}

type signatureJSON struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

func (l *testLog) envelope(t *testing.T, seq uint64) envelopeJSON {
	t.Helper()
	var env envelopeJSON
	if err := json.Unmarshal(readObject(t, l.store, RecordKey(seq)), &env); err != nil {
		t.Fatal(err)
	}
	return env
}

func (l *testLog) setEnvelope(t *testing.T, seq uint64, env envelopeJSON) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	overwrite(t, l.store, RecordKey(seq), b)
}

// resign signs record seq's payload again with signer, under keyID.
func (l *testLog) resign(t *testing.T, seq uint64, signer *fastSigner, keyID string) {
	t.Helper()
	env := l.envelope(t, seq)
	sigs, err := signer.Sign(context.Background(), [][]byte{paeOf(env.Payload)})
	if err != nil {
		t.Fatal(err)
	}
	env.Signatures = []signatureJSON{{KeyID: keyID, Sig: sigs[0]}}
	l.setEnvelope(t, seq, env)
}

func paeOf(payload []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(PayloadType), PayloadType, len(payload), payload))
}

// signedCheckpoint returns a checkpoint of the given tree, signed by signer.
func signedCheckpoint(t *testing.T, signer sign.Signer, c checkpoint) []byte {
	t.Helper()
	notes, err := signCheckpoints(context.Background(), signer, publicKeys(t, signer), []checkpoint{c})
	if err != nil {
		t.Fatal(err)
	}
	return notes[0]
}

// wantFailure is a failure Verify must report: its key, its seq and words
// of its reason.
type wantFailure struct {
	key    string
	seq    uint64
	reason string
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	other := newFastSigner(t, 9)
	tests := []struct {
		what   string
		tamper func(t *testing.T, l *testLog)
		// external checkpoints to verify against
		external func(l *testLog) [][]byte
		want     []wantFailure
	}{
		{
			what: "byte flip in a payload",
			tamper: func(t *testing.T, l *testLog) {
				env := l.envelope(t, 4)
				env.Payload = bytes.Replace(env.Payload, []byte(`"octocat"`), []byte(`"octocas"`), 1)
				l.setEnvelope(t, 4, env)
			},
			want: []wantFailure{
				{RecordKey(4), 4, "does not verify"},
				{RecordKey(5), 5, "prev is "},
				{CheckpointKey(6), 6, "root hash"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what: "byte flip in a signature",
			tamper: func(t *testing.T, l *testLog) {
				env := l.envelope(t, 4)
				env.Signatures[0].Sig[10] ^= 0x01
				l.setEnvelope(t, 4, env)
			},
			want: []wantFailure{
				{RecordKey(4), 4, "signature by key"},
				{CheckpointKey(6), 6, "does not match"},
				{CheckpointKey(10), 10, "does not match"},
			},
		},
		{
			what:   "record deleted",
			tamper: func(t *testing.T, l *testLog) { remove(t, l.store, RecordKey(4)) },
			want: []wantFailure{
				{RecordKey(5), 5, "record 4 is missing"},
				{CheckpointKey(6), 6, "covers record 4, which is missing"},
				{CheckpointKey(10), 10, "covers record 4, which is missing"},
			},
		},
		{
			what: "first records deleted",
			tamper: func(t *testing.T, l *testLog) {
				remove(t, l.store, RecordKey(1))
				remove(t, l.store, RecordKey(2))
			},
			want: []wantFailure{
				{RecordKey(3), 3, "records 1 to 2 are missing"},
				{CheckpointKey(6), 6, "covers record 1, which is missing"},
				{CheckpointKey(10), 10, "covers record 1, which is missing"},
			},
		},
		{
			what: "two records swapped",
			tamper: func(t *testing.T, l *testLog) {
				r3, r4 := readObject(t, l.store, RecordKey(3)), readObject(t, l.store, RecordKey(4))
				overwrite(t, l.store, RecordKey(3), r4)
				overwrite(t, l.store, RecordKey(4), r3)
			},
			want: []wantFailure{
				{RecordKey(3), 3, "payload says seq 4 but the key says 3"},
				{RecordKey(4), 4, "payload says seq 3 but the key says 4"},
				{RecordKey(5), 5, "prev is "},
				{CheckpointKey(6), 6, "root hash"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what: "chain truncated, its checkpoint kept",
			tamper: func(t *testing.T, l *testLog) {
				remove(t, l.store, RecordKey(10))
				remove(t, l.store, RecordKey(9))
			},
			want: []wantFailure{
				{CheckpointKey(10), 10, "covers 10 records but the log ends at record 8: records 9 to 10 were removed (truncated)"},
			},
		},
		{
			what: "chain truncated with its checkpoint, an earlier run's checkpoint kept outside",
			tamper: func(t *testing.T, l *testLog) {
				for _, key := range []string{RecordKey(10), RecordKey(9), CheckpointKey(10), frontierKey(10)} {
					remove(t, l.store, key)
				}
			},
			external: func(l *testLog) [][]byte { return [][]byte{l.checkpoint10} },
			want: []wantFailure{
				{"external checkpoint 1", 10, "records 9 to 10 were removed (truncated)"},
			},
		},
		{
			what:   "record re-signed with another key",
			tamper: func(t *testing.T, l *testLog) { l.resign(t, 4, other, other.KeyID()) },
			want: []wantFailure{
				{RecordKey(4), 4, fmt.Sprintf("signed by key %q, which is not trusted", other.KeyID())},
				{CheckpointKey(6), 6, "root hash"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what:   "record re-signed with another key under the trusted key's id",
			tamper: func(t *testing.T, l *testLog) { l.resign(t, 4, other, l.signer.KeyID()) },
			want: []wantFailure{
				{RecordKey(4), 4, "does not verify"},
				{CheckpointKey(6), 6, "root hash"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what: "record with a second signature",
			tamper: func(t *testing.T, l *testLog) {
				env := l.envelope(t, 4)
				env.Signatures = append(env.Signatures, env.Signatures[0])
				l.setEnvelope(t, 4, env)
			},
			want: []wantFailure{
				{RecordKey(4), 4, "envelope has 2 signatures, want exactly 1"},
				{CheckpointKey(6), 6, "root hash"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what: "payload type changed",
			tamper: func(t *testing.T, l *testLog) {
				env := l.envelope(t, 2)
				env.PayloadType = "application/json"
				l.setEnvelope(t, 2, env)
			},
			want: []wantFailure{
				{RecordKey(2), 2, `payloadType is "application/json"`},
				{RecordKey(2), 2, "does not verify"},
				{CheckpointKey(6), 6, "root hash"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what:   "record replaced by garbage",
			tamper: func(t *testing.T, l *testLog) { overwrite(t, l.store, RecordKey(7), []byte("{\"payload\":")) },
			want: []wantFailure{
				{RecordKey(7), 7, "not a DSSE envelope"},
				{CheckpointKey(10), 10, "root hash"},
			},
		},
		{
			what: "checkpoint replaced with one over a different tree",
			tamper: func(t *testing.T, l *testLog) {
				c := checkpoint{origin: "promote.dev/evidence/local/evidence", size: 10, root: tlog.Hash{1, 2, 3}}
				overwrite(t, l.store, CheckpointKey(10), signedCheckpoint(t, l.signer, c))
			},
			want: []wantFailure{
				{CheckpointKey(10), 10, "root hash AQID"},
			},
		},
		{
			what: "checkpoint replaced with one signed by another key",
			tamper: func(t *testing.T, l *testLog) {
				c := checkpoint{origin: "promote.dev/evidence/local/evidence", size: 10, root: tlog.Hash{1, 2, 3}}
				overwrite(t, l.store, CheckpointKey(10), signedCheckpoint(t, other, c))
			},
			want: []wantFailure{
				{CheckpointKey(10), 10, "signed by no trusted key"},
			},
		},
		{
			what: "checkpoint signature flipped",
			tamper: func(t *testing.T, l *testLog) {
				b := readObject(t, l.store, CheckpointKey(6))
				i := bytes.LastIndexByte(b[:len(b)-3], ' ') + 8
				b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
				overwrite(t, l.store, CheckpointKey(6), b)
			},
			want: []wantFailure{
				{CheckpointKey(6), 6, "does not verify"},
			},
		},
		{
			what: "checkpoint renamed",
			tamper: func(t *testing.T, l *testLog) {
				overwrite(t, l.store, CheckpointKey(6), readObject(t, l.store, CheckpointKey(10)))
			},
			want: []wantFailure{
				{CheckpointKey(6), 10, "checkpoint is of tree size 10 but the key says 6"},
			},
		},
		{
			what: "checkpoint of another log",
			tamper: func(t *testing.T, l *testLog) {
				b := readObject(t, l.store, CheckpointKey(10))
				text, _, _ := bytes.Cut(b, []byte("\n\n"))
				c, err := parseCheckpoint(string(text) + "\n")
				if err != nil {
					t.Fatal(err)
				}
				c.origin = "promote.dev/evidence/elsewhere"
				overwrite(t, l.store, CheckpointKey(10), signedCheckpoint(t, l.signer, c))
			},
			want: []wantFailure{
				{CheckpointKey(10), 10, `origin "promote.dev/evidence/elsewhere" differs`},
			},
		},
		{
			what:   "fork: an outside checkpoint of the same size with another root",
			tamper: func(*testing.T, *testLog) {},
			external: func(l *testLog) [][]byte {
				c := checkpoint{origin: "promote.dev/evidence/local/evidence", size: 10, root: tlog.Hash{9}}
				return [][]byte{signedCheckpoint(t, l.signer, c)}
			},
			want: []wantFailure{
				{"external checkpoint 1", 10, "root hash"},
				{"external checkpoint 1", 10, "forks the log: " + CheckpointKey(10) + " states another root"},
			},
		},
		{
			what:   "stray key among the records",
			tamper: func(t *testing.T, l *testLog) { overwrite(t, l.store, "records/notes.txt", []byte("hi")) },
			want: []wantFailure{
				{"records/notes.txt", 0, "unexpected key among the records"},
			},
		},
	}
	for _, tt := range tests {
		// Trusting checkpoints must find every tampering too: a changed
		// record no longer matches the checkpoint, whose records then get
		// their signatures checked.
		for _, trust := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/trust checkpoints %v", tt.what, trust), func(t *testing.T) {
				t.Parallel()
				l := newTestLog(t)
				tt.tamper(t, l)
				v := &Verifier{Keys: publicKeys(t, l.signer), TrustCheckpoints: trust}
				if tt.external != nil {
					v.Checkpoints = tt.external(l)
				}
				report, err := v.Verify(context.Background(), l.store)
				if err != nil {
					t.Fatalf("Verify() error = %v, want nil", err)
				}
				checkFailures(t, report.Failures, tt.want)
			})
		}
	}
}

// checkFailures checks that every wanted failure was reported, and that no
// other key failed.
func checkFailures(t *testing.T, got []Failure, want []wantFailure) {
	t.Helper()
	wantKeys := map[string]bool{}
	for _, w := range want {
		wantKeys[w.key] = true
		found := false
		for _, f := range got {
			if f.Key == w.key && f.Seq == w.seq && strings.Contains(f.Reason, w.reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("Verify() reported no failure {%q, seq %d, %q}; failures:\n%s", w.key, w.seq, w.reason, failureList(got))
		}
	}
	for _, f := range got {
		if !wantKeys[f.Key] {
			t.Errorf("Verify() reported an unexpected failure %v", f)
		}
	}
}

func failureList(fs []Failure) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\t%s (seq %d)\n", f, f.Seq)
	}
	return b.String()
}

func TestVerifyReportsACleanLog(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	report, err := Verify(context.Background(), l.store, publicKeys(t, l.signer))
	if err != nil {
		t.Fatalf("Verify() error = %v, want nil", err)
	}
	want := &Report{
		Records: 10,
		Head:    10,
		Origin:  "promote.dev/evidence/local/evidence",
		Checkpoints: []CheckedCheckpoint{
			{Key: CheckpointKey(6), Size: 6, KeyIDs: []string{l.signer.KeyID()}, OK: true},
			{Key: CheckpointKey(10), Size: 10, KeyIDs: []string{l.signer.KeyID()}, OK: true},
		},
		TreeSize: 10,
		Failures: []Failure{},
	}
	if diff := cmp.Diff(want, report, cmpopts.IgnoreFields(CheckedCheckpoint{}, "Root")); diff != "" {
		t.Errorf("Verify() report (-want +got):\n%s", diff)
	}
}

func TestVerifyWithoutTrustedKeys(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	report, err := Verify(context.Background(), l.store, nil)
	if err != nil {
		t.Fatalf("Verify() error = %v, want nil", err)
	}
	// Every record and every checkpoint fails, each with its reason.
	if got := len(report.Failures); got != 12 {
		t.Errorf("Verify(no keys) reported %d failures, want 12:\n%s", got, failureList(report.Failures))
	}
	if report.TreeSize != 0 {
		t.Errorf("Verify(no keys) tree size = %d, want 0", report.TreeSize)
	}
	want := []CheckedCheckpoint{{Key: CheckpointKey(6), Size: 6}, {Key: CheckpointKey(10), Size: 10}}
	if diff := cmp.Diff(want, report.Checkpoints); diff != "" {
		t.Errorf("Verify(no keys) checkpoints (-want +got):\n%s", diff)
	}
}

func TestVerifyEmptyStore(t *testing.T) {
	t.Parallel()
	report, err := Verify(context.Background(), newLocalStore(t), nil)
	if err != nil || !report.OK() || report.Records != 0 || report.Head != 0 {
		t.Errorf("Verify(empty) = %+v, %v; want an OK report of nothing", report, err)
	}
}

func TestVerifyMixedKeysAfterRotation(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	old, current := localSigner(t, sign.AlgorithmECDSAP256), localSigner(t, sign.AlgorithmEd25519)
	mustAppend(t, store, old, testRecords(0, 3))
	mustAppend(t, store, current, testRecords(3, 3))
	keys := publicKeys(t, old)
	keys[current.KeyID()] = current.Public()
	report, err := Verify(context.Background(), store, keys)
	if err != nil || !report.OK() || report.TreeSize != 6 {
		t.Fatalf("Verify(both keys) = %+v, %v; want OK with tree size 6", report, err)
	}
	delete(keys, old.KeyID())
	report, err = Verify(context.Background(), store, keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []wantFailure{
		{RecordKey(1), 1, "not trusted"}, {RecordKey(2), 2, "not trusted"}, {RecordKey(3), 3, "not trusted"},
		{CheckpointKey(3), 3, "signed by no trusted key"},
	}
	checkFailures(t, report.Failures, want)
}

func TestVerifyStopsOnStoreErrors(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	store := &brokenStore{Store: l.store, broken: RecordKey(5)}
	if _, err := Verify(context.Background(), store, publicKeys(t, l.signer)); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Verify(broken store) error = %v, want the store's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, l.store, publicKeys(t, l.signer)); err == nil {
		t.Error("Verify(cancelled) error = nil, want context.Canceled")
	}
}

type brokenStore struct {
	Store
	broken string
}

func (b *brokenStore) Read(ctx context.Context, key string) ([]byte, error) {
	if key == b.broken {
		return nil, fmt.Errorf("reading %q: disk on fire", key)
	}
	return b.Store.Read(ctx, key)
}

func TestCheckpointRootsAreRFC6962(t *testing.T) {
	t.Parallel()
	l := newTestLog(t)
	// Recompute the root of the first 6 records by hand, as RFC 6962
	// defines it: 6 = 4 + 2.
	var leaves []tlog.Hash
	for seq := uint64(1); seq <= 6; seq++ {
		leaves = append(leaves, tlog.RecordHash(readObject(t, l.store, RecordKey(seq))))
	}
	root := tlog.NodeHash(
		tlog.NodeHash(tlog.NodeHash(leaves[0], leaves[1]), tlog.NodeHash(leaves[2], leaves[3])),
		tlog.NodeHash(leaves[4], leaves[5]))
	text, _, _ := bytes.Cut(readObject(t, l.store, CheckpointKey(6)), []byte("\n\n"))
	want := fmt.Sprintf("promote.dev/evidence/local/evidence\n6\n%s", base64.StdEncoding.EncodeToString(root[:]))
	if string(text) != want {
		t.Errorf("checkpoint 6 text = %q, want %q", text, want)
	}
}
