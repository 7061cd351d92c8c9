package policy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/policies"
)

// writeDir writes files (relative name → content) into a new temporary
// directory and returns it.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// input is a small mesh with one finding per shipped policy: namespace
// shop has a workload but neither STRICT mTLS nor deny-by-default, and a
// sandbox service that admits every caller.
func input() map[string]any {
	resource := func(id, kind, ns, name string, spec map[string]any) map[string]any {
		return map[string]any{
			"id": id, "apiVersion": "v1", "kind": kind,
			"metadata": map[string]any{"name": name, "namespace": ns},
			"spec":     spec, "file": "services/" + ns + "/mesh.yaml", "service": ns,
		}
	}
	return map[string]any{
		"resources": []any{
			resource("1", "Deployment", "shop", "api", map[string]any{
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "api"}}},
			}),
			resource("2", "AuthorizationPolicy", "shop", "open", map[string]any{"rules": []any{map[string]any{}}}),
		},
		"services": map[string]any{
			"shop":    map[string]any{"compliance": "sandbox", "mesh": "services/shop", "namespaces": []any{"shop"}},
			"billing": map[string]any{"compliance": "regulated", "mesh": "services/billing", "namespaces": []any{"billing"}},
		},
		"config": map[string]any{"root_namespace": "istio-system", "monitoring_namespaces": []any{"monitoring"}, "trust_domain": "cluster.local"},
	}
}

func TestEvalShipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := Load(ctx, policies.FS, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := e.Eval(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	type finding struct{ Package, Rule, Severity, Resource string }
	var got []finding
	for _, r := range results {
		got = append(got, finding{r.Package, r.Rule, r.Severity, r.Resource})
		if r.Message == "" {
			t.Errorf("result %+v has no message", r)
		}
	}
	want := []finding{
		{"promote.mesh.allow_all", "no-allow-all", "error", "2"},
		{"promote.mesh.deny_default", "deny-by-default", "error", "1"},
		{"promote.mesh.metrics", "metrics-from-monitoring", "error", "2"},
		{"promote.mesh.mtls", "strict-mtls", "error", "1"},
		{"promote.mesh.sandbox", "sandbox-isolation", "error", "2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Eval(input) findings differ (-want +got):\n%s", diff)
	}

	// Every finding carries the rule id its package declares.
	rules := map[string]string{}
	for _, info := range e.Rules() {
		rules[info.Package] = info.Rule
	}
	for _, r := range results {
		if rules[r.Package] != r.Rule {
			t.Errorf("finding of %s has rule %q, but its METADATA declares %q", r.Package, r.Rule, rules[r.Package])
		}
	}
}

func TestEvalCleanMesh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := Load(ctx, policies.FS, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []any{
		map[string]any{"resources": []any{}, "services": map[string]any{}, "config": map[string]any{}},
		benchInput(70),
	} {
		results, err := e.Eval(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			// The generated mesh lets sandbox svc-0010 be reached from svc-0009.
			if r.Rule != "sandbox-isolation" || r.Resource != "68" {
				t.Errorf("Eval(clean mesh) = unexpected finding %+v", r)
			}
		}
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	e, err := Load(context.Background(), policies.FS, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range e.Rules() {
		got = append(got, info.Package+" "+info.Rule+" "+info.Severity+" "+info.File)
		if info.Title == "" || !strings.Contains(info.Description, "fix") {
			t.Errorf("%s: title %q, description %q; want a title and a description that says how to fix a finding",
				info.Package, info.Title, info.Description)
		}
	}
	want := []string{
		"promote.mesh.allow_all no-allow-all error promote:mesh/allow_all.rego",
		"promote.mesh.deny_default deny-by-default error promote:mesh/deny_default.rego",
		"promote.mesh.metrics metrics-from-monitoring error promote:mesh/metrics.rego",
		"promote.mesh.mtls strict-mtls error promote:mesh/mtls.rego",
		"promote.mesh.sandbox sandbox-isolation error promote:mesh/sandbox.rego",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rules() differ (-want +got):\n%s", diff)
	}
}

func TestLoadUserPolicies(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{
		"team/labels.rego": `# METADATA
# title: Workloads carry a team label
# description: Add metadata.labels.team to the workload.
# custom:
#   rule: team-label
#   severity: warning
package promote.mesh.team

import data.lib.kinds

findings contains f if {
	some r in input.resources
	r.kind in kinds.workloads
	not r.metadata.labels.team
	f := {"rule": "team-label", "severity": "warning", "message": "no team label", "resource": r.id}
}
`,
		// A library outside promote.mesh, and a test that would not
		// compile: Load skips tests.
		"lib/kinds.rego":             "package lib.kinds\n\nworkloads := {\"Deployment\"}\n",
		"team/labels_test.rego":      "package promote.mesh.team_test\n\ntest_broken if {\n",
		"README.md":                  "not a policy",
		"nested/undocumented.rego":   "package promote.mesh.plain\n\nfindings contains {\"rule\": \"plain\", \"message\": \"m\", \"resource\": r.id} if some r in input.resources\n",
		"nested/other/ignored.rego2": "garbage",
	})
	ctx := context.Background()
	e, err := Load(ctx, policies.FS, "mesh", []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	results, err := e.Eval(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	var got []Result
	for _, r := range results {
		if r.Package == "promote.mesh.team" || r.Package == "promote.mesh.plain" {
			got = append(got, r)
		}
	}
	want := []Result{
		{Package: "promote.mesh.plain", Rule: "plain", Severity: "error", Message: "m", Resource: "1"},
		{Package: "promote.mesh.plain", Rule: "plain", Severity: "error", Message: "m", Resource: "2"},
		{Package: "promote.mesh.team", Rule: "team-label", Severity: "warning", Message: "no team label", Resource: "1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Eval with user policies (-want +got):\n%s", diff)
	}

	infos := map[string]Info{}
	for _, info := range e.Rules() {
		infos[info.Package] = info
	}
	wantInfo := map[string]Info{
		"promote.mesh.team": {
			Package: "promote.mesh.team", Rule: "team-label", Severity: "warning",
			Title: "Workloads carry a team label", Description: "Add metadata.labels.team to the workload.",
			File: filepath.Join(dir, "team/labels.rego"),
		},
		"promote.mesh.plain": {
			Package: "promote.mesh.plain", Rule: "plain", Severity: "error",
			File: filepath.Join(dir, "nested/undocumented.rego"),
		},
	}
	for pkg, want := range wantInfo {
		if diff := cmp.Diff(want, infos[pkg]); diff != "" {
			t.Errorf("Rules()[%s] (-want +got):\n%s", pkg, diff)
		}
	}
	if len(infos) != 7 {
		t.Errorf("Rules() has %d policies, want the 5 shipped and 2 of the user", len(infos))
	}
}

func TestLoadSingleFile(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{"one.rego": "package promote.mesh.one\n\nfindings contains {\"rule\": \"one\", \"message\": \"m\", \"resource\": \"1\"}\n"})
	e, err := Load(context.Background(), nil, "mesh", []string{filepath.Join(dir, "one.rego")})
	if err != nil {
		t.Fatal(err)
	}
	results, err := e.Eval(context.Background(), input())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Package != "promote.mesh.one" {
		t.Errorf("Eval = %+v, want the one finding of one.rego alone", results)
	}
}

func TestLoadDirectoryErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := Load(context.Background(), policies.FS, "mesh", []string{missing})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `no policy directory "`+missing+`"; check the path`) {
		t.Errorf("Load(missing dir) = %v, want a not-exist error naming the directory", err)
	}

	empty := writeDir(t, map[string]string{"notes.txt": "x", "only_test.rego": "package x_test\n"})
	_, err = Load(context.Background(), policies.FS, "mesh", []string{empty})
	if err == nil || !strings.Contains(err.Error(), "holds no .rego policy files") {
		t.Errorf("Load(dir without policies) = %v, want an error saying it holds no .rego policy files", err)
	}

	file := filepath.Join(writeDir(t, map[string]string{"x.yaml": "a: b"}), "x.yaml")
	_, err = Load(context.Background(), policies.FS, "mesh", []string{file})
	if err == nil || !strings.Contains(err.Error(), "neither a directory nor a .rego file") {
		t.Errorf("Load(yaml file) = %v, want an error", err)
	}
}

// shippedLine matches a line number in a shipped policy, which the tests
// should not depend on.
var shippedLine = regexp.MustCompile(`\.rego:[0-9]+$`)

func TestLoadCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each problem as file:line:col: message, the file relative to the directory
	}{
		{
			name: "parse errors in two files",
			files: map[string]string{
				"a.rego": "package promote.mesh.a\n\nfindings contains f if {\n\tf := {\"rule\": \"a\"\n}\n",
				"b.rego": "package promote.mesh.b\n\nfindings contains f if {\n\tf := 1 +\n}\n",
			},
			want: []string{
				// OPA knows no column at the end of the file.
				"a.rego:6: rego_parse_error: unexpected eof token\n\t}\n\t^",
				"b.rego:5:1: rego_parse_error: unexpected } token\n\t}\n\t^",
			},
		},
		{
			name:  "unsafe variable",
			files: map[string]string{"a.rego": "package promote.mesh.a\n\nfindings contains f if {\n\tx == 1\n\tf := {}\n}\n"},
			want:  []string{"a.rego:4:2: rego_unsafe_var_error: var x is unsafe"},
		},
		{
			name:  "undefined function",
			files: map[string]string{"a.rego": "package promote.mesh.a\n\nfindings contains f if {\n\tf := nope(1)\n}\n"},
			want:  []string{"a.rego:4:7: rego_type_error: undefined function nope"},
		},
		{
			name:  "network built-in",
			files: map[string]string{"a.rego": "package promote.mesh.a\n\nfindings contains f if {\n\tf := http.send({\"method\": \"get\", \"url\": \"https://example.com\"})\n}\n"},
			want:  []string{"a.rego:4:7: rego_type_error: undefined function http.send"},
		},
		{
			name:  "Rego v0 syntax",
			files: map[string]string{"a.rego": "package promote.mesh.a\n\nfindings[f] {\n\tf := {}\n}\n"},
			want: []string{
				"a.rego:3:1: rego_parse_error: `if` keyword is required before rule body",
				"a.rego:3:1: rego_parse_error: `contains` keyword is required for partial set rules",
			},
		},
		{
			name:  "conflict with a shipped policy",
			files: map[string]string{"a.rego": "package promote.mesh.istio\n\ndefault root_namespace := \"mine\"\n"},
			want:  []string{"a.rego:1:1: rego_type_error: multiple default rules data.promote.mesh.istio.root_namespace found at a.rego:3, promote:mesh/istio.rego:N"},
		},
		{
			name:  "nested package",
			files: map[string]string{"a.rego": "package promote.mesh.team.a\n\nfindings contains {\"rule\": \"a\", \"message\": \"m\", \"resource\": \"1\"}\n"},
			want: []string{
				"a.rego:1:1: package promote.mesh.team.a defines findings, but policies must be in a package promote.mesh.<name>; rename the package",
			},
		},
		{
			name:  "no policy in the directory",
			files: map[string]string{"a.rego": "package mesh.a\n\nfindings contains {\"rule\": \"a\", \"message\": \"m\", \"resource\": \"1\"}\n"},
			want:  []string{": no policy here: a policy is a package promote.mesh.<name> that defines findings (and its file does not end in _test.rego)"},
		},
		{
			name:  "bad annotations",
			files: map[string]string{"a.rego": "# METADATA\n# custom:\n#   rule: 3\n#   severity: fatal\npackage promote.mesh.a\n\nfindings contains {\"rule\": \"a\", \"message\": \"m\", \"resource\": \"1\"}\n"},
			want: []string{
				"a.rego:1:1: METADATA: custom.rule must be a non-empty string",
				"a.rego:1:1: METADATA: custom.severity is \"fatal\"; use one of error, warning, note",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeDir(t, tt.files)
			_, err := Load(context.Background(), policies.FS, "mesh", []string{dir})
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *CompileError", err)
			}
			var got []string
			for _, p := range ce.Problems {
				s := strings.ReplaceAll(p.String(), dir+string(filepath.Separator), "")
				s = strings.TrimPrefix(s, dir)
				got = append(got, shippedLine.ReplaceAllString(s, ".rego:N"))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load problems (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), "in the Rego policies; fix") {
				t.Errorf("Load error = %q, want it to say how to fix", err)
			}
		})
	}
}

func TestCompileErrorMessage(t *testing.T) {
	t.Parallel()
	err := &CompileError{Problems: []Problem{
		{File: "p/a.rego", Line: 3, Col: 5, Message: "rego_unsafe_var_error: var x is unsafe"},
		{File: "p/b.rego", Line: 7, Message: "line only"},
		{File: "p", Message: "no policy here"},
	}}
	want := "3 problems in the Rego policies; fix them (`opa check DIR` shows the same):\n" +
		"p/a.rego:3:5: rego_unsafe_var_error: var x is unsafe\n" +
		"p/b.rego:7: line only\n" +
		"p: no policy here"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestEvalInvalidFindings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string // the body of package promote.mesh.bad
		want   string
	}{
		{
			name:   "unknown severity",
			policy: `findings contains {"rule": "r", "severity": "fatal", "message": "m", "resource": "1"}`,
			want:   `policy promote.mesh.bad: finding {"message":"m","resource":"1","rule":"r","severity":"fatal"}: severity must be one of error, warning, note`,
		},
		{
			name:   "no resource",
			policy: `findings contains {"rule": "r", "message": "m"}`,
			want:   `policy promote.mesh.bad: finding {"message":"m","rule":"r"}: resource must be a non-empty string`,
		},
		{
			name:   "no rule",
			policy: `findings contains {"message": "m", "resource": "1"}`,
			want:   `policy promote.mesh.bad: finding {"message":"m","resource":"1"}: rule must be a non-empty string`,
		},
		{
			name:   "empty message",
			policy: `findings contains {"rule": "r", "message": "", "resource": "1"}`,
			want:   `policy promote.mesh.bad: finding {"message":"","resource":"1","rule":"r"}: message must be a non-empty string`,
		},
		{
			name:   "resource that is not a string",
			policy: `findings contains {"rule": "r", "message": "m", "resource": 1}`,
			want:   `policy promote.mesh.bad: finding {"message":"m","resource":1,"rule":"r"}: resource must be a non-empty string`,
		},
		{
			name:   "unknown key",
			policy: `findings contains {"rule": "r", "message": "m", "resource": "1", "sev": "note"}`,
			want:   `policy promote.mesh.bad: finding {"message":"m","resource":"1","rule":"r","sev":"note"}: unknown key "sev"; the keys are rule, severity, message and resource`,
		},
		{
			name:   "not an object",
			policy: `findings contains "r"`,
			want:   `policy promote.mesh.bad: finding "r" is a string; it must be an object with rule, severity, message and resource`,
		},
		{
			name:   "not a set",
			policy: `findings := "r"`,
			want:   `policy promote.mesh.bad: findings is "r"; it must be a set of objects (findings contains f if ...)`,
		},
		{
			name:   "conflict at evaluation",
			policy: "findings := {f | f := {\"rule\": \"r\", \"message\": m(1), \"resource\": \"1\"}}\n\nm(x) := \"a\" if x == 1\n\nm(x) := \"b\" if x == 1",
			want:   "bad.rego:7: eval_conflict_error: function data.promote.mesh.bad.m produced conflicting values for the same inputs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeDir(t, map[string]string{"bad.rego": "package promote.mesh.bad\n\n" + tt.policy + "\n"})
			e, err := Load(context.Background(), policies.FS, "mesh", []string{dir})
			if err != nil {
				t.Fatal(err)
			}
			results, err := e.Eval(context.Background(), input())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Eval = %v, %v; want an error containing\n%s", results, err, tt.want)
			}
		})
	}
}

func TestEvalSortsAndDefaults(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{"order.rego": `package promote.mesh.order

findings contains {"rule": "b", "message": "m", "resource": "2"}
findings contains {"rule": "a", "message": "z", "resource": "2", "severity": "note"}
findings contains {"rule": "a", "message": "y", "resource": "2", "severity": "warning"}
findings contains {"rule": "a", "message": "m", "resource": "10"}
`})
	e, err := Load(context.Background(), nil, "mesh", []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Eval(context.Background(), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Package: "promote.mesh.order", Rule: "a", Severity: "error", Message: "m", Resource: "10"},
		{Package: "promote.mesh.order", Rule: "a", Severity: "warning", Message: "y", Resource: "2"},
		{Package: "promote.mesh.order", Rule: "a", Severity: "note", Message: "z", Resource: "2"},
		{Package: "promote.mesh.order", Rule: "b", Severity: "error", Message: "m", Resource: "2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Eval (-want +got):\n%s", diff)
	}
}

func TestEvalConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := Load(ctx, policies.FS, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.Eval(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := e.Eval(ctx, input())
			if err != nil {
				t.Error(err)
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("concurrent Eval differs (-want +got):\n%s", diff)
			}
		})
	}
	wg.Wait()
}

func TestEvalCancelled(t *testing.T) {
	t.Parallel()
	e, err := Load(context.Background(), policies.FS, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Eval(ctx, benchInput(700)); !errors.Is(err, context.Canceled) {
		t.Errorf("Eval(cancelled context) = %v, want context.Canceled", err)
	}
}

func TestTestUserPolicies(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{
		"a.rego": "package promote.mesh.a\n\nfindings contains {\"rule\": \"a\", \"message\": \"m\", \"resource\": r.id} if some r in input.resources\n",
		"a_test.rego": `package promote.mesh.a_test

import data.promote.mesh.a

test_passes if {
	count(a.findings) == 1 with input as {"resources": [{"id": "1"}]}
}

test_fails if {
	print("findings:", count(a.findings))
	count(a.findings) == 2 with input as {"resources": [{"id": "1"}]}
}

test_errors if {
	1 / 0
}

todo_test_later if false
`,
	})
	results, err := Test(context.Background(), nil, "mesh", []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		s := strings.TrimPrefix(r.String(), dir+string(filepath.Separator))
		got = append(got, s)
	}
	file := "a_test.rego"
	want := []string{
		file + ":5: promote.mesh.a_test.test_passes: PASS",
		file + ":9: promote.mesh.a_test.test_fails: FAIL",
		file + ":14: promote.mesh.a_test.test_errors: ERROR: " + results[2].Err.Error(),
		file + ":18: promote.mesh.a_test.todo_test_later: SKIP",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Test (-want +got):\n%s", diff)
	}
	if results[1].Output != "findings: 0\n" {
		t.Errorf("test_fails printed %q, want %q", results[1].Output, "findings: 0\n")
	}
	if !strings.Contains(results[2].Err.Error(), "divide by zero") {
		t.Errorf("test_errors error = %v, want divide by zero", results[2].Err)
	}
}

func TestTestCompileError(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{"a_test.rego": "package promote.mesh.a_test\n\ntest_x if {\n\tx == 1\n}\n"})
	_, err := Test(context.Background(), nil, "mesh", []string{dir})
	var ce *CompileError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Line != 4 {
		t.Errorf("Test(unsafe var) = %v, want a *CompileError at line 4", err)
	}
}

func TestEmbeddedFS(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"gates/ok.rego":      {Data: []byte("package promote.gates.ok\n\nfindings contains {\"rule\": \"ok\", \"message\": \"m\", \"resource\": \"x\"}\n")},
		"gates/ok_test.rego": {Data: []byte("package promote.gates.ok_test\n\nimport data.promote.gates.ok\n\ntest_one if count(ok.findings) == 1\n")},
		"mesh/other.rego":    {Data: []byte("package promote.mesh.other\n\nfindings contains {\"rule\": \"other\", \"message\": \"m\", \"resource\": \"x\"}\n")},
	}
	e, err := Load(context.Background(), fsys, "gates", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Eval(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{{Package: "promote.gates.ok", Rule: "ok", Severity: "error", Message: "m", Resource: "x"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Eval of gates (-want +got):\n%s", diff)
	}
	tests, err := Test(context.Background(), fsys, "gates", nil)
	if err != nil || len(tests) != 1 || !tests[0].Passed() {
		t.Errorf("Test(gates) = %v, %v; want one passing test", tests, err)
	}
}

func TestLoadNothing(t *testing.T) {
	t.Parallel()
	e, err := Load(context.Background(), nil, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := e.Eval(context.Background(), input())
	if err != nil || len(results) != 0 || len(e.Rules()) != 0 {
		t.Errorf("Eval without policies = %v, %v; Rules = %v; want nothing", results, err, e.Rules())
	}
}
