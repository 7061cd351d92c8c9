package dashboards

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/githubtest"
	"github.com/promote-dev/promote/internal/sign"
	"github.com/promote-dev/promote/internal/store/storetest"
)

// The scenarios below make Promote produce the series the dashboards and
// rules are evaluated on: promote itself (the binary users run) promotes,
// checks the mesh and seals evidence, then `promote kpi --output
// openmetrics` reads that evidence. Nothing in a snapshot is written by
// hand.

// buildPromote builds bin/promote from this module into a temporary
// directory, once per test binary.
var buildPromote = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "promote-dashboards-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "promote")
	out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/promote").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// repo is a working copy promote runs in, as a user's checkout would be.
type repo struct {
	t       *testing.T
	dir     string
	promote string
	env     []string
	labels  map[string]string // what a Pushgateway's grouping key adds
	push    *pushing          // where each snapshot is also pushed, if anywhere
	snaps   []snapshot
}

func newRepo(t *testing.T, promote string, labels map[string]string, env ...string) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir(), promote: promote, labels: labels}
	r.env = append(os.Environ(), "PROMOTE_DEMO_DELAY=0", "NO_COLOR=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	r.env = append(r.env, env...)
	r.git("init", "-q", "-b", "main")
	return r
}

// git runs git in the working copy.
func (r *repo) git(args ...string) {
	r.t.Helper()
	r.gitAt(time.Now(), args...)
}

func (r *repo) gitAt(at time.Time, args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	cmd.Dir = r.dir
	date := at.Format(time.RFC3339)
	cmd.Env = append(r.env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// write writes files (path → content) into the working copy.
func (r *repo) write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		path := filepath.Join(r.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit commits everything, dated at.
func (r *repo) commit(msg string, at time.Time) {
	r.t.Helper()
	r.gitAt(at, "add", "-A")
	r.gitAt(at, "commit", "-q", "-m", msg)
}

// run runs promote in the working copy and returns its exit code and
// output; exit codes other than those in ok fail the test.
func (r *repo) run(ok []int, args ...string) (int, string) {
	r.t.Helper()
	return r.runEnv(r.env, ok, args...)
}

// runEnv is run with the environment env.
func (r *repo) runEnv(env []string, ok []int, args ...string) (int, string) {
	r.t.Helper()
	// A promote that hangs fails the test in bounded time, not at go
	// test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.promote, args...)
	cmd.Dir = r.dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		r.t.Fatalf("promote %v: %v", args, err)
	}
	for _, c := range ok {
		if c == code {
			return code, out.String()
		}
	}
	r.t.Fatalf("promote %s: exit %d, want one of %v\n%s", strings.Join(args, " "), code, ok, out.String())
	return code, ""
}

// kpi takes a snapshot: what `promote kpi --output openmetrics` writes now.
// ok are the exit codes expected (1 when the chain is broken).
func (r *repo) kpi(ok ...int) {
	r.t.Helper()
	if len(ok) == 0 {
		ok = []int{0}
	}
	file := filepath.Join(r.t.TempDir(), "kpi.om")
	args := []string{"kpi", "--since", "30d", "--output", "openmetrics", "--file", file}
	if r.push != nil {
		args = append(args, "--push", "http://"+r.push.gateway)
	}
	pushed := time.Now()
	// The Pushgateway groups by job and repository, as in a workflow.
	r.runEnv(append(r.env[:len(r.env):len(r.env)], "GITHUB_REPOSITORY="+r.labels["repository"]), ok, args...)
	if r.push != nil {
		r.push.scraped(r.t, r.labels["repository"], pushed)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		r.t.Fatal(err)
	}
	r.snaps = append(r.snaps, snapshot{openMetrics: data, labels: r.labels})
}

// demoScenario is `make demo` on a copy of examples/, over three commits:
// everything promoted; service-b's deploy fails; service-b fixed, but its
// namespace's mTLS made PERMISSIVE. A mesh check and a kpi snapshot go with
// each run.
func demoScenario(t *testing.T, promote string, push *pushing) *repo {
	r := newRepo(t, promote, map[string]string{"job": "promote", "repository": "example/demo"})
	r.push = push
	if err := os.CopyFS(r.dir, os.DirFS("../../../examples")); err != nil {
		t.Fatal(err)
	}
	for _, extra := range []string{".promote", "grafana", "prometheus", "broken", ".github"} {
		if err := os.RemoveAll(filepath.Join(r.dir, extra)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().Add(-6 * time.Hour)
	r.commit("services: first release", start)
	promoteAll := func() {
		r.run([]int{0, 1}, "mesh", "check", "--evidence", "production", "--fail-on", "never")
		r.run([]int{0, 1}, "run", "--soak", "0s", "--retries", "0", "--heartbeat", "0")
		r.kpi()
	}
	promoteAll()

	deploy := filepath.Join("services", "service-b", "deploy.sh")
	auth := filepath.Join("services", "service-b", "mesh", "istio-auth.yaml")
	good := map[string]string{}
	for _, f := range []string{deploy, auth} {
		data, err := os.ReadFile(filepath.Join(r.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		good[f] = string(data)
	}
	r.write(map[string]string{deploy: "#!/bin/sh\necho 'service-b: image not found' >&2\nexit 1\n"})
	r.commit("service-b: new image", start.Add(2*time.Hour))
	promoteAll()

	r.write(map[string]string{
		deploy: good[deploy],
		auth:   strings.Replace(good[auth], "mode: STRICT", "mode: PERMISSIVE", 1),
	})
	r.commit("service-b: fix the image; permissive mTLS", start.Add(4*time.Hour))
	promoteAll()
	return r
}

// tamperedCopy is a copy of r whose first evidence record was changed
// after it was sealed: promote kpi must say the chain is broken, and exit 1.
func tamperedCopy(t *testing.T, r *repo, labels map[string]string) *repo {
	c := &repo{t: t, dir: t.TempDir(), promote: r.promote, env: r.env, labels: labels}
	if err := os.CopyFS(c.dir, os.DirFS(r.dir)); err != nil {
		t.Fatal(err)
	}
	// CopyFS makes files readable by all; promote refuses such a key.
	if err := os.Chmod(filepath.Join(c.dir, ".promote", "keys", "evidence.pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	records, err := filepath.Glob(filepath.Join(c.dir, ".promote", "evidence", "records", "*.dsse.json"))
	if err != nil || len(records) == 0 {
		t.Fatalf("no evidence records in %s (%v)", c.dir, err)
	}
	data, err := os.ReadFile(records[0])
	if err != nil {
		t.Fatal(err)
	}
	// The payload is base64: change one of its characters.
	i := bytes.Index(data, []byte(`"payload":"`)) + len(`"payload":"`) + 40
	data[i] ^= 1
	if err := os.WriteFile(records[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.kpi(1)
	return c
}

// gitHubScenario promotes two services through the in-memory GitHub
// (internal/githubtest), sealing evidence in an Object Lock bucket on
// versitygw: deploy workflows dispatched, production behind required
// reviewers, every deploy verified by a command check; three commits:
// main, whose web@production deploy fails (a new node whose first record
// is a failure), release-1, all succeeding, and release-2, whose
// web@production check fails: the node is rolled back to release-1. A snapshot
// before the first run has no record, only the manifest's nodes at 0.
func gitHubScenario(t *testing.T, promote, versitygw string, push *pushing) *repo {
	gw := storetest.StartWithBucket(t, versitygw, "evidence")
	srv := githubtest.New(githubtest.Options{})
	t.Cleanup(srv.Close)
	srv.SetBranches("release-1", "release-2")
	bad := srv.SHA("release-2")
	var mu sync.Mutex
	failed := false
	srv.AddWorkflow("deploy.yml", githubtest.Workflow{
		RunName: "deploy ${{ inputs.service }} to ${{ inputs.environment }}",
		Inputs:  []string{"service", "environment", "ref", "deployment_id"}, Environment: "${{ inputs.environment }}",
		Script: func(in map[string]string) githubtest.RunScript {
			mu.Lock()
			defer mu.Unlock()
			if in["service"] == "web" && in["environment"] == "production" && !failed {
				failed = true
				return githubtest.RunScript{Duration: 200 * time.Millisecond, Conclusion: "failure"}
			}
			return githubtest.RunScript{Duration: 200 * time.Millisecond, Conclusion: "success"}
		},
	})
	srv.AddEnvironment("production", githubtest.Protection{Reviewers: []string{"release-managers"}})
	srv.SetApprover(func(int64, string) (time.Duration, bool) { return 300 * time.Millisecond, true })
	base := []string{
		"GITHUB_API_URL=" + srv.URL(),
		"GITHUB_REPOSITORY=acme/app",
		"GITHUB_TOKEN=ghs_test",
		"GITHUB_REF_NAME=main",
		"AWS_ACCESS_KEY_ID=" + storetest.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + storetest.SecretKey,
	}
	r := newRepo(t, promote, map[string]string{"job": "promote", "repository": "acme/app"}, base...)
	r.push = push
	// The smoke check fails web@production on release-2 only: its node
	// fails and rolls back to release-1, whose own check passes.
	smoke := `#!/bin/sh
if [ "$PROMOTE_SERVICE@$PROMOTE_ENVIRONMENT $PROMOTE_REF" = "web@production ` + bad + `" ]; then
  echo "web@production: /healthz answers 503" >&2
  exit 1
fi
echo "$PROMOTE_SERVICE@$PROMOTE_ENVIRONMENT answers"
`
	r.write(map[string]string{"smoke.sh": smoke, "promotion.yaml": `version: 1
defaults:
  max_parallel: 2
  timeout: 5m
  expected_duration: 2s
  retries: 0
  deploy: {workflow: deploy.yml}
  verify: {failures: 1, checks: [{name: smoke, command: ./smoke.sh}]}
environments: [{name: dev}, {name: production, protected: true}]
services:
  api: {paths: ["api/**"]}
  web: {paths: ["web/**"], depends_on: [api], rollback: {environments: [production]}}
evidence:
  store: s3://evidence/promote
  region: us-east-1
  endpoint: ` + gw.Endpoint + `
  retention_days: 1
  signer: {local: {path: .promote/keys/evidence.pem, algorithm: ed25519}}
`})
	r.commit("first", time.Now().Add(-3*time.Hour))
	// The signing key exists before the first run, as a provisioned one
	// would; promote kpi reads its public key.
	if _, _, err := sign.LoadOrCreateLocal(filepath.Join(r.dir, ".promote", "keys", "evidence.pem"), sign.AlgorithmEd25519); err != nil {
		t.Fatal(err)
	}
	r.kpi()
	for _, ref := range []string{"main", "release-1", "release-2"} {
		r.env = append(r.env, "GITHUB_SHA="+srv.SHA(ref))
		r.run([]int{0, 1}, "run", "--soak", "0s", "--heartbeat", "0")
		r.kpi()
	}
	return r
}
