package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/git/gittest"
)

const evidenceManifest = `version: 1
defaults: {expected_duration: 1s}
environments: [{name: dev}, {name: prod, protected: true}]
services:
  api: {paths: ["api/**"], deploy: {command: "echo deployed"}}
  web: {paths: ["web/**"], depends_on: [api], deploy: {command: "echo deployed"}}
evidence:
  store: file://.promote/evidence
  signer:
    local: {path: .promote/keys/evidence.pem, algorithm: ed25519}
`

// TestEvidence promotes twice with evidence configured and checks the
// chain: it verifies, with the signer's key and with the exported public
// key, and a flipped byte fails it with the record and the reason.
func TestEvidence(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t, map[string]string{"promotion.yaml": evidenceManifest})
	manifest := filepath.Join(dir, "promotion.yaml")
	for _, force := range []string{"--force=false", "--force"} {
		r := promote(t, nil, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0", force)
		if r.code != ExitOK || !strings.Contains(r.stdout, "Sealed 4 evidence records in file://.promote/evidence") {
			t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	r := promote(t, nil, "evidence", "verify", "--manifest", manifest)
	if r.code != ExitOK || !strings.Contains(r.stdout, "8 records") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r = promote(t, nil, "evidence", "public-key", "--manifest", manifest)
	if r.code != ExitOK || !strings.Contains(r.stdout, "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("public-key: exit %d\n%s", r.code, r.stderr)
	}
	pub := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(pub, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	// An auditor holds only the public key.
	if err := os.Remove(filepath.Join(dir, ".promote/keys/evidence.pem")); err != nil {
		t.Fatal(err)
	}
	if r = promote(t, nil, "evidence", "verify", "--manifest", manifest, "--key", pub, "--output", "json"); r.code != ExitOK || !strings.Contains(r.stdout, `"ok": true`) {
		t.Fatalf("verify --key: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r = promote(t, nil, "evidence", "verify", "--manifest", manifest); r.code != ExitBadInput || !strings.Contains(r.stderr, "pass --key") {
		t.Errorf("verify without a key: exit %d, stderr %q", r.code, r.stderr)
	}

	tamper(t, dir, 3)
	r = promote(t, nil, "evidence", "verify", "--manifest", manifest, "--key", pub)
	if r.code != ExitFindings || !strings.Contains(r.stdout, "FAIL records/00000000000000000003.dsse.json (seq 3)") {
		t.Errorf("verify after tampering: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	if r = promote(t, nil, "evidence", "check-bucket", "--manifest", manifest); r.code != ExitBadInput || !strings.Contains(r.stderr, "is no S3 bucket") {
		t.Errorf("check-bucket on a directory: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = promote(t, nil, "evidence", "sign"); r.code != ExitBadInput {
		t.Errorf("unknown evidence command: exit %d", r.code)
	}
}

// TestEvidenceSpool promotes while the evidence store is unusable: the
// records are signed into the spool, and flush appends them once the store
// is back.
func TestEvidenceSpool(t *testing.T) {
	t.Parallel()
	yaml := strings.Replace(evidenceManifest, "file://.promote/evidence", "file://store", 1)
	dir := gittest.Init(t, map[string]string{"promotion.yaml": yaml})
	// A file where the store's directory should be.
	if err := os.WriteFile(filepath.Join(dir, "store"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "promotion.yaml")
	r := promote(t, nil, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0")
	if r.code != ExitOK || !strings.Contains(r.stderr, "4 records are signed and spooled") {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if err := os.Remove(filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	r = promote(t, nil, "evidence", "flush", "--manifest", manifest)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Appended 4 spooled evidence records") {
		t.Fatalf("flush: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r = promote(t, nil, "evidence", "flush", "--manifest", manifest); r.code != ExitOK || !strings.Contains(r.stdout, "Nothing spooled.") {
		t.Errorf("second flush: exit %d\n%s", r.code, r.stdout)
	}
	if r = promote(t, nil, "evidence", "verify", "--manifest", manifest); r.code != ExitOK || !strings.Contains(r.stdout, "4 records") {
		t.Errorf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// tamper flips a bit in the payload of the stored record seq.
func tamper(t *testing.T, dir string, seq int) {
	t.Helper()
	record := filepath.Join(dir, fmt.Sprintf(".promote/evidence/records/%020d.dsse.json", seq))
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(record, 0o644); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), `"payload":"`) + len(`"payload":"`) + 10
	data[i] ^= 1
	if err := os.WriteFile(record, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
