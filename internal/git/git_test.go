package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// repo makes a git repository with one commit on main and returns its path.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.email", "t@example.com"},
		{"config", "user.name", "t"},
	} {
		gitRun(t, dir, args...)
	}
	write(t, dir, "app/a/main.go", "package a")
	write(t, dir, "app/b/old.go", "package b")
	write(t, dir, "README.md", "hi")
	gitRun(t, dir, "add", ".")
	gitRun(t, dir, "commit", "-q", "-m", "one")
	return dir
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestChangedFiles(t *testing.T) {
	t.Parallel()
	dir := repo(t)
	gitRun(t, dir, "checkout", "-q", "-b", "feature")
	write(t, dir, "app/a/main.go", "package a // changed")
	gitRun(t, dir, "mv", "app/b/old.go", "app/b/new.go")
	gitRun(t, dir, "commit", "-q", "-am", "two")
	write(t, dir, "README.md", "uncommitted")

	ctx := context.Background()
	got, err := ChangedFiles(ctx, dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "app/a/main.go", "app/b/new.go", "app/b/old.go"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ChangedFiles(main) (-want +got):\n%s", diff)
	}

	got, err = ChangedFiles(ctx, filepath.Join(dir, "app"), "main")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/main.go", "b/new.go", "b/old.go"}, got); diff != "" {
		t.Errorf("ChangedFiles(main) in app/ (-want +got):\n%s", diff)
	}

	head, err := Head(ctx, dir)
	if err != nil || len(head) != 40 {
		t.Errorf("Head() = %q, %v; want a commit", head, err)
	}
}

func TestChangedFilesBadRef(t *testing.T) {
	t.Parallel()
	dir := repo(t)
	for _, ref := range []string{"no-such-branch", "--output=/tmp/x", ""} {
		_, err := ChangedFiles(context.Background(), dir, ref)
		var re *RefError
		if !errors.As(err, &re) || re.Ref != ref {
			t.Errorf("ChangedFiles(%q) = %v, want a RefError", ref, err)
		}
	}
}
