package evidence

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLocalStoreCreatesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newLocalStore(t)
	version, err := s.Create(ctx, "records/a.json", []byte("first"))
	if err != nil || version != "" {
		t.Fatalf("Create() = %q, %v; want no version and no error", version, err)
	}
	_, err = s.Create(ctx, "records/a.json", []byte("second"))
	if !errors.Is(err, ErrExists) {
		t.Errorf("Create(existing) error = %v, want ErrExists", err)
	}
	got, err := s.Read(ctx, "records/a.json")
	if err != nil || string(got) != "first" {
		t.Errorf("Read() = %q, %v; want the first write", got, err)
	}
	if _, err := s.Read(ctx, "records/b.json"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read(absent) error = %v, want ErrNotFound", err)
	}
}

func TestLocalStoreModes(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix modes")
	}
	s := newLocalStore(t)
	if _, err := s.Create(context.Background(), "a/b/c.json", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{
		{"a", os.ModeDir | 0o755},
		{"a/b", os.ModeDir | 0o755},
		{"a/b/c.json", 0o444},
	} {
		info, err := os.Stat(filepath.Join(s.Dir(), tt.path))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode(); got != tt.want {
			t.Errorf("mode of %q = %v, want %v", tt.path, got, tt.want)
		}
	}
	entries, err := os.ReadDir(filepath.Join(s.Dir(), "a/b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("a/b holds %d entries, want 1 (no temporary file left)", len(entries))
	}
}

func TestLocalStoreListsSortedByPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newLocalStore(t)
	for _, key := range []string{RecordKey(10), RecordKey(9), RecordKey(100), CheckpointKey(3), "records-old/x", "z"} {
		if _, err := s.Create(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	// Leftovers of a crashed Create are never listed.
	if err := os.WriteFile(filepath.Join(s.Dir(), "records", ".tmp-123"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{RecordsPrefix, []string{RecordKey(9), RecordKey(10), RecordKey(100)}},
		{"records/000000000000000000", []string{RecordKey(9), RecordKey(10)}},
		{"records", []string{"records-old/x", RecordKey(9), RecordKey(10), RecordKey(100)}},
		{"", []string{CheckpointKey(3), "records-old/x", RecordKey(9), RecordKey(10), RecordKey(100), "z"}},
		{"absent/", nil},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.prefix)
		if err != nil {
			t.Fatalf("List(%q) error = %v", tt.prefix, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("List(%q) (-want +got):\n%s", tt.prefix, diff)
		}
	}
}

func TestLocalStoreRefusesKeysOutsideIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newLocalStore(t)
	for _, key := range []string{"", "../x", "a/../../x", "/etc/passwd", "a//b", "a/.hidden", `a\b`, "a/./b"} {
		if _, err := s.Create(ctx, key, nil); err == nil {
			t.Errorf("Create(%q) error = nil, want one", key)
		}
		if _, err := s.Read(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%q) error = %v, want an invalid key", key, err)
		}
	}
	if _, err := s.List(ctx, "../"); err == nil {
		t.Error(`List("../") error = nil, want one`)
	}
}

// TestLocalStoreConcurrentCreate races writers on one key: exactly one
// wins and the file holds its bytes, whole.
func TestLocalStoreConcurrentCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newLocalStore(t)
	const writers = 8
	var wins atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			data := []byte{byte('a' + w), byte('a' + w), byte('a' + w)}
			_, err := s.Create(ctx, "records/x", data)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(string(data))
			case !errors.Is(err, ErrExists):
				t.Errorf("Create() error = %v, want nil or ErrExists", err)
			}
		})
	}
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d writers won, want 1", got)
	}
	got, err := s.Read(ctx, "records/x")
	if err != nil || string(got) != winner.Load() {
		t.Errorf("Read() = %q, %v; want the winner's %q", got, err, winner.Load())
	}
}

func TestNewLocalStoreErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewLocalStore(""); err == nil {
		t.Error(`NewLocalStore("") error = nil, want one`)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLocalStore(file); err == nil {
		t.Errorf("NewLocalStore(%q) error = nil, want one (a file)", file)
	}
	s := newLocalStore(t)
	if got := s.Identity(); got != "local/evidence" {
		t.Errorf("Identity() = %q, want %q", got, "local/evidence")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	if got, want := RecordKey(42), "records/00000000000000000042.dsse.json"; got != want {
		t.Errorf("RecordKey(42) = %q, want %q", got, want)
	}
	if got, want := CheckpointKey(18446744073709551615), "checkpoints/18446744073709551615.note"; got != want {
		t.Errorf("CheckpointKey(max) = %q, want %q", got, want)
	}
	tests := []struct {
		key    string
		want   uint64
		wantOK bool
	}{
		{RecordKey(7), 7, true},
		{"records/7.dsse.json", 0, false},
		{"records/0000000000000000000x.dsse.json", 0, false},
		{"records/+0000000000000000007.dsse.json", 0, false},
		{"records/99999999999999999999.dsse.json", 0, false},
		{"records/00000000000000000007.json", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseKey(tt.key, RecordsPrefix, recordSuffix)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseKey(%q) = %d, %v; want %d, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
}
