package evidence

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/sign"
)

// fastSigner is an Ed25519 signer with a key derived from a seed, for tests
// and benchmarks that need many signatures or a second, untrusted key. It
// counts Sign calls.
type fastSigner struct {
	id    string
	priv  ed25519.PrivateKey
	calls atomic.Int64
}

var _ sign.Signer = (*fastSigner)(nil)

func newFastSigner(t testing.TB, seed byte) *fastSigner {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	id, err := sign.KeyIDOf(priv.Public())
	if err != nil {
		t.Fatalf("KeyIDOf() error = %v, want nil", err)
	}
	return &fastSigner{id: id, priv: priv}
}

func (s *fastSigner) KeyID() string { return s.id }

func (s *fastSigner) Sign(_ context.Context, messages [][]byte) ([][]byte, error) {
	s.calls.Add(1)
	sigs := make([][]byte, len(messages))
	for i, m := range messages {
		sigs[i] = ed25519.Sign(s.priv, m)
	}
	return sigs, nil
}

func (s *fastSigner) PublicKeys(context.Context) (map[string]crypto.PublicKey, error) {
	return map[string]crypto.PublicKey{s.id: s.priv.Public()}, nil
}

// countingSigner counts a signer's calls.
type countingSigner struct {
	sign.Signer
	signCalls atomic.Int64
}

func (s *countingSigner) Sign(ctx context.Context, messages [][]byte) ([][]byte, error) {
	s.signCalls.Add(1)
	return s.Signer.Sign(ctx, messages)
}

// localSigner returns a sign.Local with a new key of the algorithm.
func localSigner(t testing.TB, algorithm string) *sign.Local {
	t.Helper()
	l, _, err := sign.LoadOrCreateLocal(filepath.Join(t.TempDir(), "evidence.key"), algorithm)
	if err != nil {
		t.Fatalf("LoadOrCreateLocal(%q) error = %v, want nil", algorithm, err)
	}
	return l
}

func publicKeys(t testing.TB, s sign.Signer) map[string]crypto.PublicKey {
	t.Helper()
	keys, err := s.PublicKeys(context.Background())
	if err != nil {
		t.Fatalf("PublicKeys() error = %v, want nil", err)
	}
	return keys
}

func newLocalStore(t testing.TB) *LocalStore {
	t.Helper()
	s, err := NewLocalStore(filepath.Join(t.TempDir(), "evidence"))
	if err != nil {
		t.Fatalf("NewLocalStore() error = %v, want nil", err)
	}
	return s
}

var testStart = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)

// testRecord returns the ith record of a deterministic run, cycling through
// the kinds.
func testRecord(i int) Record {
	kind := kinds[i%len(kinds)]
	r := Record{
		Kind:           kind,
		Repository:     "https://github.com/promote-dev/promote",
		Commit:         fmt.Sprintf("%040x", 0xc0ffee+i),
		Subjects:       []Subject{{Name: "plan.json", SHA256: fmt.Sprintf("%064x", 0xfeed)}},
		Service:        []string{"api", "web", "worker"}[i%3],
		Environment:    []string{"staging", "production"}[i%2],
		WorkflowRunURL: fmt.Sprintf("https://github.com/promote-dev/promote/actions/runs/%d", 9000000+i),
		Actor:          "octocat",
		Approvers:      []string{},
		StartedAt:      testStart.Add(time.Duration(i) * time.Minute),
		FinishedAt:     testStart.Add(time.Duration(i)*time.Minute + 42*time.Second),
		Attempts:       1,
	}
	r.Node = r.Service + "@" + r.Environment
	switch kind {
	case KindPromotion:
		r.Outcome = "succeeded"
		r.DeploymentID = int64(1000000 + i)
		r.Approvers = []string{"alice", "bob"}
		r.QueuedAt = r.StartedAt.Add(-10 * time.Second)
		r.ApprovalWait = 12500 * time.Millisecond
		r.CommitTime = testStart.Add(-90 * time.Minute)
		r.APIRequests = 7
		r.Run = &RunSummary{
			ID: "9000000-1", StartedAt: testStart.Add(-time.Minute), FinishedAt: testStart.Add(10 * time.Minute),
			MakespanSeconds: 600, LowerBoundSeconds: 480.5, MaxParallel: 4, BusySeconds: 1500,
		}
	case KindGate:
		r.Outcome = "approved"
		r.Approvers = []string{"alice"}
	case KindMeshCheck:
		r.Outcome = "passed"
		r.MeshReportSHA256 = fmt.Sprintf("%064x", 0xbeef+i)
		r.Mesh = &MeshSummary{
			Findings: []MeshFindingCount{{Rule: "mtls-disabled", Severity: "warning", Count: 2}},
			Ignored:  1,
			MTLS:     []MeshMTLS{{Namespace: "shop", Workload: "", Mode: "STRICT"}, {Namespace: "shop", Workload: "legacy", Mode: "PERMISSIVE"}},
			Policies: []string{"mesh.mtls"},
		}
	}
	return r
}

func testRecords(from, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = testRecord(from + i)
	}
	return out
}

// mustAppend appends and fails the test on error.
func mustAppend(t testing.TB, store Store, signer sign.Signer, records []Record) []Stored {
	t.Helper()
	stored, err := Append(context.Background(), store, signer, records)
	if err != nil {
		t.Fatalf("Append(%d records) error = %v, want nil", len(records), err)
	}
	return stored
}

// readObject reads a stored object.
func readObject(t testing.TB, s *LocalStore, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir(), filepath.FromSlash(key)))
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

// overwrite replaces a stored object behind the store's back, as an attacker
// with file system access would.
func overwrite(t testing.TB, s *LocalStore, key string, data []byte) {
	t.Helper()
	file := filepath.Join(s.Dir(), filepath.FromSlash(key))
	if err := os.Chmod(file, 0o644); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t testing.TB, s *LocalStore, key string) {
	t.Helper()
	if err := os.Remove(filepath.Join(s.Dir(), filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
}

// hookStore wraps a store and calls beforeCreate before each Create and
// counts reads.
type hookStore struct {
	Store
	mu           sync.Mutex
	beforeCreate func(key string)
	reads        []string
}

func (h *hookStore) Create(ctx context.Context, key string, data []byte) (string, error) {
	h.mu.Lock()
	f := h.beforeCreate
	h.mu.Unlock()
	if f != nil {
		f(key)
	}
	return h.Store.Create(ctx, key, data)
}

func (h *hookStore) Read(ctx context.Context, key string) ([]byte, error) {
	h.mu.Lock()
	h.reads = append(h.reads, key)
	h.mu.Unlock()
	return h.Store.Read(ctx, key)
}

func (h *hookStore) recordReads() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, k := range h.reads {
		if strings.HasPrefix(k, RecordsPrefix) {
			out = append(out, k)
		}
	}
	return out
}
