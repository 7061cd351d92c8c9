package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	dir := t.TempDir()
	manifest := filepath.Join(dir, "promotion.yaml")
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
	if err := os.WriteFile(manifest, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(dir, "status.json")
	env := map[string]string{"PATH": os.Getenv("PATH"), "PROMOTE_COMMIT": "0123456789abcdef0123456789abcdef01234567", "HEALTH_TOKEN": "t0ken"}
	r := promote(t, func(k string) string { return env[k] }, "run", "--manifest", manifest, "--status-file", status, "--heartbeat", "0")
	if r.code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, ExitFindings, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, `verification of web@dev failed: http check "health": 2 of 2 attempts failed`) || strings.Contains(r.stdout+r.stderr, "t0ken") {
		t.Errorf("stdout does not name the failed check, or shows the token:\n%s", r.stdout)
	}
	data, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	var st run.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
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
