package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/promote-dev/promote/internal/run"
)

// TestRunVerifies promotes two command services whose health checks answer
// on a loopback server: api is healthy, web answers 503, so web@dev fails
// with its check named, web@staging is skipped, and the status file holds
// every check.
func TestRunVerifies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "t0ken" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/web/") {
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	yaml := `version: 1
defaults:
  deploy: {command: "true"}
  verify:
    interval: 1s
    failures: 2
    checks:
      - name: health
        http: {url: "` + srv.URL + `/{service}/{environment}/healthz", status: 200, headers: {X-Token: HEALTH_TOKEN}}
environments: [{name: dev}, {name: staging}]
services:
  api: {paths: ["api/**"]}
  web: {paths: ["web/**"]}
`
	manifest := manifestFile(t, yaml)
	dir := filepath.Dir(manifest)
	status := filepath.Join(dir, "status.json")
	env := map[string]string{"PATH": os.Getenv("PATH"), "PROMOTE_COMMIT": "0123456789abcdef0123456789abcdef01234567", "HEALTH_TOKEN": "t0ken"}
	r := promote(t, func(k string) string { return env[k] }, "run", "--manifest", manifest, "--status-file", status, "--heartbeat", "0")
	if r.code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, ExitFindings, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "🔎 web@dev deployed; verifying: http check \"health\" (1 of 1)") || !strings.Contains(r.stdout, `✖ web@dev failed: verification of web@dev failed: http check "health": 2 of 2 attempts failed`) || strings.Contains(r.stdout+r.stderr, "t0ken") {
		t.Errorf("stdout does not name the failed check, or shows the token:\n%s", r.stdout)
	}
	st := readStatus(t, status)
	dry := promote(t, func(k string) string { return env[k] }, "run", "--manifest", manifest, "--status-file", status, "--heartbeat", "0", "--dry-run")
	if dry.code != ExitOK || !strings.Contains(dry.stdout, `api@dev │ would run "true" with PROMOTE_SERVICE=api`) || !strings.Contains(dry.stdout, `then verify it with http check "health"`) {
		t.Errorf("dry run: exit %d, want 0 and the checks it would run:\n%s\n%s", dry.code, dry.stdout, dry.stderr)
	}
	got := map[string]string{}
	for _, n := range st.Nodes {
		got[n.ID] = string(n.State)
		for _, v := range n.Verification {
			got[n.ID] += " " + v.Name + ":" + v.Outcome + ":" + v.LastValue
		}
	}
	want := map[string]string{
		"api@dev":     "succeeded health:passed:HTTP 200",
		"api@staging": "succeeded health:passed:HTTP 200",
		"web@dev":     "failed health:failed:HTTP 503",
		"web@staging": "skipped",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s = %q, want %q", id, got[id], w)
		}
	}
}

// TestRollback promotes a command service three times with local evidence:
// a good commit, a bad one that fails and is rolled back automatically to
// the good one, a third good one; then rolls the third back by hand.
func TestRollback(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
defaults: {retries: 0, deploy: {command: 'echo "$PROMOTE_REF" >> deployed.txt; ! grep -qx "$PROMOTE_REF" bad.txt'}}
environments: [{name: dev}]
services:
  api:
    paths: ["api/**"]
    rollback: {environments: [dev]}
    verify: {checks: [{name: smoke, command: 'echo "checked $PROMOTE_REF"'}]}
evidence: {store: file://evidence}
`
	good, bad, third := strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)
	manifest, promoteAt := badCommitManifest(t, yaml, bad)
	dir := filepath.Dir(manifest)
	runArgs := []string{"run", "--manifest", manifest, "--heartbeat", "0", "--status-file", filepath.Join(dir, "status.json")}
	if r := promoteAt(good, runArgs...); r.code != ExitOK {
		t.Fatalf("good: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r := promoteAt(bad, runArgs...)
	if r.code != ExitFindings {
		t.Fatalf("bad: exit %d, want %d\n%s\n%s", r.code, ExitFindings, r.stdout, r.stderr)
	}
	st := readStatus(t, filepath.Join(dir, "status.json"))
	if !strings.Contains(r.stdout, "↩ api@dev rollback succeeded: rolled back to "+good[:12]) {
		t.Errorf("bad: stdout does not report the rollback:\n%s", r.stdout)
	}
	if rb := st.Nodes[0].Rollback; rb == nil || rb.Result != run.RollbackSucceeded || rb.ToCommit != good {
		t.Fatalf("bad: rollback = %+v, want succeeded to the good commit\n%s", rb, r.stdout)
	} else if len(rb.Verification) != 1 || rb.Verification[0].LastValue != "checked "+good {
		t.Errorf("bad: the rollback's checks = %+v, want smoke run at the good commit", rb.Verification)
	}
	// Nothing else succeeded but the commit there now: no target.
	r = promoteAt(good, "rollback", "api", "--environment", "dev", "--manifest", manifest)
	if r.code != ExitFindings || !strings.Contains(r.stderr, "no earlier promotion of api to dev succeeded") {
		t.Errorf("rollback with no target: exit %d, want %d with why\n%s\n%s", r.code, ExitFindings, r.stdout, r.stderr)
	}
	if r := promoteAt(third, runArgs...); r.code != ExitOK {
		t.Fatalf("third: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = promoteAt(third, "rollback", "api", "--environment", "dev", "--manifest", manifest, "--reason", "paged: checkout errors")
	if r.code != ExitOK || !strings.Contains(r.stdout, "api@dev succeeded: rolled back to "+good[:12]) {
		t.Fatalf("manual rollback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	deployed, err := os.ReadFile(filepath.Join(dir, "deployed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(deployed)), []string{good, bad, good, third, good}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("deployed %v, want good, bad, good (rollback), third, good (by hand)", got)
	}
	r = promoteAt(third, "evidence", "verify", "--manifest", manifest)
	if r.code != ExitOK {
		t.Errorf("evidence verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rollbacks []string
	for seq := 1; ; seq++ {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("evidence/records/%020d.dsse.json", seq)))
		if err != nil {
			break
		}
		var env struct{ Payload []byte }
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		var stmt struct {
			Predicate struct {
				Outcome  string
				Rollback *struct {
					FromCommit string `json:"from_commit"`
					Reason     string
					Manual     bool
				}
			}
		}
		if err := json.Unmarshal(env.Payload, &stmt); err != nil {
			t.Fatal(err)
		}
		if rb := stmt.Predicate.Rollback; rb != nil {
			rollbacks = append(rollbacks, fmt.Sprintf("%s from %.4s manual=%v: %s", stmt.Predicate.Outcome, rb.FromCommit, rb.Manual, rb.Reason))
		}
	}
	want := []string{
		`succeeded from 2222 manual=false: "echo \"$PROMOTE_REF\" >> deployed.txt; ! grep -qx \"$PROMOTE_REF\" bad.txt" exited with status 1`,
		"succeeded from 3333 manual=true: paged: checkout errors",
	}
	if strings.Join(rollbacks, "\n") != strings.Join(want, "\n") {
		t.Errorf("rollback records:\n%s\nwant:\n%s", strings.Join(rollbacks, "\n"), strings.Join(want, "\n"))
	}
}

// badCommitManifest writes yaml as a manifest, with bad.txt naming the bad
// commit beside it, and returns the manifest and how to run promote as
// alice at a commit.
func badCommitManifest(t *testing.T, yaml, bad string) (string, func(commit string, args ...string) result) {
	t.Helper()
	manifest := manifestFile(t, yaml)
	if err := os.WriteFile(filepath.Join(filepath.Dir(manifest), "bad.txt"), []byte(bad+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest, func(commit string, args ...string) result {
		env := map[string]string{"PATH": os.Getenv("PATH"), "PROMOTE_COMMIT": commit, "USER": "alice"}
		return promote(t, func(k string) string { return env[k] }, args...)
	}
}

// TestRunSoakWatch promotes a service whose health turns bad after its
// deploy to dev passed verification: the soak's watch sees it, and staging
// is skipped, saying why. Real time, short soak; outcomes only.
func TestRunSoakWatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n > 1 { // healthy for the post-deploy check only
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	yaml := `version: 1
defaults:
  deploy: {command: "true"}
  verify:
    interval: 50ms
    failures: 2
    checks: [{name: health, http: {url: "` + srv.URL + `/{service}"}}]
environments: [{name: dev}, {name: staging, gate: {soak: 2s}}]
services:
  api: {paths: ["api/**"]}
`
	manifest := manifestFile(t, yaml)
	dir := filepath.Dir(manifest)
	status := filepath.Join(dir, "status.json")
	env := map[string]string{"PATH": os.Getenv("PATH"), "PROMOTE_COMMIT": strings.Repeat("4", 40)}
	r := promote(t, func(k string) string { return env[k] }, "run", "--manifest", manifest, "--status-file", status, "--heartbeat", "0")
	if r.code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, ExitFindings, r.stdout, r.stderr)
	}
	st := readStatus(t, status)
	for _, n := range st.Nodes {
		switch n.ID {
		case "api@dev":
			if n.State != run.Succeeded {
				t.Errorf("api@dev = %s (%s), want succeeded: it was healthy after its deploy", n.State, n.Message)
			}
		case "api@staging":
			if n.State != run.Skipped || !strings.Contains(n.Message, `api@dev did not stay healthy during the soak: verification of api@dev failed: http check "soak/health"`) {
				t.Errorf("api@staging = %s (%s), want skipped by the soak's watch", n.State, n.Message)
			}
			if len(n.Verification) != 1 || n.Verification[0].Name != "soak/health" || n.Verification[0].LastValue != "HTTP 503" {
				t.Errorf("api@staging verification = %+v, want the failed soak/health", n.Verification)
			}
		}
	}
}

// readStatus reads a status file.
func readStatus(t *testing.T, path string) run.Status {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st run.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// manifestFile writes a manifest into a new directory and returns its path.
func manifestFile(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "promotion.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
