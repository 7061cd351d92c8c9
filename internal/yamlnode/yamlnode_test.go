package yamlnode

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
)

// TestAllIsPairs checks that All yields what Pairs returns and reports the
// same problems, with and without merge keys, aliases and duplicates.
func TestAllIsPairs(t *testing.T) {
	t.Parallel()
	tests := []struct{ what, in string }{
		{what: "plain", in: "a: 1\nb: 2\n"},
		{what: "duplicate", in: "a: 1\nb: 2\na: 3\n"},
		{what: "merge", in: "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"},
		{what: "alias key", in: "k: &k name\nm:\n  *k : 1\n  other: 2\n"},
		{what: "not a scalar key", in: "? [a]\n: 1\nb: 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.in), &doc); err != nil {
				t.Fatal(err)
			}
			var mappings []*yaml.Node
			var walk func(*yaml.Node)
			walk = func(n *yaml.Node) {
				if n.Kind == yaml.MappingNode {
					mappings = append(mappings, n)
				}
				for _, c := range n.Content {
					walk(c)
				}
			}
			walk(&doc)
			for _, m := range mappings {
				var pairsProblems, allProblems []string
				pw := &Walker{Report: func(n *yaml.Node, msg string) { pairsProblems = append(pairsProblems, fmt.Sprint(n.Line, msg)) }}
				aw := &Walker{Report: func(n *yaml.Node, msg string) { allProblems = append(allProblems, fmt.Sprint(n.Line, msg)) }}
				var want, got []string
				for _, p := range pw.Pairs(m) {
					want = append(want, p.Key.Value+"="+p.Value.Value)
				}
				for k, v := range aw.All(m) {
					got = append(got, k.Value+"="+v.Value)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("All() differs from Pairs() (-Pairs +All):\n%s", diff)
				}
				if diff := cmp.Diff(pairsProblems, allProblems); diff != "" {
					t.Errorf("All() reports differently (-Pairs +All):\n%s", diff)
				}
			}
		})
	}
}
