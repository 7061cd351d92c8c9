// Package git asks the git command about a working tree: which files changed
// since a ref, and which commit is checked out.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// RefError is a ref git cannot use, with git's own explanation.
type RefError struct {
	Ref    string
	Reason string
}

func (e *RefError) Error() string {
	return fmt.Sprintf("git cannot compare with %q: %s; check the ref, and in GitHub Actions fetch the history with actions/checkout's fetch-depth: 0", e.Ref, e.Reason)
}

// ChangedFiles lists the files that differ between the merge base of ref and
// HEAD and the working tree: what a pull request changes, plus uncommitted
// edits to tracked files. Paths are relative to dir and only files under dir
// are listed. A rename lists both the old and the new path.
func ChangedFiles(ctx context.Context, dir, ref string) ([]string, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return nil, &RefError{Ref: ref, Reason: "a ref is a branch, tag or commit and does not start with '-'"}
	}
	out, err := run(ctx, dir, "diff", "--name-only", "-z", "--no-renames", "--relative", "--merge-base", ref, "--")
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return nil, &RefError{Ref: ref, Reason: ee.stderr}
		}
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// Head returns the commit checked out in dir.
func Head(ctx context.Context, dir string) (string, error) {
	out, err := run(ctx, dir, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

type exitError struct {
	args   []string
	stderr string
	err    error
}

func (e *exitError) Error() string {
	return fmt.Sprintf("git %s: %s", strings.Join(e.args, " "), e.stderr)
}

func (e *exitError) Unwrap() error { return e.err }

func run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg := strings.TrimSpace(stderr.String())
			msg = strings.TrimPrefix(msg, "fatal: ")
			if i := strings.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i]
			}
			return nil, &exitError{args: args, stderr: msg, err: err}
		}
		return nil, fmt.Errorf("run git (is it installed?): %w", err)
	}
	return out, nil
}

// Branch returns the branch checked out in dir, or "" when HEAD is detached.
func Branch(ctx context.Context, dir string) (string, error) {
	out, err := run(ctx, dir, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// CommitTime returns the committer date of commit in dir's repository, or
// an error when the checkout lacks the commit (a shallow clone).
func CommitTime(ctx context.Context, dir, commit string) (time.Time, error) {
	out, err := run(ctx, dir, "show", "-s", "--format=%cI", commit+"^{commit}", "--")
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(out)))
	if err != nil {
		return time.Time{}, fmt.Errorf("git show %s: committer date %q is not RFC 3339", commit, strings.TrimSpace(string(out)))
	}
	return t, nil
}
