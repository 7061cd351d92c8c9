package gate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumentedPolicy checks the example policy of docs/gates.md: the
// documentation shows it as it is in testdata/mainonly, it loads beside
// the shipped policies, and its tests pass.
func TestDocumentedPolicy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "mainonly")
	src, err := os.ReadFile(filepath.Join(dir, "mainonly.rego"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/gates.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```rego\n"+string(src)+"```\n") {
		t.Errorf("docs/gates.md does not show %s as it is", filepath.Join(dir, "mainonly.rego"))
	}
	e, err := LoadPolicies(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range e.Rules() {
		found = found || p.Rule == "main-only"
	}
	if !found {
		t.Errorf("the documented policy main-only is not among %+v", e.Rules())
	}
	results, err := TestPolicies(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, r := range results {
		if strings.HasPrefix(r.File, dir) {
			ran++
			if !r.Passed() {
				t.Errorf("%s", r)
			}
		}
	}
	if ran != 2 {
		t.Errorf("ran %d tests of %s, want 2", ran, dir)
	}
}
