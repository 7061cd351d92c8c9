package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/helper/keysutil"

	"github.com/promote-dev/promote/internal/manifesttest"
	"github.com/promote-dev/promote/internal/sign/vaulttest"
)

// TestVaultCallsPerRun promotes manifests of 5 and 50 services (13 and 135
// nodes) with evidence signed by Vault Transit, and counts the requests
// Vault gets: the same for both, because a run's records are signed in one
// batch_input request and its checkpoint in another.
func TestVaultCallsPerRun(t *testing.T) {
	t.Parallel()
	calls := map[int]map[string]int{}
	for _, services := range []int{5, 50} {
		vault := vaulttest.NewServer(t)
		vault.AddKey(keysutil.PolicyConfig{Name: "evidence", Type: keysutil.KeyType_ECDSA_P256})
		dir := t.TempDir()
		m := manifesttest.Generate(services, 2, 0)
		m = bytes.Replace(m, []byte("deploy: {workflow: deploy.yml}"), []byte(`deploy: {command: "true"}`), 1)
		m = append(m, fmt.Sprintf("evidence:\n  store: file://evidence\n  signer:\n    vault:\n      address: %s\n      key: evidence\n      auth: token\n", vault.Srv.URL)...)
		if err := os.WriteFile(filepath.Join(dir, "promotion.yaml"), m, 0o644); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"VAULT_TOKEN": vaulttest.RootToken, "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567"}
		r := promote(t, func(k string) string { return env[k] }, "run", "--manifest", filepath.Join(dir, "promotion.yaml"),
			"--soak", "0s", "--heartbeat", "0", "--status-file", filepath.Join(dir, "status.json"))
		if r.code != ExitOK {
			t.Fatalf("%d services: exit %d\n%s", services, r.code, r.stderr)
		}
		want := fmt.Sprintf("Sealed %d evidence records", services*3-services/10)
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("%d services: stdout lacks %q:\n%s", services, want, r.stdout)
		}
		calls[services] = map[string]int{"read": vault.Count("read"), "sign": vault.Count("sign"), "login": vault.Count("login")}
		if v := promote(t, func(k string) string { return env[k] }, "evidence", "verify", "--manifest", filepath.Join(dir, "promotion.yaml")); v.code != ExitOK {
			t.Fatalf("%d services: evidence verify exited %d:\n%s%s", services, v.code, v.stdout, v.stderr)
		}
	}
	t.Logf("Vault requests per run: 5 services %v, 50 services %v", calls[5], calls[50])
	if fmt.Sprint(calls[5]) != fmt.Sprint(calls[50]) || calls[50]["sign"] != 2 {
		t.Errorf("Vault requests per run: 5 services %v, 50 services %v; want the same, with 2 sign requests", calls[5], calls[50])
	}
}
