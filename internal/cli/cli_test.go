package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/git/gittest"
	"github.com/promote-dev/promote/internal/plan"
)

const example = "../../examples/promotion.yaml"

type result struct {
	code           int
	stdout, stderr string
}

func promote(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var stdout, stderr bytes.Buffer
	c := &Command{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: getenv}
	code := c.Main(context.Background(), args)
	return result{code, stdout.String(), stderr.String()}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{what: "no arguments", args: nil, code: ExitBadInput, stderr: "Usage:"},
		{what: "help", args: []string{"help"}, code: ExitOK, stdout: "Exit codes:"},
		{what: "unknown command", args: []string{"deploy"}, code: ExitBadInput, stderr: `unknown command "deploy"`},
		{what: "plan help", args: []string{"plan", "-h"}, code: ExitOK, stderr: "--changed-since"},
		{what: "unknown flag", args: []string{"plan", "--too", "x"}, code: ExitBadInput, stderr: "flag provided but not defined: -too"},
		{what: "stray argument", args: []string{"plan", "--manifest", example, "production"}, code: ExitBadInput, stderr: `unexpected argument "production"`},
		{what: "missing manifest", args: []string{"plan", "--manifest", "nope.yaml"}, code: ExitBadInput, stderr: `manifest "nope.yaml" not found`},
		{what: "manifest error", args: []string{"plan", "--manifest", "../../examples/broken/cycle.yaml"}, code: ExitBadInput,
			stderr: "cycle.yaml:9:18: dependency cycle: service-a → service-b → service-c → service-a"},
		{what: "unknown environment", args: []string{"plan", "--manifest", example, "--to", "prod"}, code: ExitBadInput, stderr: `--to: unknown environment "prod"`},
		{what: "bad output", args: []string{"plan", "--manifest", example, "--output", "yaml"}, code: ExitBadInput, stderr: `unknown format "yaml"`},
		{what: "dependents of nothing", args: []string{"plan", "--manifest", example, "--with-dependents"}, code: ExitBadInput, stderr: "give one of them"},
		{what: "plan", args: []string{"plan", "--manifest", example}, code: ExitOK, stdout: "  dev:         service-a → service-b → service-c\n"},
		{what: "schema", args: []string{"schema"}, code: ExitOK, stdout: `"$schema"`},
		{what: "version", args: []string{"version"}, code: ExitOK, stdout: "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			r := promote(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("promote %v exited %d, want %d\nstderr: %s", tt.args, r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("promote %v stdout = %q, want it to contain %q", tt.args, r.stdout, tt.stdout)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("promote %v stderr = %q, want it to contain %q", tt.args, r.stderr, tt.stderr)
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "plan.json")
	r := promote(t, nil, "plan", "--manifest", example, "--output", "json", "--to", "staging", "--services", "service-b, service-c", "--plan-file", file)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	p, err := plan.Read([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Services(); !cmp.Equal(got, []string{"service-b", "service-c"}) {
		t.Errorf("services = %v, want service-b and service-c", got)
	}
	if _, err := plan.Load(file); err != nil {
		t.Errorf("plan file: %v", err)
	}
}

func TestManifestErrorsJSON(t *testing.T) {
	t.Parallel()
	r := promote(t, nil, "plan", "--manifest", "../../examples/broken/unknown-dependency.yaml", "--output", "json")
	var out struct {
		Errors []struct {
			File         string
			Line, Column int
			Message      string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if r.code != ExitBadInput || len(out.Errors) != 2 || out.Errors[0].Line != 12 || out.Errors[0].Column != 18 {
		t.Errorf("exit %d, errors %+v; want 2 errors, the first at 12:18", r.code, out.Errors)
	}
}

// TestPlanInActions runs promote plan the way actions/plan does: every flag
// from an INPUT_ variable, outputs and summary to the runner's files.
func TestPlanInActions(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs(example)
	if err != nil {
		t.Fatal(err)
	}
	runner := actionstest.NewRunner(t, map[string]string{
		"INPUT_MANIFEST":  abs,
		"INPUT_TO":        "staging",
		"INPUT_PLAN_FILE": "", // an empty input means the default
		"GITHUB_SHA":      "0123456789abcdef0123456789abcdef01234567",
	})
	r := promote(t, runner.Getenv, "plan")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := runner.Outputs(t)
	p, err := plan.Read([]byte(out["plan"]))
	if err != nil {
		t.Fatalf("output plan: %v", err)
	}
	if p.Selection.To != "staging" || p.Commit != "0123456789abcdef0123456789abcdef01234567" || len(p.Nodes) != 6 {
		t.Errorf("plan = to %q, commit %q, %d nodes; want staging, GITHUB_SHA, 6", p.Selection.To, p.Commit, len(p.Nodes))
	}
	var matrix []plan.Matrix
	if err := json.Unmarshal([]byte(out["matrix"]), &matrix); err != nil || len(matrix) != len(p.Waves) {
		t.Errorf("output matrix = %s (%v), want one matrix per wave", out["matrix"], err)
	}
	if out["services"] != `["service-a","service-b","service-c"]` {
		t.Errorf("output services = %s", out["services"])
	}
	summary := runner.Summary(t)
	for _, want := range []string{"## Promotion plan", "```mermaid", "| Wave | Node |"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

func TestManifestErrorsInActions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken, err := os.ReadFile("../../examples/broken/wrong-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "promotion.yaml"), broken, 0o644); err != nil {
		t.Fatal(err)
	}
	runner := actionstest.NewRunner(t, map[string]string{"INPUT_MANIFEST": filepath.Join(dir, "promotion.yaml")})
	runner.Env["GITHUB_WORKSPACE"] = dir
	r := promote(t, runner.Getenv, "plan")
	if r.code != ExitBadInput {
		t.Fatalf("exit %d, want %d", r.code, ExitBadInput)
	}
	// Annotations name the file relative to the workspace, with line and
	// column, and escape what the runner would otherwise misread.
	want := "::error col=17,file=promotion.yaml,line=5,title=Manifest error::defaults.max_parallel: expected an integer, got the string \"four\"\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}
	if n := strings.Count(r.stdout, "::error "); n != 6 {
		t.Errorf("%d error annotations, want 6:\n%s", n, r.stdout)
	}
	if !strings.Contains(runner.Summary(t), "| `promotion.yaml:19:13` |") {
		t.Errorf("summary lacks the last error:\n%s", runner.Summary(t))
	}
}

func TestChangedSince(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	dir := gittest.Init(t, map[string]string{"promotion.yaml": string(data), "libs/shared/log.go": "package shared"})
	gittest.Write(t, dir, "libs/shared/log.go", "package shared // changed")

	manifest := filepath.Join(dir, "promotion.yaml")
	r := promote(t, nil, "plan", "--manifest", manifest, "--changed-since", "main", "--to", "dev", "--with-dependents", "--output", "json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	p, err := plan.Read([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Services(); !cmp.Equal(got, []string{"service-b", "service-c"}) || p.Selection.ChangedFiles != 1 {
		t.Errorf("services = %v from %d changed files, want service-b and its dependent service-c from 1", got, p.Selection.ChangedFiles)
	}

	r = promote(t, nil, "plan", "--manifest", manifest, "--changed-since", "nope")
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "fetch-depth: 0") {
		t.Errorf("unknown ref: exit %d, stderr %q; want 2 and how to fix it", r.code, r.stderr)
	}
}
