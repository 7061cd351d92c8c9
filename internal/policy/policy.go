// Package policy evaluates organisation policies written in Rego, in
// process, with OPA.
//
// A policy is a Rego package promote.<root>.<name> (for `promote mesh
// check`, root is "mesh") that defines a set findings of objects
//
//	{"rule": ID, "severity": "error"|"warning"|"note", "message": TEXT, "resource": ID}
//
// where severity defaults to "error" and resource names the input resource
// judged. A package's METADATA annotations (title, description, and the
// custom keys rule and severity) describe it; Rules returns them. The
// shipped policies come from an fs.FS (policies.FS); users add theirs from
// directories. Files ending in _test.rego are OPA tests: Load skips them and
// Test runs them.
package policy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Engine evaluates a compiled set of policies. It is safe for concurrent
// use.
type Engine struct {
	root  string
	query rego.PreparedEvalQuery
	rules []Info
}

// Result is one finding of a policy.
type Result struct {
	// Package is the policy's package, e.g. "promote.mesh.mtls".
	Package string `json:"package"`
	// Rule is the finding's rule id, e.g. "strict-mtls".
	Rule string `json:"rule"`
	// Severity is "error", "warning" or "note".
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// Resource is the id of the input resource the finding is about.
	Resource string `json:"resource"`
}

// Info describes a policy, from its package's METADATA annotations.
type Info struct {
	// Package is the policy's package, e.g. "promote.mesh.mtls".
	Package string `json:"package"`
	// Rule is the rule id its findings carry: the annotation custom.rule,
	// else the last name of the package.
	Rule string `json:"rule"`
	// Severity is the default severity of its findings: the annotation
	// custom.severity, else "error".
	Severity string `json:"severity"`
	// Title is one line; Description says what the policy requires and how
	// to fix a finding (Markdown). Both are empty when not annotated.
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// File is the file that declares the package's annotations, or one of
	// its files.
	File string `json:"file"`
}

// Severities are the valid severities of a finding, most severe first.
var Severities = []string{"error", "warning", "note"}

// Load compiles the policies: the *.rego files under root in embedded (nil
// for none), and every *.rego file found recursively in dirs (a dir may
// also name a single file). *_test.rego files are skipped. Policies are the
// packages promote.<root>.<name> that define findings; other packages are
// libraries that policies may import.
//
// Problems in the policies come back as a *CompileError listing every one
// at its position; a directory that does not exist wraps fs.ErrNotExist.
func Load(ctx context.Context, embedded fs.FS, root string, dirs []string) (*Engine, error) {
	srcs, err := read(embedded, root, dirs, false)
	if err != nil {
		return nil, err
	}
	modules, err := parse(srcs)
	if err != nil {
		return nil, err
	}
	c := newCompiler(false)
	if c.Compile(modules); c.Failed() {
		return nil, &CompileError{Problems: sortProblems(problems(c.Errors))}
	}
	rules, ps := describe(c, root, srcs)
	if len(ps) > 0 {
		return nil, &CompileError{Problems: sortProblems(ps)}
	}

	// One query finds every policy's findings: OPA evaluates only the
	// findings rules, and the indexes the policies share are built once.
	query, err := rego.New(
		rego.Compiler(c),
		rego.Query(fmt.Sprintf("findings := %s[name].findings", rootRef(root))),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing the policy query: %w", err)
	}
	return &Engine{root: root, query: query, rules: rules}, nil
}

// read reads the embedded policies and those of dirs.
func read(embedded fs.FS, root string, dirs []string, tests bool) ([]source, error) {
	var srcs []source
	if embedded != nil {
		var err error
		if srcs, err = readEmbedded(embedded, root, tests); err != nil {
			return nil, err
		}
	}
	user, err := readDirs(dirs, tests)
	if err != nil {
		return nil, err
	}
	return append(srcs, user...), nil
}

// describe finds the policy packages of the compiled modules and describes
// each. It reports a package below promote.<root>.<name> that defines
// findings (which would never be evaluated), and a directory that defines
// no policy.
func describe(c *ast.Compiler, root string, srcs []source) ([]Info, []Problem) {
	prefix := rootRef(root)
	byPackage := map[string]*Info{}
	var ps []Problem
	annotations := c.GetAnnotationSet()
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		m := c.Modules[name]
		path := m.Package.Path
		if !path.HasPrefix(prefix) || !definesFindings(m) {
			continue
		}
		if len(path) != len(prefix)+1 {
			ps = append(ps, Problem{
				File: name, Line: m.Package.Location.Row, Col: m.Package.Location.Col,
				Message: fmt.Sprintf("package %s defines findings, but policies must be in a package %s.<name>; rename the package",
					packageName(path), packageName(prefix)),
			})
			continue
		}
		pkg := packageName(path)
		info := byPackage[pkg]
		if info == nil {
			info = &Info{Package: pkg, File: name}
			byPackage[pkg] = info
		}
		a := annotations.GetPackageScope(m.Package)
		if a == nil {
			continue
		}
		info.File, info.Title, info.Description = name, a.Title, strings.TrimSpace(a.Description)
		for _, key := range []string{"rule", "severity"} {
			v, ok := a.Custom[key]
			if !ok {
				continue
			}
			s, isString := v.(string)
			switch {
			case !isString || s == "":
				ps = append(ps, annotationProblem(a, fmt.Sprintf("custom.%s must be a non-empty string", key)))
			case key == "rule":
				info.Rule = s
			case !slices.Contains(Severities, s):
				ps = append(ps, annotationProblem(a, fmt.Sprintf("custom.severity is %q; use one of %s", s, strings.Join(Severities, ", "))))
			default:
				info.Severity = s
			}
		}
	}

	if len(ps) == 0 {
		for _, dir := range dirsWithoutPolicy(srcs, byPackage, c) {
			ps = append(ps, Problem{File: dir, Message: fmt.Sprintf(
				"no policy here: a policy is a package %s.<name> that defines findings (and its file does not end in _test.rego)", packageName(prefix))})
		}
	}

	rules := make([]Info, 0, len(byPackage))
	for _, pkg := range slices.Sorted(maps.Keys(byPackage)) {
		info := *byPackage[pkg]
		info.Rule = cmp.Or(info.Rule, pkg[strings.LastIndexByte(pkg, '.')+1:])
		info.Severity = cmp.Or(info.Severity, "error")
		rules = append(rules, info)
	}
	return rules, ps
}

func annotationProblem(a *ast.Annotations, msg string) Problem {
	p := Problem{Message: "METADATA: " + msg}
	if a.Location != nil {
		p.File, p.Line, p.Col = a.Location.File, a.Location.Row, a.Location.Col
	}
	return p
}

// definesFindings reports whether m defines the rule findings.
func definesFindings(m *ast.Module) bool {
	for _, r := range m.Rules {
		if r.Head.Ref()[0].Equal(ast.VarTerm("findings")) {
			return true
		}
	}
	return false
}

// dirsWithoutPolicy lists the user directories none of whose files belongs
// to a policy package: most likely a package named wrong.
func dirsWithoutPolicy(srcs []source, policies map[string]*Info, c *ast.Compiler) []string {
	has := map[string]bool{}
	var dirs []string
	for _, s := range srcs {
		if s.dir == "" {
			continue
		}
		if _, ok := has[s.dir]; !ok {
			has[s.dir] = false
			dirs = append(dirs, s.dir)
		}
		if m := c.Modules[s.name]; m != nil && policies[packageName(m.Package.Path)] != nil {
			has[s.dir] = true
		}
	}
	return slices.DeleteFunc(dirs, func(d string) bool { return has[d] })
}

// Rules describes every policy, sorted by package.
func (e *Engine) Rules() []Info {
	return slices.Clone(e.rules)
}

// Eval evaluates every policy against input, a JSON-like document (a
// map[string]any, or a value that encoding/json marshals to one). The
// results are sorted by package, rule, resource and message.
//
// A finding that breaks the contract (not an object, a missing or empty
// rule, message or resource, an unknown severity or key) is an error naming
// its package, as is an error raised while evaluating a policy: both are
// bugs in a policy.
func (e *Engine) Eval(ctx context.Context, input any) ([]Result, error) {
	// OPA notices a cancelled context only while it evaluates, and a small
	// input may be done first.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, fmt.Errorf("converting the policy input to Rego: %w", err)
	}
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil {
		return nil, fmt.Errorf("evaluating the %s policies: %w", e.root, err)
	}
	var results []Result
	var errs []error
	for _, r := range rs {
		name, _ := r.Bindings["name"].(string)
		pkg := packageName(rootRef(e.root).Append(ast.StringTerm(name)))
		findings, ok := r.Bindings["findings"].([]any)
		if !ok {
			errs = append(errs, fmt.Errorf("policy %s: findings is %s; it must be a set of objects (findings contains f if ...)",
				pkg, show(r.Bindings["findings"])))
			continue
		}
		for _, f := range findings {
			res, err := result(pkg, f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			results = append(results, res)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(results, func(a, b Result) int {
		return cmp.Or(
			strings.Compare(a.Package, b.Package),
			strings.Compare(a.Rule, b.Rule),
			strings.Compare(a.Resource, b.Resource),
			strings.Compare(a.Message, b.Message),
			strings.Compare(a.Severity, b.Severity),
		)
	})
	return results, nil
}

// result checks one finding of package pkg against the contract.
func result(pkg string, f any) (Result, error) {
	obj, ok := f.(map[string]any)
	if !ok {
		return Result{}, fmt.Errorf("policy %s: finding %s is %s; it must be an object with rule, severity, message and resource",
			pkg, show(f), kind(f))
	}
	bad := func(format string, args ...any) (Result, error) {
		return Result{}, fmt.Errorf("policy %s: finding %s: %s", pkg, show(f), fmt.Sprintf(format, args...))
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch k {
		case "rule", "severity", "message", "resource":
		default:
			return bad("unknown key %q; the keys are rule, severity, message and resource", k)
		}
	}
	r := Result{Package: pkg, Severity: "error"}
	for _, field := range []struct {
		key string
		dst *string
	}{{"rule", &r.Rule}, {"message", &r.Message}, {"resource", &r.Resource}} {
		s, ok := obj[field.key].(string)
		if !ok || s == "" {
			return bad("%s must be a non-empty string", field.key)
		}
		*field.dst = s
	}
	if v, ok := obj["severity"]; ok {
		s, _ := v.(string)
		if !slices.Contains(Severities, s) {
			return bad("severity must be one of %s", strings.Join(Severities, ", "))
		}
		r.Severity = s
	}
	return r, nil
}

// show shows a value in an error message, shortened.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if s := string(b); len(s) <= 200 {
		return s
	}
	return string(b[:200]) + "…"
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64, int:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", v)
}
