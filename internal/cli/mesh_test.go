package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/evidence"
)

const brokenMesh = "../../examples/broken/mesh/"

func TestMeshCheckExitCodes(t *testing.T) {
	t.Parallel()
	policyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(policyDir, "bad.rego"), []byte("package promote.mesh.bad\n\nfindings contains f if {\n\tf := \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{what: "the examples are clean", args: []string{"--manifest", example}, code: ExitOK, stdout: "27 resources in 7 files (16 Istio): no findings"},
		{what: "errors fail", args: []string{brokenMesh + "schema-unknown-field.yaml"}, code: ExitFindings,
			stdout: `schema-unknown-field.yaml:14:7: error: spec.rules[0].form: unknown field "form"; did you mean "from"?`},
		{what: "fail-on never", args: []string{"--fail-on", "never", brokenMesh + "schema-unknown-field.yaml"}, code: ExitOK, stdout: "2 errors"},
		{what: "warnings pass by default", args: []string{brokenMesh + "istio-warning.yaml"}, code: ExitOK, stdout: "1 warning"},
		{what: "fail-on warning", args: []string{"--fail-on", "warning", brokenMesh + "istio-warning.yaml"}, code: ExitFindings},
		{what: "flags after paths", args: []string{brokenMesh + "istio-warning.yaml", "--fail-on", "warning"}, code: ExitFindings, stdout: "1 warning"},
		{what: "paths after --", args: []string{"--fail-on", "never", "--", brokenMesh + "istio-warning.yaml", "--fail-on"}, code: ExitBadInput, stderr: `"--fail-on" does not exist`},
		{what: "checks like istioctl validate", args: []string{"--checks", "schema,istio", brokenMesh + "analysis-mtls-conflict.yaml"}, code: ExitOK, stdout: "(schema, istio)"},
		{what: "analysis only", args: []string{"--checks", "analysis", brokenMesh + "analysis-mtls-conflict.yaml"}, code: ExitFindings, stdout: "[analysis.mtls-conflict]"},
		{what: "a directory", args: []string{"--fail-on", "never", brokenMesh}, code: ExitOK, stdout: "in 23 files"},
		{what: "missing path", args: []string{"nope.yaml"}, code: ExitBadInput, stderr: `"nope.yaml" does not exist`},
		{what: "nothing to check", args: []string{"--manifest", "../../examples/broken/cycle.yaml"}, code: ExitBadInput, stderr: "dependency cycle"},
		{what: "bad checks", args: []string{"--checks", "lint", "x.yaml"}, code: ExitBadInput, stderr: `unknown check "lint"`},
		{what: "bad fail-on", args: []string{"--fail-on", "info", "x.yaml"}, code: ExitBadInput, stderr: `--fail-on: unknown value "info"`},
		{what: "bad output", args: []string{"--output", "xml", "x.yaml"}, code: ExitBadInput, stderr: `unknown format "xml"`},
		{what: "missing policy dir", args: []string{"--policy", "no/such/dir", brokenMesh + "istio-warning.yaml"}, code: ExitBadInput, stderr: "no/such/dir"},
		{what: "policy that does not compile", args: []string{"--policy", policyDir, brokenMesh + "istio-warning.yaml"}, code: ExitBadInput, stderr: "bad.rego:5:1: rego_parse_error"},
		{what: "usage", args: nil, code: ExitBadInput, stderr: "usage: promote mesh check"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"mesh"}, tt.args...)
			if tt.args != nil {
				args = append([]string{"mesh", "check"}, tt.args...)
			}
			r := promote(t, nil, args...)
			if r.code != tt.code {
				t.Errorf("promote %v exited %d, want %d\nstdout: %s\nstderr: %s", args, r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("promote %v stdout = %q, want it to contain %q", args, r.stdout, tt.stdout)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("promote %v stderr = %q, want it to contain %q", args, r.stderr, tt.stderr)
			}
		})
	}
}

// TestMeshCheckStdin reads rendered output from a pipe, as helm template |
// promote mesh check - does.
func TestMeshCheckStdin(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(brokenMesh + "schema-enum.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := &Command{Stdin: bytes.NewReader(data), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	code := c.Main(context.Background(), []string{"mesh", "check", "--output", "json", "-"})
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d: %s", code, ExitFindings, stderr.String())
	}
	var rep struct {
		Findings []struct {
			File string `json:"file"`
			Line int    `json:"line"`
			Rule string `json:"rule"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if len(rep.Findings) != 2 || rep.Findings[0].File != "<stdin>" || rep.Findings[0].Line != 9 || rep.Findings[0].Rule != "schema.enum" {
		t.Errorf("findings = %+v, want two schema.enum findings in <stdin>, the first on line 9", rep.Findings)
	}
}

// TestMeshCheckInActions runs the check as actions/mesh-check does: inputs
// from the environment, annotations with workspace-relative files, a job
// summary, outputs and a SARIF file.
func TestMeshCheckInActions(t *testing.T) {
	t.Parallel()
	workspace, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sarif := filepath.Join(t.TempDir(), "mesh.sarif")
	runner := actionstest.NewRunner(t, map[string]string{
		"INPUT_PATHS":      filepath.Join(workspace, "examples/broken/mesh/analysis-mtls-conflict.yaml") + "\n" + filepath.Join(workspace, "examples/broken/mesh/istio-warning.yaml"),
		"INPUT_CHECKS":     "all",
		"INPUT_FAIL_ON":    "error",
		"INPUT_SARIF_FILE": sarif,
		"INPUT_MANIFEST":   "promotion.yaml",
	})
	runner.Env["GITHUB_WORKSPACE"] = workspace
	r := promote(t, runner.Getenv, "mesh", "check")
	if r.code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitFindings, r.stderr)
	}
	want := "::error col=13,file=examples/broken/mesh/analysis-mtls-conflict.yaml,line=21,title=analysis.mtls-conflict::tls.mode DISABLE"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stdout, "::warning col=3,file=examples/broken/mesh/istio-warning.yaml,line=8,title=istio.warning::") {
		t.Errorf("stdout lacks the warning annotation:\n%s", r.stdout)
	}
	outputs := runner.Outputs(t)
	if outputs["errors"] != "3" || outputs["warnings"] != "1" || outputs["sarif_file"] != sarif {
		t.Errorf("outputs = %v, want errors 3, warnings 1, sarif_file %s", outputs, sarif)
	}
	summary := runner.Summary(t)
	for _, want := range []string{"payments", "analysis.mtls-conflict"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	data, err := os.ReadFile(sarif)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"uri": "examples/broken/mesh/analysis-mtls-conflict.yaml"`) {
		t.Errorf("SARIF lacks the relative URI:\n%s", data)
	}
}

// TestMeshCheckEvidence seals a check as evidence: one record per service,
// failed only for the service whose files have errors, covering the JSON
// report stored beside the records; the chain verifies.
// meshEvidenceRepo copies the examples into a temporary repository, with a
// schema error in service-b's mesh directory, and returns the directory,
// its manifest and the environment of a workflow run.
func meshEvidenceRepo(t *testing.T) (string, string, func(string) string) {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"services", "platform"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join("../../examples", sub))); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	manifestFile := filepath.Join(dir, "promotion.yaml")
	if err := os.WriteFile(manifestFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	broken, err := os.ReadFile(brokenMesh + "schema-enum.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "services/service-b/mesh/broken.yaml"), broken, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_ACTOR": "octocat"}
	getenv := func(k string) string { return env[k] }

	return dir, manifestFile, getenv
}

func TestMeshCheckEvidence(t *testing.T) {
	t.Parallel()
	dir, manifestFile, getenv := meshEvidenceRepo(t)

	r := promote(t, getenv, "mesh", "check", "--manifest", manifestFile, "--evidence", "staging", "--output", "json")
	if r.code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitFindings, r.stderr)
	}
	if !strings.Contains(r.stderr, "Sealed 3 mesh-check records") {
		t.Errorf("stderr = %q, want 3 records sealed", r.stderr)
	}
	sum := sha256.Sum256([]byte(r.stdout))
	digest := hex.EncodeToString(sum[:])
	stored, err := os.ReadFile(filepath.Join(dir, ".promote/evidence/reports", digest+".json"))
	if err != nil || string(stored) != r.stdout {
		t.Errorf("the stored report differs from the printed one (%v)", err)
	}
	outcomes := map[string]string{}
	meshes := map[string]*evidence.MeshSummary{}
	for seq := 1; seq <= 3; seq++ {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf(".promote/evidence/records/%020d.dsse.json", seq)))
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Payload []byte `json:"payload"`
		}
		var st struct {
			PredicateType string `json:"predicateType"`
			Subject       []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
			Predicate struct {
				Service, Node, Outcome string
				MeshReport             string                `json:"mesh_report_sha256"`
				Mesh                   *evidence.MeshSummary `json:"mesh"`
			} `json:"predicate"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			t.Fatal(err)
		}
		if st.PredicateType != "https://promote.dev/evidence/mesh-check/v2" || st.Predicate.MeshReport != digest {
			t.Errorf("record %d: predicate type %s, report %s; want mesh-check and %s", seq, st.PredicateType, st.Predicate.MeshReport, digest)
		}
		outcomes[st.Predicate.Node] = st.Predicate.Outcome
		meshes[st.Predicate.Service] = st.Predicate.Mesh
	}
	want := map[string]string{"service-a@staging": "passed", "service-b@staging": "failed", "service-c@staging": "passed"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	// The records summarise the report per service: service-b's broken
	// file gives its two schema.enum errors; every namespace is STRICT.
	wantB := &evidence.MeshSummary{
		Findings: []evidence.MeshFindingCount{{Rule: "schema.enum", Severity: "error", Count: 2}},
		MTLS:     []evidence.MeshMTLS{{Namespace: "payments", Mode: "STRICT"}, {Namespace: "service-b", Mode: "STRICT"}},
		Policies: []string{"payments/deny-debug", "service-b/allow-nothing", "service-b/service-b-allow-service-c", "service-b/service-b-metrics"},
	}
	if diff := cmp.Diff(wantB, meshes["service-b"]); diff != "" {
		t.Errorf("service-b mesh summary (-want +got):\n%s", diff)
	}
	if m := meshes["service-a"]; m == nil || len(m.Findings) != 0 || len(m.MTLS) != 1 || m.MTLS[0].Mode != "STRICT" {
		t.Errorf("service-a mesh summary = %+v, want no findings and one STRICT namespace", m)
	}
	if v := promote(t, getenv, "evidence", "verify", "--manifest", manifestFile); v.code != ExitOK {
		t.Errorf("evidence verify exited %d:\n%s%s", v.code, v.stdout, v.stderr)
	}

	// Bad input: an unknown environment, and no evidence section.
	if r := promote(t, getenv, "mesh", "check", "--manifest", manifestFile, "--evidence", "prod"); r.code != ExitBadInput || !strings.Contains(r.stderr, `unknown environment "prod"`) {
		t.Errorf("--evidence prod: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := promote(t, getenv, "mesh", "check", "--evidence", "staging", brokenMesh+"istio-warning.yaml"); r.code != ExitBadInput || !strings.Contains(r.stderr, "evidence section") {
		t.Errorf("--evidence without a manifest: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestMeshCheckEvidenceSpooled checks while the evidence store is
// unusable: the records and the report they cover are signed into the
// spool, and flush stores both once the store is back.
func TestMeshCheckEvidenceSpooled(t *testing.T) {
	t.Parallel()
	dir, manifestFile, getenv := meshEvidenceRepo(t)
	store := filepath.Join(dir, ".promote/evidence")
	if err := os.MkdirAll(filepath.Dir(store), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := promote(t, getenv, "mesh", "check", "--manifest", manifestFile, "--evidence", "staging", "--output", "json")
	if r.code != ExitFindings || !strings.Contains(r.stderr, "3 records are signed and spooled") {
		t.Fatalf("exit %d, want %d and 3 records spooled\n%s", r.code, ExitFindings, r.stderr)
	}
	if err := os.Remove(store); err != nil {
		t.Fatal(err)
	}
	if f := promote(t, getenv, "evidence", "flush", "--manifest", manifestFile); f.code != ExitOK || !strings.Contains(f.stdout, "Appended 3 spooled evidence records") {
		t.Fatalf("flush: exit %d\n%s%s", f.code, f.stdout, f.stderr)
	}
	sum := sha256.Sum256([]byte(r.stdout))
	stored, err := os.ReadFile(filepath.Join(store, "reports", hex.EncodeToString(sum[:])+".json"))
	if err != nil || string(stored) != r.stdout {
		t.Errorf("the flushed report differs from the printed one (%v)", err)
	}
	if v := promote(t, getenv, "evidence", "verify", "--manifest", manifestFile); v.code != ExitOK {
		t.Errorf("evidence verify exited %d:\n%s%s", v.code, v.stdout, v.stderr)
	}
}

// TestMeshTestPolicies runs the policy and test that docs/policies.md shows
// under "Writing your own", then a failing test and a file that does not
// compile.
func TestMeshTestPolicies(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Writing your own")
	var blocks []string
	for _, part := range strings.Split(section, "```rego\n")[1:] {
		code, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, code)
	}
	if len(blocks) < 2 {
		t.Fatalf("docs/policies.md shows %d Rego blocks under Writing your own, want the policy and its test", len(blocks))
	}
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plaintext.rego", blocks[0])
	write("plaintext_test.rego", blocks[1])
	if r := promote(t, nil, "mesh", "test-policies", dir); r.code != ExitOK || r.stdout != "2 passed, 0 failed, 0 skipped\n" {
		t.Fatalf("the documented policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, nil, "mesh", "test-policies", "-v", dir); r.code != ExitOK || !strings.Contains(r.stdout, "plaintext_test.rego:") || strings.Contains(r.stdout, "promote:mesh/") {
		t.Errorf("-v lists the passing tests of DIR only: exit %d\n%s", r.code, r.stdout)
	}

	write("more_test.rego", `package promote.mesh.plaintext_test

import data.promote.mesh.plaintext

test_wrong if {
	print("looking at", count(plaintext.findings))
	count(plaintext.findings) == 1 with input as {"resources": []}
}
`)
	r := promote(t, nil, "mesh", "test-policies", dir)
	want := filepath.Join(dir, "more_test.rego") + ":5: promote.mesh.plaintext_test.test_wrong: FAIL\n"
	if r.code != ExitFindings || !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, "\tlooking at 0") || !strings.HasSuffix(r.stdout, "2 passed, 1 failed, 0 skipped\n") {
		t.Errorf("a failing test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	write("broken.rego", "package promote.mesh.broken\n\nfindings contains f if {\n\tf := undefined_thing\n}\n")
	r = promote(t, nil, "mesh", "test-policies", dir)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, filepath.Join(dir, "broken.rego")+":4:") {
		t.Errorf("a file that does not compile: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, nil, "mesh", "test-policies"); r.code != ExitOK || !strings.HasSuffix(r.stdout, " passed, 0 failed, 0 skipped\n") {
		t.Errorf("the shipped tests: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
