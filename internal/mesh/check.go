package mesh

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	yaml "go.yaml.in/yaml/v3"
	security "istio.io/api/security/v1beta1"

	"github.com/promote-dev/promote/internal/policy"
	"github.com/promote-dev/promote/internal/yamlnode"
)

// specBudget bounds how many nodes one spec may expand to through aliases.
const specBudget = 1 << 20

// Policies evaluates organisation policies; *policy.Engine is one.
type Policies interface {
	Eval(ctx context.Context, input any) ([]policy.Result, error)
	Rules() []policy.Info
}

// Options configures Check.
type Options struct {
	// Checks are the layers to run; empty means all.
	Checks []Layer
	// RootNamespace is Istio's root namespace, where resources without a
	// selector apply mesh-wide (default istio-system).
	RootNamespace string
	// Policies evaluates the policy layer; nil leaves it out.
	Policies Policies
	// Services describes the manifest's services, for the summary and the
	// policies; may be empty.
	Services map[string]ServiceInfo
	// MonitoringNamespaces and TrustDomain are passed to the policies
	// (default ["monitoring"] and "cluster.local").
	MonitoringNamespaces []string
	TrustDomain          string
}

// ServiceInfo is what the checks know of a manifest service.
type ServiceInfo struct {
	Compliance string
	Mesh       string // the service's mesh directory
}

// Runs reports whether the options select layer l.
func (o Options) Runs(l Layer) bool { return len(o.Checks) == 0 || slices.Contains(o.Checks, l) }

// ParseChecks parses a comma-separated list of layers.
func ParseChecks(s string) ([]Layer, error) {
	var out []Layer
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "all" {
			continue
		}
		if !slices.Contains(Layers, Layer(part)) {
			return nil, fmt.Errorf("unknown check %q (expected a comma-separated list of schema, istio, crd, analysis, policy, or all)", part)
		}
		if !slices.Contains(out, Layer(part)) {
			out = append(out, Layer(part))
		}
	}
	return out, nil
}

// Check runs the selected layers over a loaded set. An error means a layer
// could not run (a policy failed to evaluate); findings are in the report.
func Check(ctx context.Context, set *Set, opts Options) (*Report, error) {
	opts.RootNamespace = cmp.Or(opts.RootNamespace, "istio-system")
	opts.TrustDomain = cmp.Or(opts.TrustDomain, "cluster.local")
	if len(opts.MonitoringNamespaces) == 0 {
		opts.MonitoringNamespaces = []string{"monitoring"}
	}
	rep := &Report{Files: set.Files, Resources: len(set.Resources), Skipped: set.Skipped}
	for _, l := range Layers {
		if opts.Runs(l) && (l != LayerPolicy || opts.Policies != nil) {
			rep.Checks = append(rep.Checks, l)
		}
	}
	var findings []Finding
	for _, f := range set.Findings {
		if f.Rule == RuleSyntax || opts.Runs(LayerSchema) {
			findings = append(findings, f)
		}
	}
	perResource, skippedRules, err := checkEach(ctx, set.Resources, opts)
	if err != nil {
		return nil, err
	}
	rep.SkippedRules = skippedRules
	for _, r := range set.Resources {
		if r.Istio != nil {
			rep.Istio++
		}
	}
	findings = append(findings, perResource...)
	if opts.Runs(LayerAnalysis) {
		found, err := analyze(ctx, set, opts.RootNamespace)
		if err != nil {
			return nil, err
		}
		findings = append(findings, found...)
	}
	var policyRules []Rule
	if opts.Runs(LayerPolicy) && opts.Policies != nil {
		pf, rules, err := evalPolicies(ctx, set, opts)
		if err != nil {
			return nil, err
		}
		findings = append(findings, pf...)
		policyRules = rules
	}
	findings, rep.Ignored = applyIgnores(set, findings, append(slices.Clone(builtinRules), policyRules...), opts)
	slices.SortStableFunc(findings, compareFindings)
	rep.Findings = slices.CompactFunc(findings, func(a, b Finding) bool { return a == b })
	slices.SortStableFunc(rep.Ignored, func(a, b Ignored) int { return compareFindings(a.Finding, b.Finding) })
	rep.Ignored = slices.CompactFunc(rep.Ignored, func(a, b Ignored) bool { return a == b })
	if rep.Findings == nil {
		rep.Findings = []Finding{}
	}
	for _, r := range builtinRules {
		if slices.Contains(rep.Checks, r.Layer) || r.ID == RuleSyntax {
			rep.Rules = append(rep.Rules, r)
		}
	}
	rep.Rules = append(rep.Rules, policyRules...)
	slices.SortFunc(rep.Rules, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	rep.Namespaces = summarize(set, rep.Findings, opts)
	return rep, nil
}

// compareFindings orders findings by file, line, column, rule and message.
func compareFindings(a, b Finding) int {
	return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col),
		strings.Compare(a.Rule, b.Rule), strings.Compare(a.Message, b.Message))
}

// checkEach decodes every Istio resource and runs Istio's validation and the
// CRD layer on it, spread over the machine's cores: resources are
// independent of each other.
//
// It also returns how many CEL rules of Istio's CRDs it skipped because
// they compare with a previous object (see Report.SkippedRules).
func checkEach(ctx context.Context, resources []*Resource, opts Options) ([]Finding, int, error) {
	var skippedRules atomic.Int64
	found := make([][]Finding, len(resources))
	crd := make([][]crdFinding, len(resources))
	_, err := forEach(ctx, len(resources), func(i int) []Finding {
		r := resources[i]
		if r.Istio == nil {
			return nil
		}
		if !r.decoded {
			r.Message, r.problems = decodeSpec(r, r.Pos.File, specBudget)
			r.decoded = true
		}
		if opts.Runs(LayerSchema) {
			found[i] = slices.Clone(r.problems)
		}
		if opts.Runs(LayerIstio) {
			found[i] = append(found[i], validateIstio(r)...)
		}
		if opts.Runs(LayerCRD) {
			var transition int
			crd[i], transition = checkCRD(ctx, r, r.problems)
			skippedRules.Add(int64(transition))
		}
		return nil
	})
	if err == nil && opts.Runs(LayerIstio) {
		err = placeIstio(ctx, resources, found)
	}
	if err != nil {
		return nil, 0, err
	}
	for i, fs := range crd {
		found[i] = append(found[i], withoutIstio(fs, found[i])...)
	}
	return slices.Concat(found...), int(skippedRules.Load()), nil
}

// withoutIstio leaves out the CRD findings at a value (or its key) where
// Istio's own rules already refused the resource, and those of a CEL rule
// that reads a field where Istio refused it: a rule both have (a duration
// under 1ms, port-level mTLS without a selector) is one problem.
func withoutIstio(crd []crdFinding, found []Finding) []Finding {
	var out []Finding
	for _, c := range crd {
		if !slices.ContainsFunc(found, func(f Finding) bool {
			return f.Rule == RuleIstio && (f.Pos == c.Pos || f.Pos == c.key || slices.Contains(c.fields, f.Pos))
		}) {
			out = append(out, c.Finding)
		}
	}
	return out
}

// forEach calls f(0) to f(n-1) on every core and returns their findings in
// index order.
func forEach(ctx context.Context, n int, f func(i int) []Finding) ([]Finding, error) {
	// Workers take indexes in blocks, so that they do not fight over the
	// counter when f is quick.
	const block = 64
	workers := min(runtime.GOMAXPROCS(0), max(1, n/block))
	results := make([][]Finding, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(block)) - block
				if start >= n || ctx.Err() != nil {
					return
				}
				for i := start; i < min(start+block, n); i++ {
					results[i] = f(i)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Finding
	for _, f := range results {
		out = append(out, f...)
	}
	return out, nil
}

// PolicyInput builds the document the policies read (see docs/policies.md).
func PolicyInput(set *Set, opts Options) map[string]any {
	resources := make([]any, 0, len(set.Resources))
	for _, r := range set.Resources {
		w := &yamlnode.Walker{Budget: specBudget}
		var spec any = map[string]any{}
		if r.Spec != nil {
			spec = value(r.Spec, w)
		}
		resources = append(resources, map[string]any{
			"id":         strconv.Itoa(r.ID),
			"apiVersion": r.APIVersion,
			"kind":       r.Kind,
			"metadata": map[string]any{
				"name":        r.Name,
				"namespace":   r.Namespace,
				"labels":      anyMap(r.Labels),
				"annotations": anyMap(r.Annotations),
			},
			"spec":    spec,
			"file":    r.Pos.File,
			"service": r.Service,
		})
	}
	nsOf := map[string][]any{}
	seen := map[string]bool{}
	for _, r := range set.Resources {
		if r.Service != "" && !seen[r.Service+"/"+r.Namespace] {
			seen[r.Service+"/"+r.Namespace] = true
			nsOf[r.Service] = append(nsOf[r.Service], r.Namespace)
		}
	}
	services := map[string]any{}
	for name, s := range opts.Services {
		namespaces := nsOf[name]
		if namespaces == nil {
			namespaces = []any{}
		}
		services[name] = map[string]any{"compliance": s.Compliance, "mesh": s.Mesh, "namespaces": namespaces}
	}
	monitoring := make([]any, len(opts.MonitoringNamespaces))
	for i, ns := range opts.MonitoringNamespaces {
		monitoring[i] = ns
	}
	return map[string]any{
		"resources": resources,
		"services":  services,
		"config": map[string]any{
			"root_namespace":        opts.RootNamespace,
			"monitoring_namespaces": monitoring,
			"trust_domain":          opts.TrustDomain,
		},
	}
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// value converts a YAML node to the JSON-like value it denotes, as the API
// server reads it from what kubectl sends.
func value(n *yaml.Node, w *yamlnode.Walker) any {
	n = w.Resolve(n)
	if w.TooBig() {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for k, v := range w.All(n) {
			m[jsonKey(k)] = value(v, w)
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, item := range n.Content {
			l[i] = value(item, w)
		}
		return l
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		return strings.EqualFold(n.Value, "true")
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			// kubectl sends a whole float as an integer (1.0 as 1), which
			// the API server reads as one.
			if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f)
			}
			return f
		}
	}
	return n.Value
}

// evalPolicies runs the policies, places their findings at the resources
// they judged, and describes each rule they reported with the help of the
// package that reported it.
func evalPolicies(ctx context.Context, set *Set, opts Options) ([]Finding, []Rule, error) {
	results, err := opts.Policies.Eval(ctx, PolicyInput(set, opts))
	if err != nil {
		return nil, nil, err
	}
	var rules []Rule
	described := map[string]bool{}
	describe := func(rule string, in policy.Info, sev Severity) {
		if described[rule] {
			return
		}
		described[rule] = true
		rules = append(rules, Rule{ID: rule, Layer: LayerPolicy, Severity: sev,
			Summary: cmp.Or(in.Title, "Organisation policy "+in.Package+"."),
			Help:    cmp.Or(in.Description, "Reported by the Rego policy "+in.Package+".")})
	}
	infos := map[string]policy.Info{}
	for _, in := range opts.Policies.Rules() {
		infos[in.Package] = in
		sev, err := ParseSeverity(cmp.Or(in.Severity, "error"))
		if err != nil {
			return nil, nil, fmt.Errorf("policy %s: %w", in.Package, err)
		}
		describe("policy."+in.Rule, in, sev)
	}
	out := make([]Finding, 0, len(results))
	for _, res := range results {
		sev, err := ParseSeverity(cmp.Or(res.Severity, "error"))
		if err != nil {
			return nil, nil, fmt.Errorf("policy %s: rule %q: %w", res.Package, res.Rule, err)
		}
		id, err := strconv.Atoi(res.Resource)
		if err != nil || id < 0 || id >= len(set.Resources) {
			return nil, nil, fmt.Errorf("policy %s: rule %q returned resource %q, which is not the id of an input resource", res.Package, res.Rule, res.Resource)
		}
		r := set.Resources[id]
		rule := "policy." + res.Rule
		out = append(out, Finding{Pos: r.NamePos, Severity: sev, Rule: rule, Resource: r.Ref(), Message: res.Message})
		in := infos[res.Package]
		in.Package = res.Package
		describe(rule, in, sev)
	}
	return out, rules, nil
}

// summarize builds the per-namespace summary.
func summarize(set *Set, findings []Finding, opts Options) []Namespace {
	byName := map[string]*Namespace{}
	get := func(name string) *Namespace {
		ns, ok := byName[name]
		if !ok {
			ns = &Namespace{Name: name, Policies: map[string]int{}}
			byName[name] = ns
		}
		return ns
	}
	modes := map[string]string{}
	for _, r := range set.Resources {
		ns := get(r.Namespace)
		if r.Service != "" && !slices.ContainsFunc(ns.Services, func(s Service) bool { return s.Name == r.Service }) {
			ns.Services = append(ns.Services, Service{Name: r.Service, Compliance: opts.Services[r.Service].Compliance})
		}
		if r.IsWorkload() {
			ns.Workloads++
		}
		switch m := r.Message.(type) {
		case *security.AuthorizationPolicy:
			ns.Policies[m.GetAction().String()]++
		case *security.PeerAuthentication:
			if len(m.GetSelector().GetMatchLabels()) == 0 && m.GetMtls().GetMode() != security.PeerAuthentication_MutualTLS_UNSET {
				modes[r.Namespace] = m.GetMtls().GetMode().String()
			}
		}
	}
	for _, f := range findings {
		// Resource is "Kind namespace/name", and neither a kind nor a
		// namespace holds a space or a slash.
		_, ref, ok := strings.Cut(f.Resource, " ")
		ns, _, ok2 := strings.Cut(ref, "/")
		if !ok || !ok2 || byName[ns] == nil {
			continue
		}
		switch n := byName[ns]; f.Severity {
		case Error:
			n.Errors++
		case Warning:
			n.Warnings++
		case Note:
			n.Notes++
		}
	}
	sorted := make([]*Namespace, 0, len(byName))
	for name, ns := range byName {
		switch {
		case modes[name] != "":
			ns.MTLS = modes[name]
		case modes[opts.RootNamespace] != "":
			ns.MTLS = modes[opts.RootNamespace] + " (mesh)"
		default:
			ns.MTLS = "UNSET"
		}
		if len(ns.Policies) == 0 {
			ns.Policies = nil
		}
		slices.SortFunc(ns.Services, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
		sorted = append(sorted, ns)
	}
	slices.SortFunc(sorted, func(a, b *Namespace) int { return strings.Compare(a.Name, b.Name) })
	out := make([]Namespace, len(sorted))
	for i, ns := range sorted {
		out[i] = *ns
	}
	return out
}
