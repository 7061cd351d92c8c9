package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/git/gittest"
)

func repo(t *testing.T) string {
	t.Helper()
	return gittest.Init(t, map[string]string{"app/a/main.go": "package a", "app/b/old.go": "package b", "README.md": "hi"})
}

func TestChangedFiles(t *testing.T) {
	t.Parallel()
	dir := repo(t)
	gittest.Run(t, dir, "checkout", "-q", "-b", "feature")
	gittest.Write(t, dir, "app/a/main.go", "package a // changed")
	gittest.Run(t, dir, "mv", "app/b/old.go", "app/b/new.go")
	gittest.Run(t, dir, "commit", "-q", "-am", "two")
	gittest.Write(t, dir, "README.md", "uncommitted")

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

	if b, err := Branch(ctx, dir); b != "feature" || err != nil {
		t.Errorf("Branch() = %q, %v; want feature", b, err)
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

func TestCommitTime(t *testing.T) {
	t.Parallel()
	dir := repo(t)
	cmd := exec.Command("git", "-C", dir, "commit", "-q", "--allow-empty", "-m", "dated", "--date", "2026-05-04T08:00:00Z")
	cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-05-04T09:30:00+02:00")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	ctx := context.Background()
	head, err := Head(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The committer date, not the author's: when the commit reached the
	// branch.
	want := time.Date(2026, 5, 4, 7, 30, 0, 0, time.UTC)
	if got, err := CommitTime(ctx, dir, head); err != nil || !got.Equal(want) {
		t.Errorf("CommitTime(HEAD) = %v, %v; want %v", got, err, want)
	}
	if _, err := CommitTime(ctx, dir, strings.Repeat("ab", 20)); err == nil {
		t.Error("CommitTime(a commit the checkout lacks) error = nil, want one")
	}
}
