package manifest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/yamlnode"
	yaml "go.yaml.in/yaml/v3"
)

// decoder walks a yaml.Node tree and collects every problem it finds with its
// position, instead of stopping at the first like yaml.Unmarshal does.
type decoder struct {
	file string
	errs ErrorList
	w    yamlnode.Walker
}

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Pos: pos(n), Msg: fmt.Sprintf(format, args...)})
}

// keySet holds the keys a mapping gave, merged ones included.
type keySet map[string]bool

// fields decodes a mapping whose keys are known in advance. Unknown keys are
// reported with the valid choices and a suggestion. It returns the keys that
// were given, or nil when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, what string, fields map[string]func(*yaml.Node)) keySet {
	n = d.w.Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping, got %s", what, yamlnode.Describe(n))
		return nil
	}
	given := keySet{}
	for _, p := range d.w.Pairs(n) {
		f, ok := fields[p.Key.Value]
		if !ok {
			d.unknownKey(p.Key, what, keys(fields))
			continue
		}
		given[p.Key.Value] = true
		f(p.Value)
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
	if s := yamlnode.Suggest(k.Value, valid); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.errorf(k, "%s (expected one of %s)", msg, strings.Join(valid, ", "))
}

func (d *decoder) scalar(n *yaml.Node, what, tag, expected string) (*yaml.Node, bool) {
	n = d.w.Resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		hint := ""
		if tag == "!!str" && n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			hint = "; quote it to make it a string"
		}
		d.errorf(n, "%s: expected %s, got %s%s", what, expected, yamlnode.Describe(n), hint)
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
	n = d.w.Resolve(n)
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
		if sg := yamlnode.Suggest(s, choices); sg != "" {
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
	n = d.w.Resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list, got %s", what, yamlnode.Describe(n))
		return false
	}
	if len(n.Content) == 0 {
		d.errorf(n, "%s: the list is empty; list at least one item or remove the key", what)
		return false
	}
	for _, c := range n.Content {
		if d.w.TooBig() {
			return false
		}
		item(c)
	}
	return true
}
