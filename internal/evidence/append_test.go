package evidence

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/promote-dev/promote/internal/sign"
)

// keysOf returns the stored keys of records.
func keysOf(stored []Stored) []string {
	var keys []string
	for _, s := range stored {
		keys = append(keys, s.Key)
	}
	return keys
}

func TestAppendNumbersLinksAndSignsInOneCall(t *testing.T) {
	t.Parallel()
	for _, algorithm := range []string{sign.AlgorithmECDSAP256, sign.AlgorithmEd25519} {
		t.Run(algorithm, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := newLocalStore(t)
			signer := &countingSigner{Signer: localSigner(t, algorithm)}

			first := mustAppend(t, store, signer, testRecords(0, 3))
			if got := signer.signCalls.Load(); got != 2 {
				t.Errorf("Append(3 records) made %d Sign calls, want 2 (records, checkpoint)", got)
			}
			second := mustAppend(t, store, signer, testRecords(3, 2))

			wantKeys := []string{RecordKey(1), RecordKey(2), RecordKey(3), RecordKey(4), RecordKey(5)}
			if diff := cmp.Diff(wantKeys, keysOf(append(first, second...))); diff != "" {
				t.Errorf("Append() keys (-want +got):\n%s", diff)
			}
			var prev string
			for i, s := range append(first, second...) {
				if s.Key != RecordKey(s.Seq) {
					t.Errorf("Stored[%d] key %q, seq %d", i, s.Key, s.Seq)
				}
				if got := readObject(t, store, s.Key); string(got) != string(s.Envelope) {
					t.Errorf("stored bytes of %q differ from Stored.Envelope", s.Key)
				}
				if sum := sha256.Sum256(s.Envelope); s.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("Stored[%d].SHA256 = %s, want the SHA-256 of the envelope", i, s.SHA256)
				}
				env, err := decodeEnvelope(s.Envelope)
				if err != nil {
					t.Fatalf("decodeEnvelope(%q) error = %v", s.Key, err)
				}
				st, err := decodeStatement(env.payload)
				if err != nil {
					t.Fatalf("decodeStatement(%q) error = %v", s.Key, err)
				}
				if st.predicate.Seq != s.Seq || st.predicate.Prev != prev {
					t.Errorf("%q: seq %d, prev %q; want seq %d, prev %q", s.Key, st.predicate.Seq, st.predicate.Prev, s.Seq, prev)
				}
				sum := sha256.Sum256(env.payload)
				prev = hex.EncodeToString(sum[:])
			}

			keys, err := store.List(ctx, CheckpointsPrefix)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{CheckpointKey(3), CheckpointKey(5)}, keys); diff != "" {
				t.Errorf("checkpoints (-want +got):\n%s", diff)
			}
			report, err := Verify(ctx, store, publicKeys(t, signer))
			if err != nil || !report.OK() || report.TreeSize != 5 {
				t.Errorf("Verify() = %+v, %v; want OK with tree size 5", report, err)
			}
		})
	}
}

func TestAppendCheckpointsEveryInterval(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	signer := newFastSigner(t, 1)
	mustAppend(t, store, signer, testRecords(0, 100))
	signer.calls.Store(0)
	mustAppend(t, store, signer, testRecords(100, 2*CheckpointInterval+10))
	if got := signer.calls.Load(); got != 2 {
		t.Errorf("Append(%d records) made %d Sign calls, want 2", 2*CheckpointInterval+10, got)
	}
	keys, err := store.List(context.Background(), CheckpointsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{CheckpointKey(100), CheckpointKey(256), CheckpointKey(512), CheckpointKey(100 + 2*CheckpointInterval + 10)}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("checkpoints (-want +got):\n%s", diff)
	}
	report, err := Verify(context.Background(), store, publicKeys(t, signer))
	if err != nil || !report.OK() {
		t.Fatalf("Verify() = %+v, %v; want OK", report, err)
	}
	if got := len(report.Checkpoints); got != 4 {
		t.Errorf("Verify() checked %d checkpoints, want 4", got)
	}
}

// TestAppendExtendsTheFrontier checks that Append hashes only the new
// records when the last checkpoint's frontier is there, and the whole log
// when it is not.
func TestAppendExtendsTheFrontier(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	local := newLocalStore(t)
	signer := newFastSigner(t, 1)
	mustAppend(t, local, signer, testRecords(0, 20))

	store := &hookStore{Store: local}
	mustAppend(t, store, signer, testRecords(20, 3))
	// Only the head, to link the first new record.
	if diff := cmp.Diff([]string{RecordKey(20)}, store.recordReads()); diff != "" {
		t.Errorf("records read with a frontier (-want +got):\n%s", diff)
	}

	// Without the last frontier, Append extends the one before, at 20.
	remove(t, local, frontierKey(23))
	store = &hookStore{Store: local}
	mustAppend(t, store, signer, testRecords(23, 1))
	want := []string{RecordKey(23), RecordKey(21), RecordKey(22), RecordKey(23)}
	if diff := cmp.Diff(want, store.recordReads()); diff != "" {
		t.Errorf("records read without the last frontier (-want +got):\n%s", diff)
	}

	// A frontier that does not hash to its checkpoint's root is not used
	// either.
	f := readObject(t, local, frontierKey(24))
	copy(f[len(f)-45:], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if _, err := parseFrontier(f, 24); err != nil {
		t.Fatalf("parseFrontier(changed frontier) error = %v, want a well-formed one", err)
	}
	overwrite(t, local, frontierKey(24), f)
	store = &hookStore{Store: local}
	mustAppend(t, store, signer, testRecords(24, 1))
	want = []string{RecordKey(24), RecordKey(21), RecordKey(22), RecordKey(23), RecordKey(24)}
	if diff := cmp.Diff(want, store.recordReads()); diff != "" {
		t.Errorf("records read with a wrong frontier (-want +got):\n%s", diff)
	}
	report, err := Verify(ctx, local, publicKeys(t, signer))
	if err != nil || !report.OK() || report.TreeSize != 25 {
		t.Fatalf("Verify() = %+v, %v; want OK with tree size 25", report, err)
	}
}

// TestAppendRetriesWhenAnotherWriterWins makes another writer take the next
// sequence number just before Append writes its second record.
func TestAppendRetriesWhenAnotherWriterWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	local := newLocalStore(t)
	signer := newFastSigner(t, 1)
	other := newFastSigner(t, 1)
	mustAppend(t, local, signer, testRecords(0, 2))

	var once sync.Once
	store := &hookStore{Store: local}
	store.beforeCreate = func(key string) {
		if key == RecordKey(4) {
			once.Do(func() { mustAppend(t, local, other, testRecords(100, 2)) })
		}
	}
	signer.calls.Store(0)
	stored, err := Append(ctx, store, signer, testRecords(2, 3))
	if err != nil {
		t.Fatalf("Append() error = %v, want nil", err)
	}
	// Record 3 was ours; 4 and 5 went to the other writer; ours went on
	// at 6.
	want := []string{RecordKey(3), RecordKey(6), RecordKey(7)}
	if diff := cmp.Diff(want, keysOf(stored)); diff != "" {
		t.Errorf("Append() keys (-want +got):\n%s", diff)
	}
	if got := signer.calls.Load(); got != 3 {
		t.Errorf("Append() made %d Sign calls, want 3 (batch, batch again after losing the race, checkpoint)", got)
	}
	report, err := Verify(ctx, local, publicKeys(t, signer))
	if err != nil || !report.OK() || report.Head != 7 || report.TreeSize != 7 {
		t.Fatalf("Verify() = %+v, %v; want OK with head and tree size 7", report, err)
	}
}

// TestAppendAfterALostAnswer makes the store write a record and then
// report it as existing, as S3 does when the SDK retries a PutObject whose
// answer was lost: Append must not seal the record a second time.
func TestAppendAfterALostAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	local := newLocalStore(t)
	signer := newFastSigner(t, 1)
	store := &lostAnswerStore{Store: local, lose: RecordKey(2)}
	stored, err := Append(ctx, store, signer, testRecords(0, 3))
	if err != nil {
		t.Fatalf("Append() error = %v, want nil", err)
	}
	if diff := cmp.Diff([]string{RecordKey(1), RecordKey(2), RecordKey(3)}, keysOf(stored)); diff != "" {
		t.Errorf("Append() keys (-want +got):\n%s", diff)
	}
	report, err := Verify(ctx, local, publicKeys(t, signer))
	if err != nil || !report.OK() || report.Records != 3 {
		t.Errorf("Verify() = %+v, %v; want OK with 3 records", report, err)
	}
}

// lostAnswerStore writes key lose, then says it existed.
type lostAnswerStore struct {
	Store
	lose string
}

func (s *lostAnswerStore) Create(ctx context.Context, key string, data []byte) (string, error) {
	v, err := s.Store.Create(ctx, key, data)
	if err == nil && key == s.lose {
		return "", fmt.Errorf("create %s: %w", key, ErrExists)
	}
	return v, err
}

// TestAppendConcurrentWriters appends from several goroutines at once. Its
// outcome does not depend on timing: each race an Append loses means another
// writer took that very sequence number (the head only grows), so an Append
// loses at most as many races as the others write records, 87 here, fewer
// than maxAttempts.
func TestAppendConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newLocalStore(t)
	signer := newFastSigner(t, 1)
	const writers, runs, perRun = 6, 5, 3
	if (writers-1)*runs*perRun >= maxAttempts {
		t.Fatalf("%d writers could starve one another past maxAttempts", writers)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*runs)
	for w := range writers {
		wg.Go(func() {
			for r := range runs {
				if _, err := Append(ctx, store, signer, testRecords((w*runs+r)*perRun, perRun)); err != nil {
					errs <- fmt.Errorf("writer %d, run %d: %w", w, r, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys, err := store.List(ctx, RecordsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for seq := uint64(1); seq <= writers*runs*perRun; seq++ {
		want = append(want, RecordKey(seq))
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("records after concurrent appends (-want +got):\n%s", diff)
	}
	report, err := Verify(ctx, store, publicKeys(t, signer))
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() || report.TreeSize != writers*runs*perRun {
		t.Errorf("Verify() failures = %v, tree size %d; want none and %d", report.Failures, report.TreeSize, writers*runs*perRun)
	}
}

func TestAppendRefusesInvalidRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		change func(*Record)
		want   string
	}{
		{"unknown kind", func(r *Record) { r.Kind = "deploy" }, `kind "deploy"`},
		{"short commit", func(r *Record) { r.Commit = "abc123" }, "40 lowercase hex"},
		{"outcome of another kind", func(r *Record) { r.Outcome = "passed" }, `outcome "passed" of a gate record`},
		{"no service", func(r *Record) { r.Service = "" }, "service is empty"},
		{"finished before started", func(r *Record) { r.FinishedAt = r.StartedAt.Add(-1) }, "before it started"},
		{"bad subject digest", func(r *Record) { r.Subjects = []Subject{{Name: "plan.json", SHA256: "xyz"}} }, "64 lowercase hex"},
		{"bad mesh digest", func(r *Record) { r.MeshReportSHA256 = "ABC" }, "mesh report sha256"},
		{"negative attempts", func(r *Record) { r.Attempts = -1 }, "attempts"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			store := newLocalStore(t)
			signer := newFastSigner(t, 1)
			records := testRecords(0, 2)
			tt.change(&records[1])
			stored, err := Append(context.Background(), store, signer, records)
			if err == nil || !containsAll(err.Error(), "evidence record 2", tt.want) {
				t.Errorf("Append() error = %v, want one about record 2 containing %q", err, tt.want)
			}
			if len(stored) != 0 || signer.calls.Load() != 0 {
				t.Errorf("Append() stored %d records with %d Sign calls, want none", len(stored), signer.calls.Load())
			}
		})
	}
}

// TestEnvelopeVerifiesWithDSSE checks stored envelopes with
// go-securesystemslib's own DSSE verifier, as other tools would.
func TestEnvelopeVerifiesWithDSSE(t *testing.T) {
	t.Parallel()
	for _, algorithm := range []string{sign.AlgorithmECDSAP256, sign.AlgorithmEd25519} {
		t.Run(algorithm, func(t *testing.T) {
			t.Parallel()
			signer := localSigner(t, algorithm)
			stored := mustAppend(t, newLocalStore(t), signer, testRecords(0, 1))
			var env dsse.Envelope
			if err := jsonUnmarshal(stored[0].Envelope, &env); err != nil {
				t.Fatal(err)
			}
			if env.PayloadType != PayloadType || len(env.Signatures) != 1 || env.Signatures[0].KeyID != signer.KeyID() {
				t.Errorf("envelope = %+v, want payloadType %q and one signature by %q", env, PayloadType, signer.KeyID())
			}
			v, err := dsse.NewEnvelopeVerifier(sslibVerifier(t, signer.KeyID(), signer.Public()))
			if err != nil {
				t.Fatal(err)
			}
			accepted, err := v.Verify(context.Background(), &env)
			if err != nil || len(accepted) != 1 {
				t.Errorf("dsse Verify() = %v, %v; want one accepted key", accepted, err)
			}
			env.Payload = env.Payload[:len(env.Payload)-4] + "AAA="
			if _, err := v.Verify(context.Background(), &env); err == nil {
				t.Error("dsse Verify(changed payload) error = nil, want one")
			}
		})
	}
}

func TestAppendFailsWithoutWritingWhenSigningFails(t *testing.T) {
	t.Parallel()
	store := newLocalStore(t)
	signer := failingSigner{Signer: newFastSigner(t, 1)}
	stored, err := Append(context.Background(), store, signer, testRecords(0, 2))
	if !errors.Is(err, errSignerDown) || len(stored) != 0 {
		t.Errorf("Append() = %d stored, %v; want none and errSignerDown", len(stored), err)
	}
	if keys, _ := store.List(context.Background(), ""); len(keys) != 0 {
		t.Errorf("store holds %q after a failed signing, want nothing", keys)
	}
}

var errSignerDown = errors.New("signer down")

type failingSigner struct{ sign.Signer }

func (failingSigner) Sign(context.Context, [][]byte) ([][]byte, error) { return nil, errSignerDown }

func containsAll(s string, subs ...string) bool {
	return !slices.ContainsFunc(subs, func(sub string) bool { return !contains(s, sub) })
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// sslibVerifier is go-securesystemslib's own verifier for the public key
// (signerverifier, loaded from the PEM that cosign reads too), so that no
// code of Promote's judges the signature: the check fails if Promote signs
// something other than the DSSE PAE, or hashes it differently.
func sslibVerifier(t *testing.T, keyID string, pub crypto.PublicKey) dsse.Verifier {
	t.Helper()
	pemKey, err := sign.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signerverifier.LoadKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	key.KeyID = keyID
	var v dsse.Verifier
	switch key.KeyType {
	case signerverifier.ECDSAKeyType:
		v, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
	case signerverifier.ED25519KeyType:
		v, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	default:
		t.Fatalf("key type %q, want ecdsa or ed25519", key.KeyType)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}
