package cli

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/run"
)

const workflowManifest = `version: 1
defaults: {max_parallel: 2, timeout: 5m, expected_duration: 2s, deploy: {workflow: deploy.yml}}
environments: [{name: dev}]
services:
  api: {paths: ["api/**"]}
  web: {paths: ["web/**"], depends_on: [api]}
`

// repoWithGitHub writes a manifest into a directory and starts an in-memory
// GitHub with its deploy workflow; env is what a workflow step would see.
func repoWithGitHub(t *testing.T, yaml string, opts githubtest.Options) (dir string, srv *githubtest.Server, env map[string]string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "promotion.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	srv = githubtest.New(opts)
	t.Cleanup(srv.Close)
	srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) githubtest.RunScript {
			return githubtest.RunScript{Duration: time.Second, Conclusion: "success"}
		},
	})
	env = map[string]string{
		"GITHUB_API_URL":    srv.URL(),
		"GITHUB_REPOSITORY": "acme/app",
		"GITHUB_TOKEN":      "ghs_test",
		"GITHUB_SHA":        srv.SHA("main"),
		"GITHUB_REF_NAME":   "main",
	}
	return dir, srv, env
}

// TestRunInActions promotes through the in-memory GitHub the way
// actions/promote does, and checks the outputs, the summary and the status
// file.
func TestRunInActions(t *testing.T) {
	t.Parallel()
	dir, srv, env := repoWithGitHub(t, workflowManifest, githubtest.Options{})
	env["INPUT_MANIFEST"] = filepath.Join(dir, "promotion.yaml")
	runner := actionstest.NewRunner(t, env)
	r := promote(t, runner.Getenv, "run")
	if r.code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	out := runner.Outputs(t)
	if out["result"] != "success" || out["succeeded"] != `["api@dev","web@dev"]` || out["failed"] != "[]" || out["skipped"] != "[]" {
		t.Errorf("outputs %v", out)
	}
	data, err := os.ReadFile(out["status_file"])
	if err != nil {
		t.Fatal(err)
	}
	var st run.Status
	if err := json.Unmarshal(data, &st); err != nil || st.Result != "success" || len(st.Nodes) != 2 || st.Nodes[0].APICalls == 0 {
		t.Errorf("status file %s (%v)", data, err)
	}
	if summary := runner.Summary(t); !strings.Contains(summary, "## Promotion success") || !strings.Contains(summary, "| `web@dev` | ✅ succeeded |") {
		t.Errorf("summary:\n%s", summary)
	}
	if n := len(srv.Deployments()); n != 2 {
		t.Errorf("%d deployments, want 2", n)
	}
	if !strings.Contains(r.stdout, "✔ web@dev succeeded") {
		t.Errorf("stdout lacks the progress:\n%s", r.stdout)
	}
}

// TestRunBadInput checks that what a user must fix is a clear error with
// exit code 2, before anything is left behind on GitHub.
func TestRunBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		yaml   string
		opts   githubtest.Options
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{what: "missing workflow", yaml: strings.Replace(workflowManifest, "deploy.yml", "ship.yml", 1),
			code: ExitBadInput, stderr: `deploy workflow "ship.yml" of api is not in acme/app`},
		{what: "unknown repository", env: map[string]string{"GITHUB_REPOSITORY": "acme/nope"},
			code: ExitBadInput, stderr: "acme/nope does not exist or the token cannot see it"},
		{what: "bad token", opts: githubtest.Options{Tokens: map[string]string{"other": "bot"}},
			code: ExitBadInput, stderr: "Bad credentials"},
		{what: "token without write permission", opts: githubtest.Options{ReadOnlyTokens: []string{"ghs_test"}},
			code: ExitBadInput, stderr: "promotion stopped: api@dev"},
		{what: "no token", env: map[string]string{"GITHUB_TOKEN": ""},
			code: ExitBadInput, stderr: "GITHUB_TOKEN"},
		{what: "bad soak", args: []string{"--soak", "soon"}, code: ExitBadInput, stderr: `--soak: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			yaml := tt.yaml
			if yaml == "" {
				yaml = workflowManifest
			}
			dir, srv, env := repoWithGitHub(t, yaml, tt.opts)
			for k, v := range tt.env {
				env[k] = v
			}
			args := append([]string{"run", "--manifest", filepath.Join(dir, "promotion.yaml"), "--status-file", filepath.Join(dir, "status.json")}, tt.args...)
			r := promote(t, func(k string) string { return env[k] }, args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.stderr)
			}
			if strings.Contains(r.stderr+r.stdout, "ghs_test") {
				t.Error("the token was printed")
			}
			for _, d := range srv.Deployments() {
				if s := d.Statuses; len(s) == 0 || (s[len(s)-1].State != "error" && s[len(s)-1].State != "failure") {
					t.Errorf("deployment %d left without a terminal status: %+v", d.ID, s)
				}
			}
			if n := len(srv.Runs()); n != 0 {
				t.Errorf("%d workflow runs started, want none", n)
			}
		})
	}
}

func TestRunPlanFromOtherManifest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	if r := promote(t, nil, "plan", "--manifest", example, "--plan-file", planFile); r.code != ExitOK {
		t.Fatalf("plan: %s", r.stderr)
	}
	r := promote(t, nil, "run", "--plan", planFile, "--manifest", "../../examples/broken/cycle.yaml", "--dry-run")
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "was planned from another manifest") {
		t.Errorf("exit %d, stderr %q; want 2 and the mismatch", r.code, r.stderr)
	}
}

// exampleCopy copies the example repository, without the evidence and keys
// earlier demos left in it, into a directory of its own (no git checkout,
// as a source archive has none) and returns its manifest.
func exampleCopy(t *testing.T) string {
	t.Helper()
	src, dst := filepath.Dir(example), t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".promote" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, "promotion.yaml")
}

// TestRunCommandsAndDryRun runs the example repository's plan as make demo
// does, with its deploy scripts, and as a dry run.
func TestRunCommandsAndDryRun(t *testing.T) {
	t.Parallel()
	manifest := exampleCopy(t)
	status := filepath.Join(t.TempDir(), "status.json")
	env := map[string]string{"PROMOTE_DEMO_DELAY": "0", "PATH": os.Getenv("PATH"), "PROMOTE_COMMIT": "0123456789abcdef0123456789abcdef01234567"}
	r := promote(t, func(k string) string { return env[k] }, "run", "--manifest", manifest, "--soak", "0s", "--status-file", status, "--heartbeat", "0")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"service-a@dev │ deploying service-a", "✔ service-b@production succeeded", "Result: success — 8 succeeded", "Sealed 8 evidence records"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = promote(t, nil, "run", "--manifest", manifest, "--dry-run", "--status-file", status, "--heartbeat", "0", "--to", "dev")
	if r.code != ExitOK || !strings.Contains(r.stdout, `service-c@dev │ would run "./services/service-c/deploy.sh"`) {
		t.Errorf("dry run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestRunSealsGateDecisions promotes into an environment with a required
// reviewer and checks the evidence: the production node's promotion record
// names its approver, and a gate record holds the decision; the chain
// verifies.
func TestRunSealsGateDecisions(t *testing.T) {
	t.Parallel()
	manifest := `version: 1
defaults: {max_parallel: 2, timeout: 5m, expected_duration: 2s, deploy: {workflow: deploy.yml}}
environments: [{name: dev}, {name: production, protected: true}]
services:
  api: {paths: ["api/**"]}
evidence: {store: file://evidence}
`
	dir, srv, env := repoWithGitHub(t, manifest, githubtest.Options{})
	srv.AddEnvironment("production", githubtest.Protection{Reviewers: []string{"alice"}})
	srv.SetApprover(func(int64, string) (time.Duration, bool) { return 0, true })
	getenv := func(k string) string { return env[k] }
	r := promote(t, getenv, "run", "--manifest", filepath.Join(dir, "promotion.yaml"), "--heartbeat", "0", "--status-file", filepath.Join(dir, "status.json"))
	if r.code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "Sealed 3 evidence records") {
		t.Fatalf("stdout lacks 3 sealed records (2 promotions, 1 gate):\n%s", r.stdout)
	}
	type predicate struct {
		Kind      string   `json:"kind"`
		Node      string   `json:"node"`
		Outcome   string   `json:"outcome"`
		Approvers []string `json:"approvers"`
	}
	var got []predicate
	for seq := 1; seq <= 3; seq++ {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("evidence/records/%020d.dsse.json", seq)))
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Payload []byte }
		var st struct{ Predicate predicate }
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			t.Fatal(err)
		}
		got = append(got, st.Predicate)
	}
	want := []predicate{
		{Kind: "promotion", Node: "api@dev", Outcome: "succeeded", Approvers: []string{}},
		{Kind: "promotion", Node: "api@production", Outcome: "succeeded", Approvers: []string{"alice"}},
		{Kind: "gate", Node: "api@production", Outcome: "approved", Approvers: []string{"alice"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sealed predicates (-want +got):\n%s", diff)
	}
	// The directory is no git checkout: the commit's time comes from
	// GitHub's commits API, and the promotion records carry it.
	if times := commitTimes(t, dir, 3); times[0] == "" || times[1] != times[0] || times[2] != "" {
		t.Errorf("commit_time of the records = %q; want GitHub's committer date on both promotions, none on the gate", times)
	}
	if v := promote(t, getenv, "evidence", "verify", "--manifest", filepath.Join(dir, "promotion.yaml")); v.code != ExitOK {
		t.Errorf("evidence verify exited %d:\n%s%s", v.code, v.stdout, v.stderr)
	}
}

// commitTimes returns the commit_time of the first n records in dir's
// evidence/.
func commitTimes(t *testing.T, dir string, n int) []string {
	t.Helper()
	var out []string
	for seq := 1; seq <= n; seq++ {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("evidence/records/%020d.dsse.json", seq)))
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Payload []byte }
		var st struct {
			Predicate struct {
				CommitTime string `json:"commit_time"`
			}
		}
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			t.Fatal(err)
		}
		out = append(out, st.Predicate.CommitTime)
	}
	return out
}
