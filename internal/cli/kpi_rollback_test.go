package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestKPIRollback promotes a good commit, then a bad one whose verification
// fails and which is rolled back automatically: promote kpi counts the
// checks, the rollback, one change failure and one recovery.
func TestKPIRollback(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
defaults: {retries: 0, deploy: {command: 'echo "$PROMOTE_REF" >> deployed.txt'}}
environments: [{name: dev}]
services:
  api:
    paths: ["api/**"]
    rollback: {environments: [dev]}
    verify:
      interval: 10ms
      successes: 1
      failures: 1
      checks: [{name: smoke, command: '! grep -qx "$PROMOTE_REF" bad.txt'}]
evidence: {store: file://evidence}
`
	good, bad := strings.Repeat("1", 40), strings.Repeat("2", 40)
	manifest, promoteAt := badCommitManifest(t, yaml, bad)
	dir := filepath.Dir(manifest)
	runArgs := []string{"run", "--manifest", manifest, "--heartbeat", "0", "--status-file", filepath.Join(dir, "status.json")}
	if r := promoteAt(good, runArgs...); r.code != ExitOK {
		t.Fatalf("good: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := promoteAt(bad, runArgs...); r.code != ExitFindings || !strings.Contains(r.stdout, "rollback succeeded") {
		t.Fatalf("bad: exit %d, want %d and a rollback\n%s\n%s", r.code, ExitFindings, r.stdout, r.stderr)
	}
	r := promoteAt(bad, "kpi", "--manifest", manifest, "--output", "json")
	if r.code != ExitOK {
		t.Fatalf("kpi: exit %d\n%s", r.code, r.stderr)
	}
	checkKPIFigures(t, r.stdout, map[string]float64{
		// The good deploy's check and the rollback's passed; the bad
		// deploy's failed.
		"promote_verifications_total{api@dev command passed}":     2,
		"promote_verifications_total{api@dev command failed}":     1,
		"promote_verification_duration_seconds{api@dev command }": 3,
		"promote_rollbacks_total{api@dev succeeded}":              1,
		"promote_rollbacks_total{api@dev failed}":                 0,
		// good, bad (a change failure, once), the rollback.
		"promote_dora_deployments_total{api@dev succeeded}":              2,
		"promote_dora_deployments_total{api@dev failed}":                 1,
		"promote_dora_failed_deployment_recovery_time_seconds{api@dev }": 1,
		// The rollback's record is no node's promotion.
		"promote_promotions_total{api@dev succeeded}": 1,
		"promote_promotions_total{api@dev failed}":    1,
	})
}
