package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFileLikeOS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var names []string
	for _, size := range []int{0, 1, 511, 512, 513, 100_000} {
		name := filepath.Join(dir, fmt.Sprintf("f%d.yaml", size))
		if err := os.WriteFile(name, bytes.Repeat([]byte("a: b\n"), size/5+1)[:size], 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	// A file whose size the system does not know before reading it.
	if _, err := os.Stat("/proc/self/status"); err == nil {
		names = append(names, "/proc/self/status")
	}
	for _, name := range names {
		got, err := readFile(name)
		want, wantErr := os.ReadFile(name)
		if err != nil || wantErr != nil {
			t.Fatalf("readFile(%q) = %v, os.ReadFile %v", name, err, wantErr)
		}
		if name != "/proc/self/status" && !bytes.Equal(got, want) {
			t.Errorf("readFile(%q) = %d bytes, want %d", name, len(got), len(want))
		}
		if len(got) == 0 && name == "/proc/self/status" {
			t.Errorf("readFile(%q) read nothing", name)
		}
	}
	_, err := readFile(filepath.Join(dir, "missing.yaml"))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Errorf("readFile(missing) = %v, want an open *fs.PathError for fs.ErrNotExist", err)
	}
	if _, err := readFile(dir); err == nil {
		t.Errorf("readFile(a directory) = nil error, want one")
	}
}
