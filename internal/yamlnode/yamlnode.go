// Package yamlnode walks yaml.Node trees the way Promote's strict decoders
// need: aliases followed under an expansion budget, merge keys applied,
// duplicate keys reported, and parse errors turned into positions.
package yamlnode

import (
	"fmt"
	"iter"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Budget bounds how many YAML nodes a document of size bytes may expand to,
// aliases included, so that a "billion laughs" document fails fast instead of
// eating time and memory. A document without aliases has fewer nodes than
// bytes; aliases may repeat it many times over before the budget runs out.
func Budget(size int) int { return 100_000 + 64*size }

// Walker follows aliases and merges under a budget and reports problems to
// Report. The zero Budget means no limit.
type Walker struct {
	Budget int
	// Report receives each problem with the node it is about.
	Report  func(n *yaml.Node, msg string)
	visited int
	tooBig  bool
}

// TooBig reports whether the document exceeded the budget; a walk should
// stop when it does.
func (w *Walker) TooBig() bool { return w.tooBig }

func (w *Walker) report(n *yaml.Node, format string, args ...any) {
	if w.Report != nil {
		w.Report(n, fmt.Sprintf(format, args...))
	}
}

// Resolve follows aliases and charges the node to the expansion budget.
func (w *Walker) Resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	w.visited++
	if w.Budget > 0 && w.visited > w.Budget && !w.tooBig {
		w.tooBig = true
		w.report(n, "the document expands to more than %d nodes; reduce its use of aliases", w.Budget)
	}
	return n
}

// Pair is one key and value of a mapping.
type Pair struct {
	Key, Value *yaml.Node
}

// Pairs returns a mapping's entries with merge keys (<<) applied: explicit
// keys win over merged ones. Duplicate explicit keys and keys that are not
// scalars are reported and left out.
func (w *Walker) Pairs(n *yaml.Node) []Pair {
	out := make([]Pair, 0, len(n.Content)/2)
	var merged []Pair
	for i := 0; i+1 < len(n.Content) && !w.tooBig; i += 2 {
		k, v := w.Resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.report(k, "expected a key, got %s; keys are plain names", Describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, w.mergePairs(v)...)
			continue
		}
		if first := find(out, k.Value); first != nil {
			w.report(k, "duplicate key %q (first defined at line %d); remove one of them", k.Value, first.Line)
			continue
		}
		out = append(out, Pair{k, v})
	}
	for _, p := range merged {
		if find(out, p.Key.Value) == nil {
			out = append(out, p)
		}
	}
	return out
}

// All yields a mapping's entries as Pairs returns them, without building a
// list when the mapping has no merge key (the common case): decoders call it
// for every mapping of every document.
func (w *Walker) All(n *yaml.Node) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(k, v *yaml.Node) bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				for _, p := range w.Pairs(n) {
					if !yield(p.Key, p.Value) {
						return
					}
				}
				return
			}
		}
	next:
		for i := 0; i+1 < len(n.Content) && !w.tooBig; i += 2 {
			k := w.Resolve(n.Content[i])
			for j := 0; j < i; j += 2 {
				if first := n.Content[j]; first.Value == k.Value {
					w.report(k, "duplicate key %q (first defined at line %d); remove one of them", k.Value, first.Line)
					continue next
				}
			}
			if !yield(k, n.Content[i+1]) {
				return
			}
		}
	}
}

// find returns the key named name among ps. Mappings in configuration are
// small, so a scan beats building a map for each.
func find(ps []Pair, name string) *yaml.Node {
	for _, p := range ps {
		if p.Key.Value == name {
			return p.Key
		}
	}
	return nil
}

func (w *Walker) mergePairs(v *yaml.Node) []Pair {
	v = w.Resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return w.Pairs(v)
	case yaml.SequenceNode:
		var out []Pair
		for _, item := range v.Content {
			if w.tooBig {
				return nil
			}
			item = w.Resolve(item)
			if item.Kind != yaml.MappingNode {
				w.report(item, "a merge (<<) takes mappings, got %s", Describe(item))
				continue
			}
			out = append(out, w.Pairs(item)...)
		}
		return out
	}
	w.report(v, "a merge (<<) takes a mapping or a list of mappings, got %s", Describe(v))
	return nil
}

// Describe names what a node holds, for "expected X, got Y" messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!bool":
			return fmt.Sprintf("the boolean %s", n.Value)
		case "!!int":
			return fmt.Sprintf("the integer %s", n.Value)
		case "!!float":
			return fmt.Sprintf("the number %s", n.Value)
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unknown node"
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError splits an error of the YAML parser into the line it names (1
// when it names none) and its message without the "yaml: " prefix.
func SyntaxError(err error) (line int, msg string) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		return max(line, 1), m[2]
	}
	return 1, strings.TrimPrefix(err.Error(), "yaml: ")
}

// Suggest returns the choice closest to s, if it is close enough to be a typo.
func Suggest(s string, choices []string) string {
	best, bestDist := "", len(s)/2+2
	for _, c := range choices {
		if dist := levenshtein(strings.ToLower(s), strings.ToLower(c)); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
