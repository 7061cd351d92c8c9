package policy

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"github.com/promote-dev/promote/policies"
)

var update = flag.Bool("update", false, "rewrite the shipped Rego files as opa fmt lays them out")

// shippedRoots are the policy roots shipped in policies.FS: mesh/ for
// promote mesh check, gates/ for promote gate check.
var shippedRoots = []string{"mesh", "gates"}

// TestShippedPolicies runs the OPA tests of the shipped policies, so that
// `go test` (and `make test`) fails when one of them does.
func TestShippedPolicies(t *testing.T) {
	t.Parallel()
	for _, root := range shippedRoots {
		results, err := Test(context.Background(), policies.FS, root, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) == 0 {
			t.Fatalf("Test(policies.FS) found no Rego tests in %s/", root)
		}
		for _, r := range results {
			if !r.Passed() {
				t.Errorf("%s", r)
				if r.Output != "" {
					t.Logf("%s printed:\n%s", r.Name, r.Output)
				}
			}
		}
		t.Logf("%s: %d Rego tests", root, len(results))
	}
}

// TestShippedPoliciesStrict compiles the shipped policies and their tests in
// OPA's strict mode (no unused variables or imports, no deprecated
// built-ins), which user policies are not held to.
func TestShippedPoliciesStrict(t *testing.T) {
	t.Parallel()
	for _, root := range shippedRoots {
		srcs, err := read(policies.FS, root, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		modules, err := parse(srcs)
		if err != nil {
			t.Fatal(err)
		}
		c := newCompiler(false).WithStrict(true)
		if c.Compile(modules); c.Failed() {
			t.Fatal(&CompileError{Problems: problems(c.Errors)})
		}
	}
}

// TestShippedPoliciesFormatted checks that the shipped Rego is laid out as
// `opa fmt` lays it out. Run go test ./internal/policy -update to rewrite
// the files in place.
func TestShippedPoliciesFormatted(t *testing.T) {
	t.Parallel()
	var files []string
	for _, root := range shippedRoots {
		matches, err := fs.Glob(policies.FS, root+"/*.rego")
		if err != nil || len(matches) == 0 {
			t.Fatalf("no Rego files in policies.FS/%s: %v", root, err)
		}
		files = append(files, matches...)
	}
	for _, name := range files {
		src, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatalf("formatting %s: %v", name, err)
		}
		if string(got) == string(src) {
			continue
		}
		if *update {
			if err := os.WriteFile(filepath.Join("../../policies", name), got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("policies/%s is not formatted as opa fmt would (run go test ./internal/policy -update):\n%s",
			name, cmp.Diff(string(src), string(got)))
	}
}

// TestDocumentedExample checks the example policy of docs/policies.md: it
// loads beside the shipped ones, its tests pass, and the documentation shows
// it as it is in testdata/example.
func TestDocumentedExample(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join("testdata", "example")
	if _, err := Load(ctx, policies.FS, "mesh", []string{dir}); err != nil {
		t.Fatal(err)
	}
	results, err := Test(ctx, policies.FS, "mesh", []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, r := range results {
		if !strings.HasPrefix(r.File, dir) {
			continue
		}
		ran++
		if !r.Passed() {
			t.Errorf("%s", r)
		}
	}
	if ran != 2 {
		t.Errorf("ran %d tests of %s, want 2", ran, dir)
	}

	doc, err := os.ReadFile("../../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plaintext.rego", "plaintext_test.rego"} {
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```rego\n"+string(src)+"```\n") {
			t.Errorf("docs/policies.md does not show %s as it is; copy it into the documentation", filepath.Join(dir, name))
		}
		formatted, err := format.SourceWithOpts(name, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil || string(formatted) != string(src) {
			t.Errorf("%s is not formatted as opa fmt would: %v\n%s", name, err, cmp.Diff(string(src), string(formatted)))
		}
	}
}

// TestShippedIndexes checks that OPA indexes the comprehensions that group
// resources by a key, which keeps evaluation linear in the number of
// resources (see BenchmarkEval). A comprehension that selects by anything
// but equality with the key silently makes its index quadratic.
func TestShippedIndexes(t *testing.T) {
	t.Parallel()
	srcs, err := read(policies.FS, "mesh", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	modules, err := parse(srcs)
	if err != nil {
		t.Fatal(err)
	}
	c := newCompiler(false)
	if c.Compile(modules); c.Failed() {
		t.Fatal(c.Errors)
	}
	indexed := map[string]bool{
		"data.promote.mesh.istio.resources_by_kind":                   false,
		"data.promote.mesh.istio.workloads_by_namespace":              false,
		"data.promote.mesh.istio.authorization_policies_by_namespace": false,
		"data.promote.mesh.metrics.deny_policies_by_namespace":        false,
		"data.promote.mesh.sandbox.sandbox_services":                  false,
	}
	for _, m := range c.Modules {
		for _, r := range m.Rules {
			// Once compiled, a rule's ref is its full path.
			name := r.Ref().String()
			if _, ok := indexed[name]; !ok {
				continue
			}
			ast.WalkTerms(r, func(term *ast.Term) bool {
				switch term.Value.(type) {
				case *ast.ArrayComprehension, *ast.SetComprehension:
					if c.ComprehensionIndex(term) != nil {
						indexed[name] = true
					}
				}
				return false
			})
		}
	}
	for rule, ok := range indexed {
		if !ok {
			t.Errorf("%s: OPA does not index its inner comprehension; select by equality with the outer key", rule)
		}
	}
}
