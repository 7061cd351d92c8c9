package rawfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadLikeOS(t *testing.T) {
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
		got, err := Read(name)
		want, wantErr := os.ReadFile(name)
		if err != nil || wantErr != nil {
			t.Fatalf("Read(%q) = %v, os.ReadFile %v", name, err, wantErr)
		}
		if name != "/proc/self/status" && !bytes.Equal(got, want) {
			t.Errorf("Read(%q) = %d bytes, want %d", name, len(got), len(want))
		}
		if len(got) == 0 && name == "/proc/self/status" {
			t.Errorf("Read(%q) read nothing", name)
		}
	}
	_, err := Read(filepath.Join(dir, "missing.yaml"))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Errorf("Read(missing) = %v, want an open *fs.PathError for fs.ErrNotExist", err)
	}
	if _, err := Read(dir); err == nil {
		t.Errorf("Read(a directory) = nil error, want one")
	}
}

func TestReadRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "record.json")
	content := bytes.Repeat([]byte("x"), 1000)
	if err := os.WriteFile(name, content, 0o444); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRegular(name, 1000)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("ReadRegular(1000 bytes, max 1000) = %d bytes, %v; want the file", len(got), err)
	}
	var tooLarge *TooLargeError
	if _, err := ReadRegular(name, 999); !errors.As(err, &tooLarge) || tooLarge.Size != 1000 || tooLarge.Max != 999 {
		t.Errorf("ReadRegular(1000 bytes, max 999) = %v, want a *TooLargeError of 1000 > 999", err)
	}
	if _, err := ReadRegular(dir, 1<<20); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadRegular(a directory) = %v, want not a regular file", err)
	}
	if _, err := ReadRegular(filepath.Join(dir, "missing"), 1<<20); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadRegular(missing) = %v, want fs.ErrNotExist", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRegular(empty, 10); err != nil || len(got) != 0 {
		t.Errorf("ReadRegular(empty) = %q, %v; want nothing and no error", got, err)
	}
}
