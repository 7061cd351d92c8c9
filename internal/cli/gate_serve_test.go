package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/githubtest"
)

// TestGateServe runs `promote gate serve` end to end: a GitHub App's
// deployment_protection_rule delivery, decided by the shipped gate
// policies, answered to the in-memory GitHub as the App: a service whose
// commit never succeeded in staging is refused with the policy's reason,
// one that did is approved. The service comes from the run's title.
func TestGateServe(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	gh := githubtest.New(githubtest.Options{App: &githubtest.App{ID: 77, InstallationID: 880, PublicKey: &key.PublicKey}})
	defer gh.Close()
	gh.AddEnvironment("staging", githubtest.Protection{})
	gh.AddEnvironment("production", githubtest.Protection{CustomRule: true})
	gh.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }}",
		Inputs:  []string{"service", "environment"}, Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) githubtest.RunScript { return githubtest.RunScript{Duration: time.Hour} },
	})

	dir := t.TempDir()
	manifestPath := filepath.Join(dir, "promotion.yaml")
	os.WriteFile(manifestPath, []byte(`version: 1
environments:
  - name: staging
  - name: production
    protected: true
services:
  api:
    paths: ["api/**"]
    deploy: {command: ./deploy.sh}
  web:
    paths: ["web/**"]
    deploy: {command: ./deploy.sh}
`), 0o644)
	const secret = "s3cr3t"
	env := map[string]string{
		"GITHUB_API_URL": gh.URL(), "GITHUB_REPOSITORY": "acme/app",
		"PROMOTE_APP_ID": "77", "PROMOTE_APP_PRIVATE_KEY": string(keyPEM), "PROMOTE_APP_INSTALLATION_ID": "880",
		"PROMOTE_WEBHOOK_SECRET": secret,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var stdout, stderr syncBuffer
	c := &Command{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- c.Main(ctx, []string{"gate", "serve", "--manifest", manifestPath, "--listen", addr, "--db", filepath.Join(dir, "gate.db"), "--reconcile-every", "0"})
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case c := <-code:
			t.Fatalf("gate serve exited with %d:\n%s", c, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate serve never became ready:\n%s", stderr.String())
		}
	}

	api := func(method, path, body string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, gh.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer ci")
		resp, err := gh.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b.String())
		}
		return b.Bytes()
	}
	// gate delivers the protection rule request of a new run of service to
	// production and returns GitHub's answer to it.
	gate := func(service, guid string) githubtest.ProtectionRuleReview {
		t.Helper()
		var run struct {
			ID int64 `json:"workflow_run_id"`
		}
		json.Unmarshal(api("POST", "repos/acme/app/actions/workflows/deploy.yml/dispatches",
			`{"ref":"main","inputs":{"service":"`+service+`","environment":"production"},"return_run_details":true}`), &run)
		body, err := gh.ProtectionRuleEvent(run.ID)
		if err != nil {
			t.Fatal(err)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		hook, _ := http.NewRequest("POST", "http://"+addr+"/webhook", bytes.NewReader(body))
		hook.Header.Set("Content-Type", "application/json")
		hook.Header.Set("X-GitHub-Event", "deployment_protection_rule")
		hook.Header.Set("X-GitHub-Delivery", guid)
		hook.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(hook)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("delivery: %s\n%s", resp.Status, stderr.String())
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			for _, r := range gh.Runs() {
				if r.ID == run.ID && len(r.ProtectionRuleReviews) > 0 {
					return r.ProtectionRuleReviews[0]
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no answer to the protection rule:\n%s", stderr.String())
			}
		}
	}

	// api never succeeded in staging: refused.
	answer := gate("api", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if answer.State != "rejected" || answer.User != "promote-gate[bot]" || !strings.Contains(answer.Comment, "promote gate: deny") ||
		!strings.Contains(answer.Comment, "[previous-succeeded]: api has not succeeded in staging") {
		t.Errorf("answer = %+v, want a rejection by the App naming staging", answer)
	}
	// web succeeded in staging: approved, with the warning that no evidence
	// was checked (the manifest has no evidence store).
	var dep struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(api("POST", "repos/acme/app/deployments", `{"ref":"`+gh.SHA("main")+`","environment":"staging","auto_merge":false,"required_contexts":[],"payload":{"promote":{"service":"web"}},"task":"deploy:web"}`), &dep)
	api("POST", fmt.Sprintf("repos/acme/app/deployments/%d/statuses", dep.ID), `{"state":"success"}`)
	answer = gate("web", "72d3162e-cc78-11e3-81ab-4c9367dc0959")
	if answer.State != "approved" || !strings.Contains(answer.Comment, "promote gate: warn") || !strings.Contains(answer.Comment, "allow [previous-succeeded]") {
		t.Errorf("answer = %+v, want an approval with a warning", answer)
	}
	cancel()
	if got := <-code; got != ExitOK {
		t.Errorf("gate serve exited with %d after SIGTERM, want 0:\n%s", got, stderr.String())
	}
	if strings.Contains(stderr.String(), secret) || strings.Contains(stderr.String(), "PRIVATE KEY") {
		t.Error("the logs contain the webhook secret or the App's key")
	}
	if !strings.Contains(stderr.String(), `"msg":"decided"`) {
		t.Errorf("no structured log of the decision:\n%s", stderr.String())
	}
	t.Logf("answer: %s %q", answer.State, answer.Comment)
}

// TestGateAppMesh checks the example Deployment's mesh YAML with the
// platform's: it must pass promote mesh check. Its one warning is the
// ingress gateway's identity, which Istio's installation defines.
func TestGateAppMesh(t *testing.T) {
	t.Parallel()
	r := promote(t, nil, "mesh", "check", "../../examples/platform/mesh", "../../examples/gate-app/k8s")
	if r.code != ExitOK || strings.Contains(r.stdout, ": error:") {
		t.Fatalf("promote mesh check of examples/gate-app exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "12 resources in 3 files") {
		t.Errorf("mesh check did not read the example: %s", r.stdout)
	}
}

// TestGateServeBadInput: what gate serve needs, missing, is exit 2 with
// what to set.
func TestGateServeBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		what string
		env  map[string]string
		args []string
		want string
	}{
		{"no secret", nil, nil, "no webhook secret"},
		{"no app", map[string]string{"PROMOTE_WEBHOOK_SECRET": "x", "GITHUB_TOKEN": "t"}, []string{"--repository", "a/b"}, "gate serve answers as a GitHub App"},
		{"an unreadable secret file", nil, []string{"--webhook-secret-file", "/no/such/file"}, "--webhook-secret-file"},
		{"a bad log format", nil, []string{"--log-format", "xml"}, `--log-format "xml"`},
		{"a bad app id", map[string]string{"PROMOTE_WEBHOOK_SECRET": "x", "PROMOTE_APP_ID": "abc", "PROMOTE_APP_PRIVATE_KEY": "k"}, []string{"--repository", "a/b"}, `PROMOTE_APP_ID "abc"`},
	} {
		r := promote(t, func(k string) string { return tc.env[k] }, append([]string{"gate", "serve"}, tc.args...)...)
		if r.code != ExitBadInput || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.what, r.code, r.stderr, tc.want)
		}
	}
}
