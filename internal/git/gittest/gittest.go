// Package gittest makes small git repositories for tests.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Init makes a repository on branch main in a new temporary directory, with
// files written and committed, and returns its path.
func Init(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	Run(t, dir, "init", "-q", "-b", "main")
	Run(t, dir, "config", "user.email", "test@example.com")
	Run(t, dir, "config", "user.name", "test")
	for name, content := range files {
		Write(t, dir, name, content)
	}
	Run(t, dir, "add", ".")
	Run(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

// Run runs git in dir and fails the test if it fails.
func Run(t testing.TB, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// Write writes a file below dir, creating its directories.
func Write(t testing.TB, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
