package mesh

import (
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// IgnorePrefix starts the annotations that exempt a resource from a rule:
// ignore.promote.dev/RULE: "REASON".
const IgnorePrefix = "ignore.promote.dev/"

// Ignore is one ignore annotation of a resource.
type Ignore struct {
	Rule   string // the rule the resource is exempt from
	Reason string // why, as the annotation's value
	Pos    Pos    // of the annotation's key
}

// Ignored is a finding that an ignore annotation on its resource set aside.
type Ignored struct {
	Finding
	Reason string `json:"reason"`
}

// ignores reads the ignore annotations of an annotations mapping.
func ignores(n *yaml.Node, w *yamlnode.Walker, at func(*yaml.Node) Pos) []Ignore {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out []Ignore
	for key, value := range w.All(n) {
		rule, ok := strings.CutPrefix(key.Value, IgnorePrefix)
		if !ok {
			continue
		}
		v := w.Resolve(value)
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
			continue // stringMap reports it
		}
		out = append(out, Ignore{Rule: rule, Reason: strings.TrimSpace(v.Value), Pos: at(key)})
	}
	return out
}

// applyIgnores sets aside the findings that an ignore annotation of their
// resource exempts, and reports annotations that cannot apply: those that
// give no reason, and those naming a rule that is not among rules (policy
// rules are known only when the policy layer runs, so an unknown policy
// rule is reported only then). Those reports belong to the schema layer.
func applyIgnores(set *Set, findings []Finding, rules []Rule, opts Options) (kept []Finding, ignored []Ignored) {
	policiesRan := opts.Runs(LayerPolicy) && opts.Policies != nil
	type key struct{ file, resource string }
	exempt := map[key][]Ignore{}
	for _, r := range set.Resources {
		for _, ig := range r.Ignores {
			msg := ""
			switch {
			case ig.Reason == "":
				msg = fmt.Sprintf("annotation %s%s gives no reason, so it is not applied; write why the rule does not apply as its value", IgnorePrefix, ig.Rule)
			case !slices.ContainsFunc(rules, func(rl Rule) bool { return rl.ID == ig.Rule }) && (policiesRan || !strings.HasPrefix(ig.Rule, "policy.")):
				msg = fmt.Sprintf("annotation %s%s names no rule%s; the rules are listed in docs/mesh.md and in the JSON and SARIF reports", IgnorePrefix, ig.Rule, suggestRule(ig.Rule, rules))
			default:
				k := key{r.Pos.File, r.Ref()}
				exempt[k] = append(exempt[k], ig)
				continue
			}
			if !opts.Runs(LayerSchema) {
				continue
			}
			findings = append(findings, Finding{Pos: ig.Pos, Severity: Warning, Rule: RuleIgnore, Message: msg, Resource: r.Ref()})
		}
	}
	if len(exempt) == 0 {
		return findings, nil
	}
	for _, f := range findings {
		i := slices.IndexFunc(exempt[key{f.File, f.Resource}], func(ig Ignore) bool { return ig.Rule == f.Rule })
		if i < 0 || f.Rule == RuleIgnore {
			kept = append(kept, f)
			continue
		}
		ignored = append(ignored, Ignored{Finding: f, Reason: exempt[key{f.File, f.Resource}][i].Reason})
	}
	return kept, ignored
}

// suggestRule returns ` (did you mean "x"?)` for the rule closest to id, or
// "".
func suggestRule(id string, rules []Rule) string {
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID
	}
	if s := yamlnode.Suggest(id, ids); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
