package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/run"
)

// commandManifest deploys with commands that append the node to
// deployed.log, so a test sees exactly what each run deployed.
const commandManifest = `version: 1
defaults: {expected_duration: 1s}
environments: [{name: dev}, {name: prod}]
services:
  api: {paths: ["api/**"], deploy: {command: 'echo "$PROMOTE_NODE $PROMOTE_REF" >> deployed.log'}}
  web: {paths: ["web/**"], depends_on: [api], deploy: {command: 'echo "$PROMOTE_NODE $PROMOTE_REF" >> deployed.log'}}
evidence:
  store: file://.promote/evidence
  signer:
    local: {path: .promote/keys/evidence.pem, algorithm: ed25519}
`

const testCommit = "0123456789abcdef0123456789abcdef01234567"

// commandRepo writes yaml as promotion.yaml into a directory that is no git
// checkout, as a source archive is not.
func commandRepo(t *testing.T, yaml string) (dir, manifest string) {
	t.Helper()
	dir = t.TempDir()
	manifest = filepath.Join(dir, "promotion.yaml")
	if err := os.WriteFile(manifest, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, manifest
}

// commandRun is the environment and the arguments of a run of manifest,
// at testCommit, whose status file goes into dir.
func commandRun(dir, manifest string) (getenv func(string) string, args []string) {
	env := map[string]string{"PROMOTE_COMMIT": testCommit, "PATH": os.Getenv("PATH")}
	return func(k string) string { return env[k] },
		[]string{"run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0"}
}

// deployed returns the lines the deploy commands wrote so far.
func deployed(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "deployed.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// TestRunResumesFromEvidence runs the same commit again with command
// deploys: the second run deploys nothing, names the evidence record each
// node succeeded in and seals nothing new; --force deploys every node again
// and seals new records; an edited manifest deploys again; and a log that
// does not verify is refused, not trusted.
func TestRunResumesFromEvidence(t *testing.T) {
	t.Parallel()
	dir, manifest := commandRepo(t, commandManifest)
	getenv, runArgs := commandRun(dir, manifest)

	r := promote(t, getenv, runArgs...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Sealed 4 evidence records") {
		t.Fatalf("first run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 4 || got[0] != "api@dev "+testCommit {
		t.Fatalf("first run deployed %q, want 4 nodes at the commit", got)
	}

	// The rerun, in Actions: nothing deployed, each node says why, in the
	// log, the status file and the job summary.
	runner := actionstest.NewRunner(t, map[string]string{"INPUT_MANIFEST": manifest, "PROMOTE_COMMIT": testCommit, "PATH": os.Getenv("PATH"), "INPUT_HEARTBEAT": "0"})
	r = promote(t, runner.Getenv, "run")
	if r.code != ExitOK {
		t.Fatalf("rerun: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 4 {
		t.Errorf("the rerun deployed again: %q", got[4:])
	}
	for _, want := range []string{
		"✔ api@dev already succeeded for 0123456789ab (evidence record #1, ",
		"✔ web@prod already succeeded for 0123456789ab (evidence record #4, ",
		"4 of them had already succeeded for 0123456789ab and were not deployed again (--force deploys them)",
		"No evidence sealed: every node had already succeeded for this commit",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rerun stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	out := runner.Outputs(t)
	if out["succeeded"] != `["api@dev","web@dev","api@prod","web@prod"]` {
		t.Errorf("output succeeded = %s, want every node", out["succeeded"])
	}
	data, err := os.ReadFile(out["status_file"])
	if err != nil {
		t.Fatal(err)
	}
	var st run.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.State != run.Succeeded || !n.Resumed || n.Attempts != 0 || !strings.HasPrefix(n.Message, "evidence record #") {
			t.Errorf("status of %s = %s, resumed %v, %d attempts, %q; want succeeded, resumed from an evidence record, no attempt", n.ID, n.State, n.Resumed, n.Attempts, n.Message)
		}
	}
	if summary := runner.Summary(t); !strings.Contains(summary, "| `api@dev` | ✅ succeeded earlier |") ||
		!strings.Contains(summary, "not deployed again: already succeeded for this commit (evidence record #1, ") {
		t.Errorf("summary does not show the resumed nodes:\n%s", summary)
	}

	// --force deploys every node again and records it.
	r = promote(t, getenv, append(runArgs, "--force")...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Sealed 4 evidence records") || strings.Contains(r.stdout, "already succeeded") {
		t.Fatalf("--force: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 8 {
		t.Errorf("--force deployed %d nodes in all, want 4 more than the first run's 4", len(got))
	}

	// The manifest, edited after those runs, deploys differently: what
	// succeeded under the old one is deployed again.
	edited := strings.ReplaceAll(commandManifest, ">> deployed.log", ">> deployed.log; true")
	if err := os.WriteFile(manifest, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	r = promote(t, getenv, runArgs...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Deploying again what succeeded for this commit under another manifest than") ||
		!strings.Contains(r.stdout, "Sealed 4 evidence records") {
		t.Fatalf("edited manifest: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 12 {
		t.Errorf("after the manifest changed, %d deploys in all, want 12", len(got))
	}

	// A changed record: the run refuses to trust the log and deploys nothing.
	record := filepath.Join(dir, ".promote/evidence/records/00000000000000000002.dsse.json")
	data, err = os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), `"payload":"`) + len(`"payload":"`) + 10
	data[i] ^= 1
	if err := os.Chmod(record, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r = promote(t, getenv, runArgs...)
	if r.code != ExitFindings || !strings.Contains(r.stderr, "nothing deployed: file://.promote/evidence: the evidence does not verify: records/00000000000000000002.dsse.json (seq 2)") ||
		!strings.Contains(r.stderr, "pass --force") {
		t.Errorf("tampered log: exit %d, stderr %q; want 1 and the record", r.code, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 12 {
		t.Errorf("a run over a tampered log deployed %q", got[12:])
	}
}

// TestRunPreflight checks that a run that could not name or record what it
// deploys refuses before the first node starts, saying how to fix it.
func TestRunPreflight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		yaml   string
		setup  func(t *testing.T, dir string)
		env    map[string]string
		args   []string
		code   int
		stderr []string
	}{
		{what: "no commit outside git", env: map[string]string{"PROMOTE_COMMIT": ""}, code: ExitBadInput,
			stderr: []string{`nothing deployed: the plan names no commit to promote ("")`, "pass --commit SHA, or set PROMOTE_COMMIT"}},
		{what: "abbreviated commit", args: []string{"--commit", "0123456"}, code: ExitBadInput,
			stderr: []string{`--commit "0123456": want the full 40-hex commit SHA`}},
		{what: "--commit wins over PROMOTE_COMMIT", args: []string{"--commit", strings.Repeat("ab", 20)}, code: ExitOK},
		{what: "unreadable signing key", code: ExitBadInput,
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ".promote/keys/evidence.pem"), "not a key\n", 0o600)
			},
			stderr: []string{"nothing deployed: this run could not be recorded: ", "evidence.pem"}},
		{what: "unreachable store, unwritable spool", code: ExitInternal,
			yaml: strings.Replace(commandManifest, "file://.promote/evidence", "file://store", 1),
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "store"), "a file where the store's directory should be", 0o644)
				writeFile(t, filepath.Join(dir, ".promote/spool"), "a file where the spool should be", 0o644)
			},
			stderr: []string{"nothing deployed: this run could not be recorded: the evidence store file://store cannot be reached", "make the store reachable or", "/.promote/spool writable"}},
		{what: "unreachable store, spool writable", code: ExitOK,
			yaml: strings.Replace(commandManifest, "file://.promote/evidence", "file://store", 1),
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "store"), "a file where the store's directory should be", 0o644)
			},
			stderr: []string{"the evidence store file://store cannot be reached", "so every node is deployed", "4 records are signed and spooled"}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			yaml := tt.yaml
			if yaml == "" {
				yaml = commandManifest
			}
			dir, manifest := commandRepo(t, yaml)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			env := map[string]string{"PROMOTE_COMMIT": testCommit, "PATH": os.Getenv("PATH")}
			for k, v := range tt.env {
				env[k] = v
			}
			args := append([]string{"run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0"}, tt.args...)
			r := promote(t, func(k string) string { return env[k] }, args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if got := deployed(t, dir); tt.code != ExitOK && len(got) > 0 {
				t.Errorf("deployed %q before refusing", got)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// TestRunFromNeedsEvidence: --from starts at a later environment only when
// the evidence shows the one before succeeded for the commit.
func TestRunFromNeedsEvidence(t *testing.T) {
	t.Parallel()
	dir, manifest := commandRepo(t, commandManifest)
	getenv, runArgs := commandRun(dir, manifest)

	r := promote(t, getenv, append(runArgs, "--from", "prod")...)
	if r.code != ExitFindings || !strings.Contains(r.stdout, "✖ api@prod failed: api@dev has not succeeded for commit "+testCommit) {
		t.Fatalf("--from prod before dev: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 0 {
		t.Fatalf("deployed %q without dev's success", got)
	}
	if r = promote(t, getenv, append(runArgs, "--to", "dev")...); r.code != ExitOK {
		t.Fatalf("--to dev: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r = promote(t, getenv, append(runArgs, "--from", "prod")...); r.code != ExitOK {
		t.Fatalf("--from prod after dev: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 4 || !strings.HasPrefix(got[3], "web@prod ") {
		t.Errorf("deployed %q, want dev then prod", got)
	}
}

// TestRunPlanCommit: a plan made outside git names no commit, and the run
// can be told which; a plan that names one is not run as another.
func TestRunPlanCommit(t *testing.T) {
	t.Parallel()
	dir, manifest := commandRepo(t, commandManifest)
	planFile := filepath.Join(dir, "plan.json")
	if r := promote(t, nil, "plan", "--manifest", manifest, "--to", "dev", "--plan-file", planFile); r.code != ExitOK {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	_, runArgs := commandRun(dir, manifest)
	runArgs = append(runArgs, "--plan", planFile)
	r := promote(t, func(k string) string { return map[string]string{"PATH": os.Getenv("PATH")}[k] }, runArgs...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "names no commit") {
		t.Errorf("commitless plan: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
	if r = promote(t, nil, append(runArgs, "--commit", testCommit)...); r.code != ExitOK {
		t.Fatalf("commitless plan with --commit: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := deployed(t, dir); len(got) != 2 || got[0] != "api@dev "+testCommit {
		t.Errorf("deployed %q, want dev at %s", got, testCommit)
	}

	other := strings.Repeat("ab", 20)
	if r := promote(t, nil, "plan", "--manifest", manifest, "--to", "dev", "--plan-file", planFile, "--commit", testCommit); r.code != ExitOK {
		t.Fatalf("plan --commit: exit %d: %s", r.code, r.stderr)
	}
	if r = promote(t, nil, append(runArgs, "--commit", other)...); r.code != ExitBadInput || !strings.Contains(r.stderr, "promotes commit "+testCommit+", not "+other) {
		t.Errorf("plan of another commit: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
}
