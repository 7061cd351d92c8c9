package mesh

import (
	"os"
	"strings"
	"testing"
)

// TestRulesDocumented keeps docs/mesh.md and the rule catalogue together.
func TestRulesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/mesh.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range builtinRules {
		if seen[r.ID] {
			t.Errorf("rule %s is described twice", r.ID)
		}
		seen[r.ID] = true
		if !strings.Contains(string(doc), "`"+r.ID+"`") {
			t.Errorf("docs/mesh.md does not describe rule %s", r.ID)
		}
		if r.Summary == "" || r.Help == "" || !strings.HasPrefix(r.ID, string(r.Layer)+".") {
			t.Errorf("rule %s: summary %q, help %q, layer %s", r.ID, r.Summary, r.Help, r.Layer)
		}
	}
}
