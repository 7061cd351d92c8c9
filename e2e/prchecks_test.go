package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/git/gittest"
)

// brokenAuthz is an AuthorizationPolicy Istio refuses: CUSTOM needs a
// provider. Line 11, column 11 is its action's value.
const brokenAuthz = `# Sends service-b's API calls to an external authorizer first.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: service-b
spec:
  selector:
    matchLabels:
      app: service-b
  action: CUSTOM
  rules:
    - to:
        - operation:
            paths: ["/api/*"]
`

// TestPullRequestBrokenMesh runs pr-checks.yml for a pull request that adds
// a broken Istio policy to service-b: the manifest job passes and previews
// the promotion of service-b and its dependent service-c; the mesh job
// fails with an error annotation at the policy's file, line and column, and
// uploads the SARIF file, whose alert points at the same place.
//
// Unlike the promotion scenarios, the jobs here build promote from source,
// as actions/setup does on a runner whose cache misses and that has no
// release binary: the other path of install.sh.
func TestPullRequestBrokenMesh(t *testing.T) {
	t.Parallel()
	actBinary(t)
	// The build fills Go's build cache, so the jobs' own builds of the same
	// source link from it instead of compiling everything twice at once.
	prebuiltPromote(t)

	sarifDir := t.TempDir()
	r := pullRequest(t, func(repo string) {
		gittest.Write(t, repo, "services/service-b/mesh/ext-authz.yaml", brokenAuthz)
	}, "--env", "PROMOTE_INSTALL=source", "--env", "STANDIN_SARIF_DIR="+sarifDir)
	r.requireJobs(t, map[string]string{"manifest": "succeeded", "mesh": "failed"})

	// The plan preview: service-b changed, service-c depends on it.
	if got := r.output(t, "manifest", "services"); got != `["service-b","service-c"]` {
		t.Errorf("manifest job: services = %s, want service-b and its dependent service-c", got)
	}
	if log := r.jobLog("manifest"); !strings.Contains(log, "Summary - ## Promotion plan") || !strings.Contains(log, "```mermaid") {
		t.Errorf("manifest job: no plan preview in the job summary:\n%s", log)
	}
	if log := r.jobLog("manifest"); !strings.Contains(log, "building promote from source") {
		t.Errorf("manifest job: promote was not built from source:\n%s", log)
	}

	want := []annotation{{
		level:   "error",
		props:   map[string]string{"file": "services/service-b/mesh/ext-authz.yaml", "line": "11", "col": "11", "title": "istio.invalid"},
		message: "invalid policy ext-authz.service-b: `provider.name` must not be empty",
	}}
	if got := r.annotations("mesh"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mesh job: annotations %+v, want %+v", got, want)
	}
	if got := r.annotations("manifest"); len(got) != 0 {
		t.Errorf("manifest job: annotations %+v, want none", got)
	}
	if log := r.jobLog("mesh"); !strings.Contains(log, "Mesh check: 1 error") || !strings.Contains(log, "ext-authz.yaml") {
		t.Errorf("mesh job: the job summary does not show the error:\n%s", log)
	}
	if got := r.output(t, "mesh", "errors"); got != "1" {
		t.Errorf("mesh job: errors = %s, want 1", got)
	}

	data, err := os.ReadFile(filepath.Join(sarifDir, "promote-mesh-check.sarif"))
	if err != nil {
		t.Fatalf("the SARIF file was not uploaded: %v", err)
	}
	var sarif struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					Physical struct {
						Artifact struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine   int `json:"startLine"`
							StartColumn int `json:"startColumn"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &sarif); err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, run := range sarif.Runs {
		for _, res := range run.Results {
			for _, l := range res.Locations {
				alerts = append(alerts, fmt.Sprintf("%s %s:%d:%d", res.RuleID, l.Physical.Artifact.URI, l.Physical.Region.StartLine, l.Physical.Region.StartColumn))
			}
		}
	}
	if want := "istio.invalid services/service-b/mesh/ext-authz.yaml:11:11"; len(alerts) != 1 || alerts[0] != want {
		t.Errorf("code scanning alerts = %q, want [%q]", alerts, want)
	}
}

// pullRequest makes the example repository, a branch on it that change
// edits, and runs pr-checks.yml under act for a pull request of that branch
// into main, with flags added.
func pullRequest(t *testing.T, change func(repo string), flags ...string) actResult {
	t.Helper()
	repo := exampleRepo(t, nil)
	base := revParse(t, repo, "HEAD")
	gittest.Run(t, repo, "checkout", "-q", "-b", "change")
	change(repo)
	gittest.Run(t, repo, "add", ".")
	gittest.Run(t, repo, "commit", "-q", "-m", "the pull request's change")
	head := revParse(t, repo, "HEAD")

	event, _ := json.Marshal(map[string]any{
		"number": 7,
		"pull_request": map[string]any{
			"number": 7,
			"base":   map[string]any{"ref": "main", "sha": base},
			"head":   map[string]any{"ref": "change", "sha": head},
		},
	})
	eventFile := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(eventFile, event, 0o644); err != nil {
		t.Fatal(err)
	}
	flags = append([]string{"-e", eventFile, "-s", "GITHUB_TOKEN=" + actionsToken}, flags...)
	return runAct(t, repo, "pr-checks.yml", "pull_request", flags...)
}

// TestPullRequestBrokenManifest runs pr-checks.yml for a pull request that
// misspells a dependency in promotion.yaml: the manifest job fails with an
// error annotation at the misspelling's line and column.
func TestPullRequestBrokenManifest(t *testing.T) {
	t.Parallel()
	actBinary(t)
	bin, hash := prebuiltPromote(t)
	r := pullRequest(t, func(repo string) {
		data, err := os.ReadFile(filepath.Join(repo, "promotion.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		m := replace(t, string(data), "depends_on: [service-a, service-b]", "depends_on: [service-a, servce-b]", 1)
		gittest.Write(t, repo, "promotion.yaml", m)
	}, "--env", "PROMOTE_BIN="+bin, "--env", "PROMOTE_SOURCE_HASH="+hash)
	// The mesh check reads the manifest too (for the services' mesh
	// directories and compliance modes), so it fails on the same error.
	r.requireJobs(t, map[string]string{"manifest": "failed", "mesh": "failed"})
	want := []annotation{{
		level:   "error",
		props:   map[string]string{"file": "promotion.yaml", "line": "48", "col": "29", "title": "Manifest error"},
		message: `service "service-c" depends on unknown service "servce-b"; did you mean "service-b"?`,
	}}
	for _, job := range []string{"manifest", "mesh"} {
		if got := r.annotations(job); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s job: annotations %+v, want %+v", job, got, want)
		}
	}
	if log := r.jobLog("manifest"); !strings.Contains(log, "Summary - ## Manifest errors") || !strings.Contains(log, "`promotion.yaml:48:29`") {
		t.Errorf("manifest job: the job summary does not list the error:\n%s", log)
	}
}

// revParse returns the commit a ref of repo names.
func revParse(t *testing.T, repo, ref string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "rev-parse", ref).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
