// Package e2e_test runs the example workflows of examples/.github/workflows
// end to end with nektos/act in host mode: the workflow files themselves,
// Promote's composite actions from this checkout, the promote binary, and
// real counterparts on loopback: the in-memory GitHub (internal/githubtest)
// as GITHUB_API_URL, versitygw as the S3 evidence store with Object Lock,
// and the Vault test server (internal/sign/vaulttest) as the signer, logged
// into with a GitHub OIDC token the driver mints.
//
// act cannot fetch actions without the network, so each third-party action
// is replaced by a local stand-in from testdata/standins (each file says
// what it replaces); Promote's own actions come from this checkout through
// --local-repository. docs/workflows.md says which GitHub behaviour each
// scenario stands for, and docs/testing.md how long they take.
//
// The tests skip unless ACT names an act binary (make e2e builds v0.2.89
// and sets it); the promotion scenarios also need VERSITYGW.
package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/promote-dev/promote/internal/git/gittest"
)

// actTimeout bounds one act invocation: a promotion of the example
// repository takes about half a minute here.
const actTimeout = 5 * time.Minute

// moduleRoot is the root of this checkout: go test runs in e2e/.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// actBinary returns the act binary from ACT, or skips the test.
func actBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("ACT")
	if bin == "" {
		t.Skip("set ACT to a nektos/act v0.2.89 binary to run the example workflows end to end; make e2e builds it and does")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ACT=%s: %v", bin, err)
	}
	return bin
}

// prebuilt is promote built once for all tests, with the source hash the
// setup action computes for this checkout.
var prebuilt struct {
	once      sync.Once
	bin, hash string
	err       error
	dir       string
}

// prebuiltPromote builds promote once and returns its path and the source
// hash actions/setup/install.sh gives this checkout. A job that has
// PROMOTE_BIN and PROMOTE_SOURCE_HASH set to them takes install.sh's
// "already installed in this job" path, as a job whose earlier step ran
// actions/setup does: it builds nothing.
func prebuiltPromote(t *testing.T) (bin, hash string) {
	t.Helper()
	root := moduleRoot(t)
	prebuilt.once.Do(func() {
		prebuilt.dir, prebuilt.err = os.MkdirTemp("", "promote-e2e-bin-")
		if prebuilt.err != nil {
			return
		}
		bin := filepath.Join(prebuilt.dir, "promote")
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/promote")
		build.Dir = root
		build.Env = append(os.Environ(), "GOWORK=off")
		if out, err := build.CombinedOutput(); err != nil {
			prebuilt.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		outputs := filepath.Join(prebuilt.dir, "outputs")
		prepare := exec.Command("bash", filepath.Join(root, "actions", "setup", "install.sh"), "prepare")
		prepare.Env = append(hostEnv(), "GITHUB_OUTPUT="+outputs)
		if out, err := prepare.CombinedOutput(); err != nil {
			prebuilt.err = fmt.Errorf("install.sh prepare: %v\n%s", err, out)
			return
		}
		data, err := os.ReadFile(outputs)
		if err != nil {
			prebuilt.err = err
			return
		}
		if m := regexp.MustCompile(`(?m)^hash=([0-9a-f]{64})$`).FindSubmatch(data); m != nil {
			prebuilt.bin, prebuilt.hash = bin, string(m[1])
		} else {
			prebuilt.err = fmt.Errorf("install.sh prepare printed no hash:\n%s", data)
		}
	})
	if prebuilt.err != nil {
		t.Fatal(prebuilt.err)
	}
	return prebuilt.bin, prebuilt.hash
}

func TestMain(m *testing.M) {
	code := m.Run()
	if prebuilt.dir != "" {
		os.RemoveAll(prebuilt.dir)
	}
	os.Exit(code)
}

// exampleRepo makes a git repository of the example repository (examples/
// with its .github/workflows), its files changed by edit first, with
// origin on github.com/acme/app (act names the repository after origin),
// and returns its directory.
func exampleRepo(t *testing.T, edit func(files map[string]string)) string {
	t.Helper()
	src := filepath.Join(moduleRoot(t), "examples")
	files := map[string]string{}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel == ".promote" {
				return filepath.SkipDir // make demo's local evidence and key
			}
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(files)
	}
	dir := gittest.Init(t, files)
	gittest.Run(t, dir, "remote", "add", "origin", "https://github.com/acme/app.git")
	return dir
}

// replace replaces old by new in s exactly n times, or fails the test: an
// edit of an example file that silently matches nothing would make a
// scenario test something else than it says.
func replace(t *testing.T, s, old, new string, n int) string {
	t.Helper()
	if got := strings.Count(s, old); got != n {
		t.Fatalf("%q occurs %d times, want %d: the example changed; update the scenario", old, got, n)
	}
	return strings.ReplaceAll(s, old, new)
}

// standIns maps each third-party action the example workflows use (as
// pinned there: owner/repo@sha) to its stand-in directory.
func standIns(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), "e2e", "testdata", "standins")
	return map[string]string{
		"actions/setup-go":                      filepath.Join(dir, "setup-go"),
		"actions/cache":                         filepath.Join(dir, "cache"),
		"aws-actions/configure-aws-credentials": filepath.Join(dir, "configure-aws-credentials"),
		"github/codeql-action":                  filepath.Join(dir, "codeql-action"),
	}
}

// usesRef matches a uses: line of a workflow or action: owner/repo, an
// optional subdirectory, and the ref.
var usesRef = regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?:/[^@\s]*)?@([0-9a-f]{40})`)

// localRepositories returns act's --local-repository flags for every
// remote action the example workflows and Promote's actions use: Promote's
// own from this checkout, the rest from their stand-ins. actions/checkout
// needs none: act skips a checkout of the repository under test and uses
// the local files. A pinned action without a stand-in fails the test, since
// act would try to download it.
func localRepositories(t *testing.T) []string {
	t.Helper()
	root := moduleRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "examples", ".github", "workflows", "*.yml"))
	actions, _ := filepath.Glob(filepath.Join(root, "actions", "*", "action.yml"))
	files = append(files, actions...)
	stand := standIns(t)
	repos := map[string]string{} // owner/repo@sha → directory
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesRef.FindAllStringSubmatch(string(data), -1) {
			repo, sha := m[1], m[2]
			key := repo + "@" + sha
			if repos[key] != "" || repo == "actions/checkout" {
				continue
			}
			dir, ok := stand[repo]
			if repo == "promote-dev/promote" {
				dir, ok = root, true
			}
			if !ok {
				t.Fatalf("%s uses %s, which has no stand-in in testdata/standins: act cannot download it offline; add one", f, key)
			}
			repos[key] = dir
		}
	}
	var flags []string
	for _, key := range slices.Sorted(maps.Keys(repos)) {
		flags = append(flags, "--local-repository", key+"="+repos[key])
	}
	return flags
}

// hostEnv is this process's environment without what a GitHub Actions job
// running the tests (CI) sets for itself: act's jobs, which inherit the
// environment in host mode, must see only what act and the test give them.
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "CI",
			strings.HasPrefix(name, "GITHUB_"), strings.HasPrefix(name, "RUNNER_"),
			strings.HasPrefix(name, "ACTIONS_"), strings.HasPrefix(name, "INPUT_"),
			strings.HasPrefix(name, "PROMOTE_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// goCaches returns GOCACHE, GOMODCACHE and GOPATH as the go command sees
// them now, as environment assignments.
func goCaches(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 3 {
		t.Fatalf("go env printed %q", out)
	}
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2]}
}

// actResult is what act showed of one workflow run.
type actResult struct {
	log  string
	err  error // the exit status: act exits non-zero when a job failed
	jobs map[string]string
}

// jobResult matches act's last line of a job: "[wf/job] 🏁  Job succeeded".
var jobResult = regexp.MustCompile(`(?m)^\[[^/\]]+/([^\]]+?)\s*\]\s+🏁\s+Job (succeeded|failed)`)

// act runs one workflow of repo with act in host mode for event, with the
// given flags (inputs, env, secrets, variables) added.
func runAct(t *testing.T, repo, workflow, event string, flags ...string) actResult {
	t.Helper()
	args := []string{event,
		"-W", ".github/workflows/" + workflow,
		"-P", "ubuntu-latest=-self-hosted",
		// Each run gets its own copies of the workspace and actions.
		"--action-cache-path", t.TempDir(),
		"--no-cache-server",
		"--defaultbranch", "main",
	}
	args = append(args, localRepositories(t)...)
	args = append(args, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), actTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, actBinary(t), args...)
	cmd.Dir = repo
	// act reads .actrc, .env, .secrets and .vars from HOME and the working
	// directory: a HOME of its own keeps a developer's out of the test. Go's
	// caches stay where they are, named explicitly since their defaults
	// depend on HOME: a job that builds promote reuses the compiled packages.
	cmd.Env = append(hostEnv(), "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, goCaches(t)...)
	out, err := cmd.CombinedOutput()
	r := actResult{log: string(out), err: err, jobs: map[string]string{}}
	for _, m := range jobResult.FindAllStringSubmatch(r.log, -1) {
		r.jobs[m[1]] = m[2]
	}
	if ctx.Err() != nil {
		t.Fatalf("act %s %s did not finish within %v:\n%s", event, workflow, actTimeout, r.log)
	}
	t.Logf("act %s %s: jobs %v", event, workflow, r.jobs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("act %s %s, the whole log:\n%s", event, workflow, r.log)
		}
	})
	return r
}

// requireJobs fails the test unless the jobs ended as want ("succeeded" or
// "failed"; a job absent from want must not have run).
func (r actResult) requireJobs(t *testing.T, want map[string]string) {
	t.Helper()
	if fmt.Sprint(r.jobs) != fmt.Sprint(want) {
		t.Fatalf("act jobs = %v, want %v\n%s", r.jobs, want, r.log)
	}
}

// outputs returns the single-line step outputs act showed for job, name →
// values in the order set (a composite action's outputs show once per step
// and again for the action).
func (r actResult) outputs(job string) map[string][]string {
	re := regexp.MustCompile(`^\[[^/\]]+/` + regexp.QuoteMeta(job) + `\s*\]\s+⚙\s+::set-output:: ([A-Za-z0-9_-]+)=(.*)$`)
	got := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(r.log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			got[m[1]] = append(got[m[1]], m[2])
		}
	}
	return got
}

// output returns the last value act showed for a job's output name.
func (r actResult) output(t *testing.T, job, name string) string {
	t.Helper()
	values := r.outputs(job)[name]
	if len(values) == 0 {
		t.Fatalf("job %s set no output %s:\n%s", job, name, r.log)
	}
	return values[len(values)-1]
}

// jobLog returns the lines act printed for job, without act's prefix.
func (r actResult) jobLog(job string) string {
	prefix := regexp.MustCompile(`^\[[^/\]]+/` + regexp.QuoteMeta(job) + `\s*\]\s?`)
	var b strings.Builder
	inJob := false
	for line := range strings.SplitSeq(r.log, "\n") {
		if loc := prefix.FindStringIndex(line); loc != nil {
			inJob = true
			b.WriteString(line[loc[1]:])
			b.WriteByte('\n')
			continue
		}
		// Lines of a multi-line message carry no prefix; they belong to
		// the job of the line before.
		if inJob && !strings.HasPrefix(line, "[") {
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		inJob = false
	}
	return b.String()
}

// annotation is a workflow command that GitHub shows as an annotation.
type annotation struct {
	level   string            // error, warning or notice
	props   map[string]string // file, line, col, title, ...
	message string
}

// annotationLine matches act's echo of one: "❗  ::error col=11,file=…::msg"
// (act prints the properties sorted, whatever their order in the command).
var annotationLine = regexp.MustCompile(`❗\s+::(error|warning|notice)(?: ([^:]*))?::(.*)$`)

// annotations returns the annotations a job's steps wrote.
func (r actResult) annotations(job string) []annotation {
	var out []annotation
	for line := range strings.SplitSeq(r.jobLog(job), "\n") {
		m := annotationLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := annotation{level: m[1], props: map[string]string{}, message: m[3]}
		for kv := range strings.SplitSeq(m[2], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				a.props[k] = v
			}
		}
		out = append(out, a)
	}
	return out
}

// oidcIssuer serves the Actions OIDC token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL) for jobs under act, which has none: it
// mints tokens with mint for the audience asked, as GitHub does for a job
// with permissions: id-token: write.
type oidcIssuer struct {
	srv   *httptest.Server
	token string // the job's ACTIONS_ID_TOKEN_REQUEST_TOKEN

	mu        sync.Mutex
	audiences []string
}

func newOIDCIssuer(t *testing.T, mint func(ctx context.Context, audience string) (string, error)) *oidcIssuer {
	t.Helper()
	o := &oidcIssuer{token: "e2e-id-token-request"}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer "+o.token && r.Header.Get("Authorization") != "Bearer "+o.token {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		audience := r.URL.Query().Get("audience")
		token, err := mint(r.Context(), audience)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		o.mu.Lock()
		o.audiences = append(o.audiences, audience)
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"value": token})
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// env returns act's --env flags that give every job the endpoint, as
// GitHub does for a job with permissions: id-token: write. (act applies no
// permissions, so every job gets it here; docs/workflows.md says so.)
func (o *oidcIssuer) env() []string {
	return []string{
		"--env", "ACTIONS_ID_TOKEN_REQUEST_URL=" + o.srv.URL + "/token?api-version=2.0",
		"--env", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + o.token,
	}
}

func (o *oidcIssuer) requested() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.audiences)
}

// deployWorkflow is what the in-memory GitHub needs to know of
// examples/.github/workflows/deploy.yml to simulate its runs: read from the
// file, so that a change there shows here.
type deployWorkflow struct {
	Name    string `yaml:"name"`
	RunName string `yaml:"run-name"`
	On      struct {
		WorkflowDispatch struct {
			Inputs map[string]any `yaml:"inputs"`
		} `yaml:"workflow_dispatch"`
	} `yaml:"on"`
	Jobs map[string]struct {
		Environment struct {
			Name       string `yaml:"name"`
			Deployment *bool  `yaml:"deployment"`
		} `yaml:"environment"`
		Steps []struct {
			Name string `yaml:"name"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readDeployWorkflow(t *testing.T) deployWorkflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "examples", ".github", "workflows", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var w deployWorkflow
	if err := yaml.Unmarshal(data, &w); err != nil {
		t.Fatalf("deploy.yml: %v", err)
	}
	return w
}
