package evidence

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/promote-dev/promote/internal/rawfile"
)

// LocalStore keeps evidence in a directory, one file per key. Files are
// written once: a new object goes to a temporary file that is synced, made
// read-only (0444) and then hard-linked to its key, which fails rather than
// replace a file another process created meanwhile; the directory is synced
// after. Directories are created with mode 0755. Names that start with a dot
// are the store's own temporary files and are never listed.
//
// A LocalStore is safe for concurrent use, by goroutines and by processes
// sharing the directory.
type LocalStore struct {
	dir string
}

var (
	_ Store      = (*LocalStore)(nil)
	_ Identifier = (*LocalStore)(nil)
)

// NewLocalStore returns a store in dir, creating dir if needed.
func NewLocalStore(dir string) (*LocalStore, error) {
	if dir == "" {
		return nil, errors.New("evidence directory is empty: name the directory that holds (or will hold) the evidence")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("evidence directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating evidence directory: %w", err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("evidence directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("evidence directory %q is not a directory", dir)
	}
	return &LocalStore{dir: abs}, nil
}

// Dir returns the store's absolute directory.
func (s *LocalStore) Dir() string { return s.dir }

// Identity returns "local/" and the directory's base name.
func (s *LocalStore) Identity() string {
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, filepath.Base(s.dir))
	return "local/" + name
}

// path maps a key to a file. Keys are slash-separated relative paths whose
// elements are not empty, ".", ".." or hidden (dot) names.
func (s *LocalStore) path(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, "\\\x00") {
		return "", fmt.Errorf("invalid evidence key %q: want a relative slash-separated path such as %q", key, RecordKey(1))
	}
	for _, elem := range strings.Split(key, "/") {
		if elem == "" || strings.HasPrefix(elem, ".") {
			return "", fmt.Errorf("invalid evidence key %q: empty, dot or dot-dot path element; want a path such as %q", key, RecordKey(1))
		}
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Create writes data at key once, durably, as a read-only file. It returns
// an error wrapping ErrExists if the key exists, and an empty version: a
// directory keeps no versions.
func (s *LocalStore) Create(ctx context.Context, key string, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	file, err := s.path(key)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(file)
	if err := s.mkdirs(dir); err != nil {
		return "", fmt.Errorf("creating evidence %q: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("creating evidence %q: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	err = writeReadOnly(tmp, data)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return "", fmt.Errorf("writing evidence %q: %w", key, err)
	}
	// A hard link, unlike a rename, never replaces an existing file.
	err = os.Link(tmp.Name(), file)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("creating evidence %q: %w", key, ErrExists)
	default:
		// The file system has no hard links: create the file
		// exclusively instead. A crash while writing can then leave a
		// partial file, which Verify reports.
		if err := createExclusive(file, data); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("creating evidence %q: %w", key, ErrExists)
			}
			return "", fmt.Errorf("creating evidence %q: %w", key, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("syncing the directory of evidence %q: %w", key, err)
	}
	return "", nil
}

func writeReadOnly(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	// Chmod, not the mode CreateTemp asks for, so the umask does not
	// matter.
	if err := f.Chmod(0o444); err != nil {
		return err
	}
	return f.Sync()
}

func createExclusive(file string, data []byte) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	err = writeReadOnly(f, data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(file)
	}
	return err
}

// mkdirs creates dir and its parents up to the store's directory with mode
// 0755 whatever the umask, syncing each parent that gained an entry.
func (s *LocalStore) mkdirs(dir string) error {
	rel, err := filepath.Rel(s.dir, dir)
	if err != nil || rel == "." {
		return err
	}
	parent := s.dir
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		p := filepath.Join(parent, elem)
		err := os.Mkdir(p, 0o755)
		switch {
		case err == nil:
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
			if err := syncDir(parent); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrExist):
			return err
		}
		parent = p
	}
	return nil
}

// syncDir makes new directory entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

// maxObjectSize bounds what Read reads, so that a huge file planted in the
// directory cannot exhaust Verify's memory. Records and checkpoints are a
// few kilobytes.
const maxObjectSize = 16 << 20

// Read returns the object at key, or an error wrapping ErrNotFound.
func (s *LocalStore) Read(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	file, err := s.path(key)
	if err != nil {
		return nil, err
	}
	data, err := rawfile.ReadRegular(file, maxObjectSize)
	if tooLarge := (*rawfile.TooLargeError)(nil); errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d an evidence object may have: it is not Promote's", file, tooLarge.Size, tooLarge.Max)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading evidence %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading evidence: %w", err)
	}
	return data, nil
}

// List returns the keys that start with prefix, sorted.
func (s *LocalStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Walk only the directory the prefix names, e.g. records/ for
	// "records/0000".
	base := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = path.Clean(prefix[:i])
	}
	if base == ".." || strings.HasPrefix(base, "../") || path.IsAbs(base) {
		return nil, fmt.Errorf("invalid evidence key prefix %q: want a relative path such as %q", prefix, RecordsPrefix)
	}
	root := filepath.Join(s.dir, filepath.FromSlash(base))
	var keys []string
	err := filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && file == root {
				return fs.SkipAll
			}
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && file != root {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		// file is s.dir, a separator and the key.
		if key := filepath.ToSlash(file[len(s.dir)+1:]); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing evidence %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}
