package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
)

const gateManifest = `version: 1
defaults: {max_parallel: 2, timeout: 5m, expected_duration: 2s, deploy: {workflow: deploy.yml}}
environments: [{name: dev}, {name: production, protected: true}]
services:
  api: {paths: ["api/**"]}
evidence: {store: file://evidence}
`

// TestGateCheck promotes api to dev, then asks the gate about production:
// it allows, seals the decision, and the replay agrees; another commit is
// denied; the review of a waiting run needs a reviewer's token.
func TestGateCheck(t *testing.T) {
	t.Parallel()
	dir, srv, env := repoWithGitHub(t, gateManifest, githubtest.Options{
		Tokens: map[string]string{"ghs_test": "github-actions[bot]", "alice-pat": "alice"},
	})
	srv.AddEnvironment("production", githubtest.Protection{Reviewers: []string{"alice"}})
	getenv := func(k string) string { return env[k] }
	manifest := filepath.Join(dir, "promotion.yaml")
	if r := promote(t, getenv, "run", "--manifest", manifest, "--to", "dev", "--heartbeat", "0", "--status-file", filepath.Join(dir, "status.json")); r.code != ExitOK {
		t.Fatalf("promote run --to dev: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	check := []string{"gate", "check", "--manifest", manifest, "--service", "api", "--environment", "production"}
	r := promote(t, getenv, check...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "promote gate: ALLOW api@production") ||
		!strings.Contains(r.stdout, "allow previous-succeeded:") || !strings.Contains(r.stdout, "Sealed the decision as a gate record (approved)") {
		t.Fatalf("gate check after dev: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, getenv, "gate", "replay", "--manifest", manifest); r.code != ExitOK || !strings.HasSuffix(r.stdout, "1 decisions replayed, 0 differ\n") {
		t.Errorf("gate replay: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	strict := t.TempDir()
	if err := os.WriteFile(filepath.Join(strict, "never.rego"), []byte("package promote.gates.never\n\nfindings contains {\"rule\": \"never\", \"severity\": \"error\", \"resource\": \"target\", \"message\": \"never\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := promote(t, getenv, "gate", "replay", "--manifest", manifest, "--policy", strict); r.code != ExitFindings || !strings.Contains(r.stdout, "sealed allow, replayed deny: DIFFERS") {
		t.Errorf("gate replay under a stricter policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	js := promote(t, getenv, append(check, "--output", "json", "--seal=false")...)
	var out struct {
		Result  string `json:"result"`
		Sealed  bool   `json:"sealed"`
		Reasons []struct{ Policy, Result string }
		Input   struct {
			Target struct{ Commit string }
		}
	}
	if err := json.Unmarshal([]byte(js.stdout), &out); err != nil || js.code != ExitOK || out.Result != "allow" || out.Sealed ||
		len(out.Reasons) != 6 || out.Input.Target.Commit != env["GITHUB_SHA"] {
		t.Errorf("gate check --output json --seal=false: exit %d, %v\n%s%s", js.code, err, js.stdout, js.stderr)
	}

	other := append(check, "--commit", strings.Repeat("ab", 20))
	if r := promote(t, getenv, other...); r.code != ExitFindings || !strings.Contains(r.stdout, "deny  previous-succeeded: api has not succeeded in dev") ||
		!strings.Contains(r.stderr, "the gate denies api@production at abababababab") {
		t.Errorf("gate check of a commit dev never saw: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, getenv, append(check, "--service", "nope")...); r.code != ExitBadInput || !strings.Contains(r.stderr, `unknown service "nope"; the manifest's services are api`) {
		t.Errorf("an unknown service: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A run of the deploy workflow waits on production.
	client, err := github.New(context.Background(), github.Config{APIURL: srv.URL(), Token: "alice-pat", Owner: "acme", Repo: "app", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	run, err := client.Dispatch(context.Background(), "deploy.yml", "main", map[string]any{"service": "api", "environment": "production", "ref": env["GITHUB_SHA"], "deployment_id": "1"})
	if err != nil {
		t.Fatal(err)
	}
	review := append(check, "--review-run", strconv.FormatInt(run.RunID, 10), "--seal=false")
	if r := promote(t, getenv, review...); r.code != ExitBadInput || !strings.Contains(r.stderr, "GITHUB_TOKEN never may") {
		t.Errorf("--review-run with GITHUB_TOKEN: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	env["GITHUB_TOKEN"] = "alice-pat"
	if r := promote(t, getenv, review...); r.code != ExitOK || !strings.Contains(r.stdout, "Reviewed run "+strconv.FormatInt(run.RunID, 10)+": approved its deployment to production.") {
		t.Errorf("--review-run with a reviewer's token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	approvals, err := client.Approvals(context.Background(), run.RunID)
	if err != nil || len(approvals) != 1 || approvals[0].State != "approved" || !strings.HasPrefix(approvals[0].Comment, "promote gate: allow") {
		t.Errorf("review history = %+v, %v; want alice's approval with the gate's comment", approvals, err)
	}
}

// TestGateCheckInActions runs the gate as actions/gate does: inputs,
// outputs and the job summary.
func TestGateCheckInActions(t *testing.T) {
	t.Parallel()
	dir, _, env := repoWithGitHub(t, gateManifest, githubtest.Options{})
	env["INPUT_MANIFEST"] = filepath.Join(dir, "promotion.yaml")
	env["INPUT_SERVICE"], env["INPUT_ENVIRONMENT"] = "api", "production"
	runner := actionstest.NewRunner(t, env)
	r := promote(t, runner.Getenv, "gate", "check")
	if r.code != ExitFindings {
		t.Fatalf("exit %d, want 1: dev never ran\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := runner.Outputs(t); out["result"] != "deny" || out["retry_at"] != "" {
		t.Errorf("outputs %v, want result deny and no retry_at", out)
	}
	summary := runner.Summary(t)
	for _, want := range []string{"## Gate ⛔ deny: `api@production`", "| ⛔ deny | `previous-succeeded` | api has not succeeded in dev", "Sealed in the evidence chain as a gate record (rejected)"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
}

func TestGateTestPolicies(t *testing.T) {
	t.Parallel()
	if r := promote(t, nil, "gate", "test-policies"); r.code != ExitOK || !strings.HasSuffix(r.stdout, " passed, 0 failed, 0 skipped\n") {
		t.Errorf("gate test-policies: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, nil, "gate"); r.code != ExitBadInput || !strings.Contains(r.stderr, "usage: promote gate check") {
		t.Errorf("gate without a command: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestGateS3 decides with the evidence in an Object-Lock bucket on
// versitygw: the previous environment's success comes from the chain
// alone (no GitHub), the decision and its input are sealed in the bucket,
// and the replay reads the input back from it.
func TestGateS3(t *testing.T) {
	t.Parallel()
	_, _, manifest, getenv := s3EvidenceRepo(t)
	dir := filepath.Dir(manifest)
	if r := promote(t, getenv, "run", "--manifest", manifest, "--to", "dev", "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0"); r.code != ExitOK {
		t.Fatalf("run --to dev: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r := promote(t, getenv, "gate", "check", "--manifest", manifest, "--service", "web", "--environment", "prod")
	if r.code != ExitOK || !strings.Contains(r.stdout, "promote gate: ALLOW web@prod") || !strings.Contains(r.stdout, "Sealed the decision as a gate record (approved)") {
		t.Fatalf("gate check: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, getenv, "gate", "replay", "--manifest", manifest); r.code != ExitOK || !strings.HasSuffix(r.stdout, "1 decisions replayed, 0 differ\n") {
		t.Errorf("gate replay: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := promote(t, getenv, "evidence", "verify", "--manifest", manifest); r.code != ExitOK {
		t.Errorf("evidence verify after the gate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
