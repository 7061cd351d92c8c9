package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// nodeBudget bounds how many YAML nodes a manifest of size bytes may expand
// to, aliases included, so that a "billion laughs" document fails fast instead
// of eating time and memory. A document without aliases has fewer nodes than
// bytes; aliases may repeat it many times over before the budget runs out.
func nodeBudget(size int) int { return 100_000 + 64*size }

// decoder walks a yaml.Node tree and collects every problem it finds with its
// position, instead of stopping at the first like yaml.Unmarshal does.
type decoder struct {
	file    string
	errs    ErrorList
	visited int
	budget  int
	tooBig  bool
}

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Pos: pos(n), Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases and charges the node to the expansion budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.visited++
	if d.visited > d.budget && !d.tooBig {
		d.tooBig = true
		d.errorf(n, "the document expands to more than %d nodes; reduce its use of aliases", d.budget)
	}
	return n
}

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
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

// pair is one key and value of a mapping.
type pair struct {
	key, value *yaml.Node
}

// pairs returns a mapping's entries with merge keys (<<) applied: explicit keys
// win over merged ones. Duplicate explicit keys are reported.
func (d *decoder) pairs(n *yaml.Node) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merged []pair
	for i := 0; i+1 < len(n.Content) && !d.tooBig; i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "expected a key, got %s; keys are plain names", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(v)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, "duplicate key %q (first defined at line %d); remove one of them", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; ok {
			continue
		}
		seen[p.key.Value] = p.key
		out = append(out, p)
	}
	return out
}

func (d *decoder) mergePairs(v *yaml.Node) []pair {
	v = d.resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			if d.tooBig {
				return nil
			}
			item = d.resolve(item)
			if item.Kind != yaml.MappingNode {
				d.errorf(item, "a merge (<<) takes mappings, got %s", describe(item))
				continue
			}
			out = append(out, d.pairs(item)...)
		}
		return out
	}
	d.errorf(v, "a merge (<<) takes a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// keySet holds the keys a mapping gave, merged ones included.
type keySet map[string]bool

// fields decodes a mapping whose keys are known in advance. Unknown keys are
// reported with the valid choices and a suggestion. It returns the keys that
// were given, or nil when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, what string, fields map[string]func(*yaml.Node)) keySet {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, describe(n))
		return nil
	}
	given := keySet{}
	for _, p := range d.pairs(n) {
		f, ok := fields[p.key.Value]
		if !ok {
			d.unknownKey(p.key, what, keys(fields))
			continue
		}
		given[p.key.Value] = true
		f(p.value)
	}
	return given
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (d *decoder) unknownKey(k *yaml.Node, what string, valid []string) {
	msg := fmt.Sprintf("unknown key %q in %s", k.Value, what)
	if s := suggest(k.Value, valid); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.errorf(k, "%s (expected one of %s)", msg, strings.Join(valid, ", "))
}

func (d *decoder) scalar(n *yaml.Node, what, tag, expected string) (*yaml.Node, bool) {
	n = d.resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		hint := ""
		if tag == "!!str" && n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			hint = "; quote it to make it a string"
		}
		d.errorf(n, "%s: expected %s, got %s%s", what, expected, describe(n), hint)
		return n, false
	}
	return n, true
}

func (d *decoder) str(n *yaml.Node, what string, out *string) {
	if n, ok := d.scalar(n, what, "!!str", "a string"); ok {
		if n.Value == "" {
			d.errorf(n, "%s: must not be empty", what)
			return
		}
		*out = n.Value
	}
}

func (d *decoder) boolean(n *yaml.Node, what string, out *bool) {
	if n, ok := d.scalar(n, what, "!!bool", "true or false"); ok {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			d.errorf(n, "%s: expected true or false, got %q", what, n.Value)
			return
		}
		*out = b
	}
}

// integer decodes an int within [lo, hi].
func (d *decoder) integer(n *yaml.Node, what string, lo, hi int, out *int) {
	n, ok := d.scalar(n, what, "!!int", "an integer")
	if !ok {
		return
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		d.errorf(n, "%s: must be an integer from %d to %d, got %s", what, lo, hi, n.Value)
		return
	}
	*out = int(v)
}

// duration decodes a Go duration string such as "10m" or "1h30m".
func (d *decoder) duration(n *yaml.Node, what string, out *time.Duration) {
	n = d.resolve(n)
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		d.errorf(n, "%s: expected a duration, got the number %s; add a unit, e.g. \"%sm\" or \"%ss\"", what, n.Value, n.Value, n.Value)
		return
	}
	n, ok := d.scalar(n, what, "!!str", `a duration such as "90s", "10m" or "1h30m"`)
	if !ok {
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, "%s: invalid duration %q; use Go's syntax such as \"90s\", \"10m\" or \"1h30m\"", what, n.Value)
		return
	}
	if v < 0 {
		d.errorf(n, "%s: must not be negative, got %s", what, n.Value)
		return
	}
	*out = v
}

// oneOf decodes a string that must be one of choices.
func (d *decoder) oneOf(n *yaml.Node, what string, choices []string, out *string) {
	var s string
	d.str(n, what, &s)
	if s == "" {
		return
	}
	if !slices.Contains(choices, s) {
		msg := fmt.Sprintf("%s: unknown value %q (expected one of %s)", what, s, strings.Join(choices, ", "))
		if sg := suggest(s, choices); sg != "" {
			msg = fmt.Sprintf("%s: unknown value %q; did you mean %q? (expected one of %s)", what, s, sg, strings.Join(choices, ", "))
		}
		d.errorf(resolveAliases(n), "%s", msg)
		return
	}
	*out = s
}

func resolveAliases(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// list decodes a non-empty sequence, calling item for each element.
func (d *decoder) list(n *yaml.Node, what string, item func(*yaml.Node)) bool {
	n = d.resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list, got %s", what, describe(n))
		return false
	}
	if len(n.Content) == 0 {
		d.errorf(n, "%s: the list is empty; list at least one item or remove the key", what)
		return false
	}
	for _, c := range n.Content {
		if d.tooBig {
			return false
		}
		item(c)
	}
	return true
}

// suggest returns the choice closest to s, if it is close enough to be a typo.
func suggest(s string, choices []string) string {
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
