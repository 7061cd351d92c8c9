package mesh

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
	"istio.io/istio/pkg/config"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	apiservercel "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	fielderr "k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/promote-dev/promote/internal/yamlnode"
)

// The CRD layer checks each Istio resource as the Kubernetes API server
// does on kubectl apply: against the structural schema of Istio's CRD for
// its version (the OpenAPI validation of the API server, kube-openapi) and
// the CEL rules of its x-kubernetes-validations, evaluated by the API
// server's own validator (k8s.io/apiextensions-apiserver), with the API
// server's CEL environment and cost limits.
//
// The schemas are those of the Istio module Promote builds with, written by
// crdgen into crds.json at build time: descriptions left out, 240 KB
// instead of the 930 KB of YAML, and decoded in a fraction of the time (see
// BENCHMARKS.md). TestCRDSchemasCurrent keeps the file equal to what
// crdgen writes from the module.

//go:generate go run ./crdgen

//go:embed crds.json
var crdsJSON []byte

// crdSchema is what checks the resources of one kind and version.
type crdSchema struct {
	structural *structuralschema.Structural
	openapi    *validate.SchemaValidator
	cel        *apiservercel.Validator // nil when the schema has no rules
	// rules counts the CEL rules, transition the rules that compare with
	// the previous object (oldSelf), which a check of files cannot
	// evaluate and skips, as the API server does on create.
	rules, transition int
	// listTypes is set when a list of the schema is a map or a set, whose
	// keys or items must differ.
	listTypes bool
}

// crdEntry is one schema of crds.json.
type crdEntry struct {
	Group, Kind, Version string
	Schema               json.RawMessage
}

// crdIndex maps a kind and version to its schema, built on first use; a
// schema's validators are built the first time a resource of its kind and
// version is checked, and kept for the process.
var crdIndex = sync.OnceValues(func() (map[config.GroupVersionKind]func() (*crdSchema, error), error) {
	var raw []crdEntry
	if err := json.Unmarshal(crdsJSON, &raw); err != nil {
		return nil, fmt.Errorf("crds.json: %w", err)
	}
	m := make(map[config.GroupVersionKind]func() (*crdSchema, error), len(raw))
	for _, r := range raw {
		gvk := config.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
		m[gvk] = sync.OnceValues(func() (*crdSchema, error) {
			s, err := buildCRDSchema(r.Schema)
			if err != nil {
				return nil, fmt.Errorf("the CRD schema of %s: %w", gvk, err)
			}
			return s, nil
		})
	}
	return m, nil
})

// crdSchemaFor returns the schema of a kind and version, or nil when
// Istio's CRDs do not serve it.
func crdSchemaFor(gvk config.GroupVersionKind) (*crdSchema, error) {
	idx, err := crdIndex()
	if err != nil {
		return nil, err
	}
	build, ok := idx[gvk]
	if !ok {
		return nil, nil
	}
	return build()
}

// buildCRDSchema converts a schema as the API server does when a CRD is
// created, and compiles its rules.
func buildCRDSchema(data []byte) (*crdSchema, error) {
	var v1 apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(&internal)
	if err != nil {
		return nil, err
	}
	limits := internal.DeepCopy()
	pruneToLimits(limits)
	_, openapiSchema, err := apiservervalidation.NewSchemaValidator(limits)
	if err != nil {
		return nil, err
	}
	s := &crdSchema{
		structural: structural,
		openapi:    validate.NewSchemaValidator(openapiSchema, nil, "", strfmt.Default),
		cel:        apiservercel.NewValidator(structural, true, celconfig.PerCallLimit),
	}
	s.rules, s.transition = countRules(structural)
	walkStructural(structural, "", func(_ string, node *structuralschema.Structural) {
		if t := node.XListType; t != nil && (*t == "map" || *t == "set") {
			s.listTypes = true
		}
	})
	return s, nil
}

// pruneToLimits leaves in a schema only what the schema layer does not
// check already, for the OpenAPI validator: limits (maxItems, pattern,
// required, ...), not types, formats, enums or the full range of an
// integer type (uint32's 0 to 4294967295), and no subtree without a limit.
// It validates the same limits as the whole schema, in a fraction of the
// time: the validator builds a validator for every field it meets. It
// reports whether s holds a limit.
func pruneToLimits(s *apiextensions.JSONSchemaProps) bool {
	s.Type, s.Format, s.Enum, s.Nullable, s.XIntOrString = "", "", nil, false, false
	s.Description, s.Default, s.Example = "", nil, nil
	if typeRange(s.Minimum, s.Maximum) {
		s.Minimum, s.Maximum = nil, nil
	}
	// oneOf, anyOf and not are the fields of a proto oneof in Istio's
	// CRDs (at most one of them set), which protojson refuses two of in
	// the schema layer; validating each alternative costs the most.
	s.OneOf, s.AnyOf, s.Not = nil, nil, nil
	limit := s.Maximum != nil || s.Minimum != nil || s.MaxLength != nil || s.MinLength != nil || s.Pattern != "" ||
		s.MaxItems != nil || s.MinItems != nil || s.UniqueItems || s.MultipleOf != nil ||
		s.MaxProperties != nil || s.MinProperties != nil || len(s.Required) > 0 || len(s.AllOf) > 0
	for k, p := range s.Properties {
		if pruneToLimits(&p) {
			s.Properties[k] = p
			limit = true
		} else {
			delete(s.Properties, k)
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		if pruneToLimits(s.Items.Schema) {
			limit = true
		} else {
			s.Items = nil
		}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		if pruneToLimits(s.AdditionalProperties.Schema) {
			limit = true
		} else {
			s.AdditionalProperties = nil
		}
	}
	return limit
}

// typeRange reports whether minimum and maximum are the range of a 32-bit
// integer type, which the schema layer checks as the field's type.
func typeRange(minimum, maximum *float64) bool {
	if minimum == nil || maximum == nil {
		return false
	}
	return *minimum == 0 && *maximum == math.MaxUint32 || *minimum == math.MinInt32 && *maximum == math.MaxInt32
}

// countRules counts a schema's CEL rules and those that compare with the
// previous object (oldSelf). TestCRDRulesCompile holds the count to the
// compiler's.
func countRules(s *structuralschema.Structural) (rules, transition int) {
	walkStructural(s, "", func(_ string, node *structuralschema.Structural) {
		for _, rule := range node.XValidations {
			rules++
			if strings.Contains(rule.Rule, "oldSelf") {
				transition++
			}
		}
	})
	return rules, transition
}

// walkStructural calls f with every node of a structural schema and its
// path ("" for the root, .spec.x, [*] for list items, [*] for map values).
func walkStructural(s *structuralschema.Structural, path string, f func(path string, s *structuralschema.Structural)) {
	if s == nil {
		return
	}
	f(path, s)
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := s.Properties[k]
		walkStructural(&p, path+"."+k, f)
	}
	walkStructural(s.Items, path+"[*]", f)
	if s.AdditionalProperties != nil {
		walkStructural(s.AdditionalProperties.Structural, path+"[*]", f)
	}
}

// checkCRD checks one Istio resource against its CRD. problems are what
// the schema layer found in it: a value it reported is not reported again,
// and type or enum problems stop the CEL rules, as in the API server, which
// evaluates no rule of an object whose values have the wrong type.
//
// It also returns how many of the schema's rules compare with the previous
// object (oldSelf): transition rules, which a check of files cannot
// evaluate and skips, as the API server does on create.
func checkCRD(ctx context.Context, r *Resource, problems []Finding) (out []crdFinding, transition int) {
	if r.Istio == nil {
		return nil, 0
	}
	s, err := crdSchemaFor(config.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind})
	if err != nil {
		return []crdFinding{{Finding: r.crdFinding(r.Pos, RuleCRDInternal, "cannot check against Istio's CRD: %v", err), key: r.Pos}}, 0
	}
	if s == nil {
		return nil, 0
	}
	return checkCRDSchema(ctx, r, s, problems), s.transition
}

// checkCRDSchema checks r against the schema s (see checkCRD).
func checkCRDSchema(ctx context.Context, r *Resource, s *crdSchema, problems []Finding) (out []crdFinding) {
	defer func() {
		if p := recover(); p != nil {
			out = append(out, crdFinding{Finding: r.crdFinding(r.Pos, RuleCRDInternal, "crashed checking against Istio's CRD (%v); please report it with the resource", p), key: r.Pos})
		}
	}()
	w := &yamlnode.Walker{Budget: specBudget}
	obj := map[string]any{"apiVersion": r.APIVersion, "kind": r.Kind}
	for k, v := range w.All(r.Doc) {
		if k.Value == "metadata" || k.Value == "spec" {
			obj[k.Value] = value(v, w)
		}
	}
	if w.TooBig() {
		return nil // the schema layer reports it
	}
	reported := map[Pos]bool{}
	blocked := false
	for _, p := range problems {
		reported[p.Pos] = true
		blocked = blocked || p.Rule == RuleType || p.Rule == RuleEnum
	}
	// add reports a problem at the node of path, unless the schema layer
	// reported the node or its key.
	add := func(path string, missing bool, rule, format string, args ...any) bool {
		at, key := crdPlace(r, path, missing)
		if reported[at] || reported[key] {
			return false
		}
		out = append(out, crdFinding{Finding: r.crdFinding(at, rule, format, args...), key: key})
		return true
	}
	res := s.openapi.Validate(obj)
	for _, e := range res.Errors {
		v, ok := e.(*openapierrors.Validation)
		if !ok {
			msg := strings.ReplaceAll(e.Error(), " in body", "")
			path := ""
			if m := quotedPath.FindStringSubmatch(msg); m != nil {
				path = m[1]
			}
			add(path, false, RuleCRDSchema, "%s", msg)
			continue
		}
		switch v.Code() {
		case openapierrors.InvalidTypeCode, openapierrors.EnumFailCode:
			blocked = true // the schema layer reports wrong types and enum values
			continue
		case openapierrors.RequiredFailCode, openapierrors.TooLongFailCode, openapierrors.MaxItemsFailCode, openapierrors.TooManyPropertiesCode:
			blocked = true // the API server evaluates no rule after these
		}
		path := strings.TrimPrefix(v.Name, ".")
		add(path, v.Code() == openapierrors.RequiredFailCode, RuleCRDSchema, "%s", schemaMessage(path, v))
	}
	var lists fielderr.ErrorList
	if s.listTypes {
		lists = listtype.ValidateListSetsAndMaps(nil, s.structural, obj)
	}
	for _, e := range lists {
		blocked = true
		add(e.Field, false, RuleCRDSchema, "%s: duplicate %s: the items of this list must differ in their keys (x-kubernetes-list-type)", e.Field, strings.TrimPrefix(e.ErrorBody(), "Duplicate value: "))
	}
	if blocked || s.cel == nil {
		return out
	}
	errs, _ := s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	for _, e := range errs {
		if e.Type == fielderr.ErrorTypeInternal || celFailed(e.Detail) {
			msg := fmt.Sprintf("%s: a CEL rule of Istio's CRD failed to evaluate: %s", e.Field, e.Detail)
			rule := ruleAt(s.structural, e.Field, func(rule apiextensionsv1.ValidationRule) bool {
				return strings.HasSuffix(e.Detail, "rule: "+cmp.Or(strings.TrimSpace(rule.Message), strings.TrimSpace(rule.Rule)))
			})
			if rule != "" && !strings.HasSuffix(e.Detail, rule) {
				msg += fmt.Sprintf(" (rule: %s)", rule)
			}
			add(e.Field, false, RuleCRDInternal, "%s", msg)
			continue
		}
		msg := fmt.Sprintf("%s: %s", e.Field, e.Detail)
		rule := ruleAt(s.structural, e.Field, func(rule apiextensionsv1.ValidationRule) bool {
			return rule.Message == e.Detail || rule.Message == "" && e.Detail == "failed rule: "+strings.TrimSpace(rule.Rule)
		})
		if rule != "" {
			msg += fmt.Sprintf(" (rule: %s)", rule)
		}
		if add(e.Field, false, RuleCRDCEL, "%s", msg) {
			out[len(out)-1].fields = ruleFields(r, e.Field, rule)
		}
	}
	return out
}

// crdFinding is a finding of the CRD layer and the position of the key of
// the value it is about, where Istio's rules may have placed the same
// problem.
type crdFinding struct {
	Finding
	key Pos
	// fields are the positions of the fields a CEL rule reads.
	fields []Pos
}

func (r *Resource) crdFinding(at Pos, rule, format string, args ...any) Finding {
	return Finding{Pos: at, Severity: Error, Rule: rule, Resource: r.Ref(), Message: fmt.Sprintf(format, args...)}
}

// quotedPath is the path that opens kube-openapi's messages of composite
// schemas (allOf).
var quotedPath = regexp.MustCompile(`^"([^"]*)"`)

// celFailed tells a rule that could not be evaluated from one that is
// false, by the words the API server's validator uses (a test holds them
// to the validator, TestCRDEvaluationError).
func celFailed(detail string) bool {
	for _, s := range []string{" evaluating rule: ", "call arguments did not match", "rule compile error", "rule compiler initialization error", "cost budget", "runtime cost could not be calculated", "call cost exceeds limit"} {
		if strings.Contains(detail, s) {
			return true
		}
	}
	return false
}

// schemaMessage says which limit of the schema a value breaks.
func schemaMessage(path string, v *openapierrors.Validation) string {
	switch v.Code() {
	case openapierrors.RequiredFailCode:
		parent, name := splitPath(path)
		if parent == "" {
			return fmt.Sprintf("the required field %q is missing (required)", name)
		}
		return fmt.Sprintf("%s: the required field %q is missing (required)", parent, name)
	case openapierrors.TooLongFailCode, openapierrors.TooShortFailCode:
		n := -1
		if s, ok := v.Value.(string); ok {
			n = utf8.RuneCountInString(s)
		}
		if v.Code() == openapierrors.TooLongFailCode {
			return fmt.Sprintf("%s: %d characters, longer than the limit of %v (maxLength)", path, n, v.Valid)
		}
		return fmt.Sprintf("%s: %d characters, shorter than the minimum of %v (minLength)", path, n, v.Valid)
	case openapierrors.PatternFailCode:
		_, pattern, _ := strings.Cut(v.Error(), " should match ")
		return fmt.Sprintf("%s: %s does not match the pattern %s (pattern)", path, quoteValue(v.Value), strings.Trim(pattern, "'"))
	case openapierrors.MaxItemsFailCode:
		return fmt.Sprintf("%s: %v items, more than the limit of %v (maxItems)", path, v.Value, v.Valid)
	case openapierrors.MinItemsFailCode:
		return fmt.Sprintf("%s: %v items, fewer than the minimum of %v (minItems)", path, v.Value, v.Valid)
	case openapierrors.TooManyPropertiesCode:
		return fmt.Sprintf("%s: %v entries, more than the limit of %v (maxProperties)", path, v.Value, v.Valid)
	case openapierrors.TooFewPropertiesCode:
		return fmt.Sprintf("%s: %v entries, fewer than the minimum of %v (minProperties)", path, v.Value, v.Valid)
	case openapierrors.MaxFailCode, openapierrors.MinFailCode:
		// kube-openapi keeps the limit only in its message: "... should be
		// less than or equal to 599".
		_, limit, _ := strings.Cut(v.Error(), " should be ")
		name := "maximum"
		if v.Code() == openapierrors.MinFailCode {
			name = "minimum"
		}
		return fmt.Sprintf("%s: %s should be %s (%s)", path, quoteValue(v.Value), limit, name)
	case openapierrors.UniqueFailCode:
		return fmt.Sprintf("%s: the items must differ (uniqueItems)", path)
	case openapierrors.MultipleOfFailCode:
		return fmt.Sprintf("%s: %v is not a multiple of %v (multipleOf)", path, quoteValue(v.Value), wholeNumber(v.Valid))
	}
	return strings.ReplaceAll(v.Error(), " in body", "")
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(wholeNumber(v))
}

// wholeNumber prints whole floats as integers: schemas hold limits as floats.
func wholeNumber(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

// splitPath splits spec.a.b into spec.a and b.
func splitPath(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return "", path
	}
	return path[:i], path[i+1:]
}

// ruleAt finds the rule of the schema at a field path that the API server's
// error is about, to name it in the finding.
func ruleAt(s *structuralschema.Structural, path string, about func(apiextensionsv1.ValidationRule) bool) string {
	for _, seg := range pathSegments(path) {
		if s == nil {
			return ""
		}
		switch p, ok := s.Properties[seg.key]; {
		case seg.key != "" && ok:
			s = &p
		case s.Items != nil:
			s = s.Items
		case s.AdditionalProperties != nil:
			s = s.AdditionalProperties.Structural
		default:
			return ""
		}
	}
	if s == nil {
		return ""
	}
	for _, rule := range s.XValidations {
		if about(rule) {
			return rule.Rule
		}
	}
	return ""
}

// pathSegment is one step of a field path: a key (.name or [name] of a
// map) or a list index ([3], key "").
type pathSegment struct {
	key   string
	index int
	// bracket is set for [x], which is a map key or a list index.
	bracket bool
}

// pathSegments splits a field path as the API server writes it
// (spec.rules[0].to, spec.portLevelMtls[8080]).
func pathSegments(path string) []pathSegment {
	var out []pathSegment
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
			continue
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				end = len(path)
			}
			inner := path[1:end]
			path = path[min(end+1, len(path)):]
			if i, err := strconv.Atoi(inner); err == nil {
				out = append(out, pathSegment{key: inner, index: i, bracket: true})
			} else {
				out = append(out, pathSegment{key: inner, index: -1, bracket: true})
			}
			continue
		}
		end := strings.IndexAny(path, ".[")
		if end < 0 {
			end = len(path)
		}
		out = append(out, pathSegment{key: path[:end], index: -1})
		path = path[end:]
	}
	return out
}

// crdPlace finds the YAML position of a field path: a scalar's value, a
// mapping's or list's key (where it has one), a list item; for a path
// that ends in a missing field (required), the key of the object that
// lacks it. A path that leads nowhere stops at the last node it reached.
//
// It returns the position of the key of the node found too, if it has one
// (else the same position).
func crdPlace(r *Resource, path string, missing bool) (at, keyAt Pos) {
	n, key := crdNode(r, path, missing)
	return nodePlace(r, n, key)
}

// crdNode finds the node of a path (see crdPlace) and its key, or nil.
func crdNode(r *Resource, path string, missing bool) (n, key *yaml.Node) {
	w := &yamlnode.Walker{Budget: specBudget}
	n = w.Resolve(r.Doc)
	segs := pathSegments(path)
	if missing && len(segs) > 0 {
		segs = segs[:len(segs)-1]
	}
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		switch n.Kind {
		case yaml.SequenceNode:
			if seg.index < 0 || seg.index >= len(n.Content) {
				return n, key
			}
			n, key = w.Resolve(n.Content[seg.index]), nil
		case yaml.MappingNode:
			// A map key may hold dots (app.kubernetes.io/name): try the
			// longest run of segments that names a key.
			found := false
			for j := len(segs); j > i && !found; j-- {
				name := joinKeys(segs[i:j])
				for k, v := range w.All(n) {
					if k.Value == name || jsonKey(k) == name {
						n, key, found = w.Resolve(v), k, true
						i = j - 1
						break
					}
				}
			}
			if !found {
				return n, key
			}
		default:
			return n, key
		}
	}
	return n, key
}

// ruleFields returns the positions of the keys and values of the fields of
// the object at path that a rule reads as self.FIELD, or, for a rule that
// reads no field by name (one over the items of a list or the entries of a
// map), every position inside the object: where Istio's rules place the
// same problem.
func ruleFields(r *Resource, path, rule string) []Pos {
	n, _ := crdNode(r, path, false)
	if rule == "" || n.Kind == yaml.ScalarNode {
		return nil
	}
	var out []Pos
	w := &yamlnode.Walker{Budget: specBudget}
	at := func(n *yaml.Node) Pos { return Pos{r.Pos.File, n.Line, n.Column} }
	if n.Kind == yaml.MappingNode {
		for k, v := range w.All(n) {
			if strings.Contains(rule, "self."+k.Value) {
				out = append(out, at(k), at(w.Resolve(v)))
			}
		}
		if out != nil {
			return out
		}
	}
	var inside func(n *yaml.Node)
	inside = func(n *yaml.Node) {
		n = w.Resolve(n)
		if w.TooBig() {
			return
		}
		out = append(out, at(n))
		for _, c := range n.Content {
			inside(c)
		}
	}
	inside(n)
	return out
}

// joinKeys spells segments back as one key with dots.
func joinKeys(segs []pathSegment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.key
	}
	return strings.Join(parts, ".")
}

func nodePlace(r *Resource, n, key *yaml.Node) (at, keyAt Pos) {
	at = Pos{r.Pos.File, n.Line, n.Column}
	if key == nil {
		return at, at
	}
	keyAt = Pos{r.Pos.File, key.Line, key.Column}
	if n.Kind != yaml.ScalarNode {
		return keyAt, keyAt
	}
	return at, keyAt
}
