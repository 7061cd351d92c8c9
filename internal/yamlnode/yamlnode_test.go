package yamlnode

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"
)

// TestAllIsPairs checks that All yields what Pairs returns and reports the
// same problems, with and without merge keys, aliases and duplicates.
// TestAllIsPairs checks All and Pairs against the entries and problems each
// mapping must give, not only against each other: for a merge key, an alias
// key or a key that is not a scalar, All hands over to Pairs, so comparing
// the two alone would compare Pairs with itself.
func TestAllIsPairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what         string
		in           string
		want         [][]string // each mapping's entries, key=value, in walk order
		wantProblems []string   // line: message
	}{
		{what: "plain", in: "a: 1\nb: 2\n", want: [][]string{{"a=1", "b=2"}}},
		{what: "duplicate", in: "a: 1\nb: 2\na: 3\n", want: [][]string{{"a=1", "b=2"}},
			wantProblems: []string{`3: duplicate key "a" (first defined at line 1); remove one of them`}},
		// Explicit keys win over merged ones, which follow them.
		{what: "merge", in: "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n", want: [][]string{{"base=", "m="}, {"x=1", "y=2"}, {"y=3", "x=1"}}},
		{what: "alias key", in: "k: &k name\nm:\n  *k : 1\n  other: 2\n", want: [][]string{{"k=name", "m="}, {"name=1", "other=2"}}},
		{what: "not a scalar key", in: "? [a]\n: 1\nb: 2\n", want: [][]string{{"b=2"}},
			wantProblems: []string{"1: expected a key, got a list; keys are plain names"}},
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
			var pairs, all [][]string
			var pairsProblems, allProblems []string
			for _, m := range mappings {
				pw := &Walker{Report: func(n *yaml.Node, msg string) {
					pairsProblems = append(pairsProblems, fmt.Sprintf("%d: %s", n.Line, msg))
				}}
				aw := &Walker{Report: func(n *yaml.Node, msg string) { allProblems = append(allProblems, fmt.Sprintf("%d: %s", n.Line, msg)) }}
				var p, a []string
				for _, e := range pw.Pairs(m) {
					p = append(p, e.Key.Value+"="+e.Value.Value)
				}
				for k, v := range aw.All(m) {
					a = append(a, k.Value+"="+v.Value)
				}
				pairs, all = append(pairs, p), append(all, a)
			}
			if diff := cmp.Diff(tt.want, pairs); diff != "" {
				t.Errorf("Pairs() entries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, all); diff != "" {
				t.Errorf("All() entries (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProblems, pairsProblems); diff != "" {
				t.Errorf("Pairs() problems (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProblems, allProblems); diff != "" {
				t.Errorf("All() problems (-want +got):\n%s", diff)
			}
		})
	}
}
