package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/actions/actionstest"
)

// The tests in this file run the composite actions the way the runner does,
// closely enough to catch wiring mistakes that only show on GitHub: an input
// not mapped to INPUT_*, an output read from the wrong step, a GITHUB_ENV
// variable that a later step expects. The simulated runner knows only the
// expressions the actions use today and fails on any other, so a new kind of
// expression has to be taught here, deliberately.

// job is one simulated job: steps of several action runs share its
// workspace, RUNNER_TEMP, and what GITHUB_ENV and GITHUB_PATH added.
type job struct {
	t          testing.TB
	repo       string
	workspace  string
	runnerTemp string
	basePath   string            // PATH before GITHUB_PATH additions
	env        map[string]string // the job's env: and what GITHUB_ENV added
	path       []string          // added through GITHUB_PATH, newest first
	cache      *cacheStore       // nil: every actions/cache step misses
	saves      map[string]string // cache key -> path, saved when the job ends

	// github.action_ref and github.action_repository: empty, as on GitHub
	// for an action used by a local path (uses: ./actions/setup).
	actionRef, actionRepository string
}

// cacheStore stands in for the Actions cache service across jobs.
type cacheStore struct {
	dir     string
	entries map[string]string // key -> saved copy
}

// actionRun is the result of running one action.
type actionRun struct {
	outputs   map[string]string
	steps     map[string]map[string]string // step id -> its outputs
	logs      map[string]string            // step id -> stdout and stderr
	with      map[string]map[string]string // step id -> evaluated with: of uses steps
	skipped   []string                     // ids of steps whose if: was false
	summary   string
	stepError error
}

func newJob(t testing.TB) *job {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			t.Fatalf("no go on PATH nor in $GOROOT/bin: the actions build promote with it")
		}
	}
	return &job{
		t:          t,
		repo:       repoRoot(t),
		workspace:  t.TempDir(),
		runnerTemp: t.TempDir(),
		basePath:   filepath.Dir(goBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		env:        map[string]string{},
		saves:      map[string]string{},
	}
}

// baseEnv is what the runner gives every step, before GITHUB_ENV and the
// step's env:. It starts empty rather than from os.Environ so that a test run
// inside GitHub Actions cannot write to the real job's GITHUB_OUTPUT.
func (j *job) baseEnv() map[string]string {
	env := map[string]string{
		"CI":               "true",
		"GITHUB_ACTIONS":   "true",
		"GITHUB_WORKSPACE": j.workspace,
		"RUNNER_TEMP":      j.runnerTemp,
		"RUNNER_OS":        "Linux",
		"RUNNER_ARCH":      "X64",
		"HOME":             os.Getenv("HOME"),
		"PATH":             strings.Join(append(slices.Clone(j.path), j.basePath), string(os.PathListSeparator)),
		"TMPDIR":           os.TempDir(),
	}
	// The Go settings of the test run (module proxy, caches) carry over, so
	// building promote reuses the build cache instead of starting cold.
	for _, kv := range os.Environ() {
		if name, value, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "GO") {
			env[name] = value
		}
	}
	return env
}

// run runs the composite action in dir with the given inputs. fakes replaces
// the steps with those ids by the given outputs, without running them.
func (j *job) run(ctx context.Context, dir string, inputs map[string]string, fakes map[string]map[string]string) actionRun {
	j.t.Helper()
	action := readAction(j.t, dir)
	for name := range inputs {
		if _, ok := action.Inputs[name]; !ok {
			j.t.Fatalf("%s has no input %q", dir, name)
		}
	}
	ec := &exprContext{
		inputs:     map[string]string{},
		actionPath: dir,
		steps:      map[string]map[string]string{},
		runner:     map[string]string{"os": "Linux", "arch": "X64", "temp": j.runnerTemp},
		github:     map[string]string{"action_ref": j.actionRef, "action_repository": j.actionRepository},
	}
	for name, in := range action.Inputs {
		ec.inputs[name] = in.Default
		if v, ok := inputs[name]; ok {
			ec.inputs[name] = v
		}
	}

	res := actionRun{logs: map[string]string{}, with: map[string]map[string]string{}}
	var summary strings.Builder
	for i, step := range action.Runs.Steps {
		id := step.ID
		if id == "" {
			id = fmt.Sprintf("__%d", i) // the runner's name for a step without id
		}
		outputs, skipped, log, err := j.step(ctx, ec, dir, step, fakes[step.ID], &summary, &res)
		ec.steps[id] = outputs
		res.logs[id] = log
		if skipped {
			res.skipped = append(res.skipped, id)
		}
		if err != nil {
			// As on GitHub, a failed step fails the action and the rest
			// does not run.
			res.stepError = fmt.Errorf("step %s: %w\n%s", id, err, log)
			for _, rest := range action.Runs.Steps[i+1:] {
				ec.steps[rest.ID] = map[string]string{}
			}
			break
		}
	}
	res.summary = summary.String()
	res.steps = ec.steps
	res.outputs = map[string]string{}
	for name, out := range action.Outputs {
		v, err := ec.eval(out.Value)
		if err != nil {
			j.t.Fatalf("output %s: %v", name, err)
		}
		res.outputs[name] = v
	}
	return res
}

// step runs one step and returns its outputs.
func (j *job) step(ctx context.Context, ec *exprContext, dir string, step compositeStep, fake map[string]string, summary *strings.Builder, res *actionRun) (outputs map[string]string, skipped bool, log string, err error) {
	t := j.t
	t.Helper()
	if step.WorkingDirectory != "" {
		t.Fatalf("step %s: the simulated runner does not support working-directory", step.ID)
	}
	if step.If != "" {
		ok, err := ec.condition(step.If)
		if err != nil {
			t.Fatalf("step %s: if: %v", step.ID, err)
		}
		if !ok {
			return map[string]string{}, true, "", nil
		}
	}
	if fake != nil {
		return fake, false, "", nil
	}

	switch {
	case step.Uses != "":
		with := map[string]string{}
		for k, v := range step.With {
			if with[k], err = ec.eval(v); err != nil {
				t.Fatalf("step %s: with.%s: %v", step.ID, k, err)
			}
		}
		res.with[step.ID] = with
		if !strings.HasPrefix(step.Uses, "actions/cache@") {
			t.Fatalf("step %s: the simulated runner knows only actions/cache, not %q", step.ID, step.Uses)
		}
		return j.restore(with["key"], with["path"]), false, "", nil

	case step.Run != "":
		// Composite actions have no default shell; the runner refuses a
		// run step without one.
		if step.Shell != "bash" {
			t.Fatalf("step %s: shell = %q, want bash", step.ID, step.Shell)
		}
		return j.runScript(ctx, ec, dir, step, summary)
	}
	t.Fatalf("step %s has neither uses nor run", step.ID)
	return nil, false, "", nil
}

// runScript runs a run: step like the runner's `shell: bash`.
func (j *job) runScript(ctx context.Context, ec *exprContext, dir string, step compositeStep, summary *strings.Builder) (map[string]string, bool, string, error) {
	t := j.t
	t.Helper()
	files := t.TempDir()
	script := filepath.Join(files, "script.sh")
	if err := os.WriteFile(script, []byte(step.Run), 0o600); err != nil {
		t.Fatal(err)
	}
	env := j.baseEnv()
	maps.Copy(env, j.env)
	for k, v := range step.Env {
		var err error
		if env[k], err = ec.eval(v); err != nil {
			t.Fatalf("step %s: env.%s: %v", step.ID, k, err)
		}
	}
	// The runner gives each step fresh command files and the action path.
	env["GITHUB_ACTION_PATH"] = dir
	for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"} {
		env[name] = filepath.Join(files, name)
		if err := os.WriteFile(env[name], nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// bash is looked up on the step's PATH, as the runner does.
	bash := lookPath(t, "bash", env["PATH"])
	cmd := exec.CommandContext(ctx, bash, "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir = j.workspace
	cmd.Env = nil
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	log := out.String()

	read := func(name string) string {
		data, err := os.ReadFile(env[name])
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	outputs, err := actionstest.Values(read("GITHUB_OUTPUT"))
	if err != nil {
		t.Fatalf("step %s: GITHUB_OUTPUT: %v", step.ID, err)
	}
	added, err := actionstest.Values(read("GITHUB_ENV"))
	if err != nil {
		t.Fatalf("step %s: GITHUB_ENV: %v", step.ID, err)
	}
	maps.Copy(j.env, added)
	for _, p := range strings.Split(read("GITHUB_PATH"), "\n") {
		if p = strings.TrimSpace(p); p != "" {
			j.path = append([]string{p}, j.path...)
		}
	}
	summary.WriteString(read("GITHUB_STEP_SUMMARY"))
	return outputs, false, log, runErr
}

// restore plays actions/cache: a hit copies the saved directory back, a miss
// remembers the path to save when the job ends.
func (j *job) restore(key, path string) map[string]string {
	t := j.t
	t.Helper()
	if key == "" || path == "" {
		t.Fatalf("actions/cache with key %q and path %q: both are required", key, path)
	}
	if j.cache != nil {
		if saved, ok := j.cache.entries[key]; ok {
			copyDir(t, saved, path)
			return map[string]string{"cache-hit": "true"}
		}
	}
	j.saves[key] = path
	return map[string]string{"cache-hit": ""}
}

// end plays the post steps of actions/cache: save what missed.
func (j *job) end() {
	if j.cache == nil {
		return
	}
	for key, path := range j.saves {
		saved := filepath.Join(j.cache.dir, fmt.Sprint(len(j.cache.entries)))
		copyDir(j.t, path, saved)
		j.cache.entries[key] = saved
	}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

func lookPath(t testing.TB, name, path string) string {
	t.Helper()
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s is not on PATH %s", name, path)
	return ""
}

// exprContext evaluates the few expression forms the actions use.
type exprContext struct {
	inputs     map[string]string
	actionPath string
	steps      map[string]map[string]string // steps that ran or were skipped so far
	runner     map[string]string
	github     map[string]string
}

var (
	expression = regexp.MustCompile(`\$\{\{(.*?)\}\}`)
	inputsRef  = regexp.MustCompile(`^inputs\.([A-Za-z_][A-Za-z0-9_-]*)$`)
	stepsRef   = regexp.MustCompile(`^steps\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs\.([A-Za-z0-9_-]+)$`)
	runnerRef  = regexp.MustCompile(`^runner\.(os|arch|temp)$`)
	githubRef  = regexp.MustCompile(`^github\.(action_ref|action_repository)$`)
	comparison = regexp.MustCompile(`^(\S+)\s*(==|!=)\s*'([^']*)'$`)
)

// eval replaces every ${{ }} in s.
func (c *exprContext) eval(s string) (string, error) {
	var firstErr error
	out := expression.ReplaceAllStringFunc(s, func(m string) string {
		v, err := c.value(strings.TrimSpace(m[3 : len(m)-2]))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return out, firstErr
}

// value resolves one reference.
func (c *exprContext) value(ref string) (string, error) {
	if m := inputsRef.FindStringSubmatch(ref); m != nil {
		v, ok := c.inputs[m[1]]
		if !ok {
			return "", fmt.Errorf("${{ %s }}: the action declares no input %q", ref, m[1])
		}
		return v, nil
	}
	if m := stepsRef.FindStringSubmatch(ref); m != nil {
		outputs, ok := c.steps[m[1]]
		if !ok {
			return "", fmt.Errorf("${{ %s }}: no step %q ran before this one", ref, m[1])
		}
		return outputs[m[2]], nil // a missing output is empty, as on GitHub
	}
	if m := runnerRef.FindStringSubmatch(ref); m != nil {
		return c.runner[m[1]], nil
	}
	if m := githubRef.FindStringSubmatch(ref); m != nil {
		return c.github[m[1]], nil
	}
	if ref == "github.action_path" {
		return c.actionPath, nil
	}
	return "", fmt.Errorf("${{ %s }}: the simulated runner does not evaluate this expression; teach it in run_test.go if the action needs it", ref)
}

// condition evaluates an if: of the form `<reference> == '<text>'` or `!=`.
func (c *exprContext) condition(s string) (bool, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "${{") && strings.HasSuffix(s, "}}") {
		s = strings.TrimSpace(s[3 : len(s)-2])
	}
	m := comparison.FindStringSubmatch(s)
	if m == nil {
		return false, fmt.Errorf("%q: the simulated runner evaluates only `<reference> == '<text>'` and `!=`", s)
	}
	v, err := c.value(m[1])
	if err != nil {
		return false, err
	}
	return (v == m[3]) == (m[2] == "=="), nil
}

// testContext gives the commands of a test time to finish before go test's
// own deadline, so that a slow build reports its log instead of a panic.
func testContext(t *testing.T) context.Context {
	t.Helper()
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-30*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// TestPlanAction runs actions/plan twice in one job, then the root action in
// the same job, then actions/plan in a second job that restores the binary
// from the cache the first one saved.
func TestPlanAction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds promote from source; skipped with -short")
	}
	t.Parallel()
	ctx := testContext(t)
	j := newJob(t)
	j.cache = &cacheStore{dir: t.TempDir(), entries: map[string]string{}}
	manifest := filepath.Join(j.repo, "examples", "promotion.yaml")
	planDir := filepath.Join(j.repo, "actions", "plan")
	inputs := map[string]string{"manifest": manifest, "to": "staging"}

	checkPlan := func(t *testing.T, res actionRun, wantServices ...string) {
		t.Helper()
		var plan map[string]any
		if err := json.Unmarshal([]byte(res.outputs["plan"]), &plan); err != nil {
			t.Fatalf("output plan is not a JSON object: %v\n%s", err, res.outputs["plan"])
		}
		for _, key := range []string{"version", "nodes"} {
			if _, ok := plan[key]; !ok {
				t.Errorf("output plan has no %q: %s", key, res.outputs["plan"])
			}
		}
		var matrix []any
		if err := json.Unmarshal([]byte(res.outputs["matrix"]), &matrix); err != nil {
			t.Errorf("output matrix is not a JSON array: %v\n%s", err, res.outputs["matrix"])
		}
		var services []string
		if err := json.Unmarshal([]byte(res.outputs["services"]), &services); err != nil {
			t.Errorf("output services is not a JSON array of strings: %v\n%s", err, res.outputs["services"])
		}
		for _, want := range wantServices {
			if !slices.Contains(services, want) {
				t.Errorf("output services = %v, want it to contain %s", services, want)
			}
		}
		if strings.TrimSpace(res.summary) == "" {
			t.Error("the step summary is empty")
		}
	}

	var hash string
	t.Run("first run builds promote", func(t *testing.T) {
		res := j.run(ctx, planDir, inputs, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		hash = res.steps["prepare"]["hash"]
		checkPlan(t, res, "service-a")
		if !strings.Contains(res.logs["install"], "building promote") {
			t.Errorf("install log = %q, want it to build promote", res.logs["install"])
		}
		// The repository's own source pins no release: it says so.
		if !strings.Contains(res.logs["prepare"], "building promote from source: this action pins no release binaries") || res.steps["prepare"]["from"] != "source" {
			t.Errorf("prepare log = %q, from = %q; want a source build because no release is pinned", res.logs["prepare"], res.steps["prepare"]["from"])
		}
		with := res.with["cache"]
		if !strings.Contains(with["key"], "Linux-X64-") || !strings.HasPrefix(with["path"], j.runnerTemp) {
			t.Errorf("actions/cache got key %q and path %q, want a Linux-X64 key and a path in RUNNER_TEMP", with["key"], with["path"])
		}
		if j.env["PROMOTE_BIN"] == "" || j.env["PROMOTE_SOURCE_HASH"] != hash {
			t.Errorf("GITHUB_ENV additions = %v, want PROMOTE_BIN and PROMOTE_SOURCE_HASH=%s", j.env, hash)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("second run in the job skips the install", func(t *testing.T) {
		// This time with every input, to see each one reach promote.
		planFile := filepath.Join(j.workspace, "plan.json")
		res := j.run(ctx, planDir, map[string]string{
			"manifest":        manifest,
			"from":            "dev",
			"to":              "staging",
			"services":        "service-b",
			"with_dependents": "true",
			"changed_since":   "",
			"plan_file":       planFile,
		}, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		if got := res.steps["prepare"]["hash"]; got != hash {
			t.Fatalf("the source hash changed from %s to %s between two runs: were files edited during the test?", hash, got)
		}
		if !strings.Contains(res.logs["install"], "already installed in this job") {
			t.Errorf("install log = %q, want it to skip the install", res.logs["install"])
		}
		if !slices.Contains(res.skipped, "cache") {
			t.Errorf("skipped steps = %v, want the cache restore skipped", res.skipped)
		}
		// service-c depends on service-b: with_dependents brings it in.
		checkPlan(t, res, "service-b", "service-c")
		if res.outputs["plan_file"] != planFile {
			t.Errorf("output plan_file = %q, want %q", res.outputs["plan_file"], planFile)
		}
		if _, err := os.Stat(planFile); err != nil {
			t.Errorf("the plan file was not written: %v", err)
		}
	})

	t.Run("promote action runs the plan", func(t *testing.T) {
		res := j.run(ctx, filepath.Join(j.repo, "actions", "promote"), map[string]string{
			"manifest": inputs["manifest"], "to": "dev", "dry_run": "true", "token": "not-used-by-a-dry-run",
		}, nil)
		if res.stepError != nil {
			t.Fatalf("%v\n%s", res.stepError, res.logs["promote"])
		}
		if res.outputs["result"] != "success" || !strings.Contains(res.outputs["succeeded"], `"service-c@dev"`) || res.outputs["status_file"] == "" {
			t.Errorf("outputs = %v, want a successful dry run of the dev nodes", res.outputs)
		}
		if !strings.Contains(res.summary, "## Promotion success") {
			t.Errorf("summary = %q", res.summary)
		}
	})
	t.Run("mesh-check action writes SARIF", func(t *testing.T) {
		res := j.run(ctx, filepath.Join(j.repo, "actions", "mesh-check"), map[string]string{"manifest": manifest}, nil)
		if res.stepError != nil {
			t.Fatalf("%v\n%s", res.stepError, res.logs["check"])
		}
		if res.outputs["errors"] != "0" || res.outputs["warnings"] != "0" {
			t.Errorf("outputs = %v, want no findings in the examples", res.outputs)
		}
		sarif := res.outputs["sarif_file"]
		if !strings.HasPrefix(sarif, j.runnerTemp) {
			t.Errorf("output sarif_file = %q, want a file in RUNNER_TEMP", sarif)
		}
		if data, err := os.ReadFile(sarif); err != nil || !strings.Contains(string(data), `"version": "2.1.0"`) {
			t.Errorf("the SARIF file: %v\n%.200s", err, data)
		}
		if !strings.Contains(res.summary, "service-a") {
			t.Errorf("summary = %q, want the namespaces", res.summary)
		}
	})

	t.Run("mesh-check action does not evaluate paths", func(t *testing.T) {
		res := j.run(ctx, filepath.Join(j.repo, "actions", "mesh-check"), map[string]string{"paths": "$(touch INJECTED)"}, nil)
		if _, err := os.Stat(filepath.Join(j.workspace, "INJECTED")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a paths input ran as a command: INJECTED exists (stat: %v)", err)
		}
		if res.stepError == nil || !strings.Contains(res.logs["check"], "does not exist") {
			t.Errorf("error %v, log %q; want the path refused as a file that does not exist", res.stepError, res.logs["check"])
		}
	})

	t.Run("gate action denies and says why", func(t *testing.T) {
		gateManifest := filepath.Join(j.workspace, "gate-promotion.yaml")
		if err := os.WriteFile(gateManifest, []byte("version: 1\nenvironments: [{name: dev}, {name: prod, protected: true}]\nservices:\n  api: {paths: [\"api/**\"], deploy: {command: ./deploy.sh}}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		res := j.run(ctx, filepath.Join(j.repo, "actions", "gate"), map[string]string{
			"manifest": gateManifest, "service": "api", "environment": "prod",
			"commit": strings.Repeat("0", 40), "break_glass": "$(touch INJECTED)",
		}, nil)
		if _, err := os.Stat(filepath.Join(j.workspace, "INJECTED")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a break_glass input ran as a command: INJECTED exists (stat: %v)", err)
		}
		if res.stepError == nil || res.outputs["result"] != "deny" {
			t.Errorf("error %v, outputs %v; want the step failed with result deny: dev never ran\n%s", res.stepError, res.outputs, res.logs["gate"])
		}
		if !strings.Contains(res.summary, "## Gate") || !strings.Contains(res.summary, "api has not succeeded in dev") {
			t.Errorf("summary = %q, want the decision and its reasons", res.summary)
		}
	})

	t.Run("root action reuses the binary", func(t *testing.T) {
		res := j.run(ctx, j.repo, map[string]string{"command": "version", "args": "--help\n"}, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		if !strings.Contains(res.logs["install"], "already installed in this job") {
			t.Errorf("install log = %q, want it to skip the install", res.logs["install"])
		}
		if !strings.Contains(res.logs["promote"], "promote version") {
			t.Errorf("promote version --help printed %q, want its usage", res.logs["promote"])
		}
	})

	t.Run("root action does not evaluate args", func(t *testing.T) {
		res := j.run(ctx, j.repo, map[string]string{"command": "version", "args": "$(touch INJECTED)"}, nil)
		if _, err := os.Stat(filepath.Join(j.workspace, "INJECTED")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an args line ran as a command: INJECTED exists (stat: %v)", err)
		}
		// promote refuses the argument, and names it as it was written.
		if res.stepError == nil || !strings.Contains(res.logs["promote"], "$(touch INJECTED)") {
			t.Errorf("promote version $(touch INJECTED): error %v, log %q; want it refused with the literal argument", res.stepError, res.logs["promote"])
		}
	})

	t.Run("kpi action computes the KPIs", func(t *testing.T) {
		// A repository with evidence: one promotion by the binary the job
		// installed, sealing records in a local store.
		repo := filepath.Join(j.workspace, "kpi")
		if err := os.MkdirAll(repo, 0o755); err != nil {
			t.Fatal(err)
		}
		manifest := filepath.Join(repo, "promotion.yaml")
		if err := os.WriteFile(manifest, []byte(`version: 1
environments: [{name: dev}]
services:
  api: {paths: ["api/**"], deploy: {command: "echo deployed"}}
evidence:
  store: file://.promote/evidence
  signer: {local: {path: .promote/keys/evidence.pem, algorithm: ed25519}}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, j.env["PROMOTE_BIN"], "run", "--manifest", manifest, "--heartbeat", "0")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PROMOTE_COMMIT="+strings.Repeat("ab", 20))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promote run: %v\n%s", err, out)
		}
		res := j.run(ctx, filepath.Join(j.repo, "actions", "kpi"), map[string]string{"manifest": manifest, "since": "7d"}, nil)
		if res.stepError != nil {
			t.Fatalf("%v\n%s", res.stepError, res.logs["kpi"])
		}
		data, err := os.ReadFile(filepath.Join(j.runnerTemp, "promote-kpi.om"))
		if err != nil {
			t.Fatalf("the OpenMetrics file in RUNNER_TEMP: %v\n%s", err, res.logs["kpi"])
		}
		for _, want := range []string{`promote_promotions_total{environment="dev",result="succeeded",service="api"} 1`, "promote_evidence_chain_ok 1", "# EOF"} {
			if !strings.Contains(string(data), want) {
				t.Errorf("promote-kpi.om lacks %q:\n%s", want, data)
			}
		}
		if strings.TrimSpace(res.summary) == "" {
			t.Error("the step summary is empty")
		}
	})

	j.end()
	t.Run("next job restores from the cache", func(t *testing.T) {
		// RUNNER_TEMP is emptied between jobs on hosted runners but keeps
		// its path, which is part of the cache entry.
		next := newJob(t)
		next.runnerTemp, next.cache = j.runnerTemp, j.cache
		if err := os.RemoveAll(next.runnerTemp); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(next.runnerTemp, 0o755); err != nil {
			t.Fatal(err)
		}
		res := next.run(ctx, planDir, inputs, nil)
		if res.stepError != nil {
			t.Fatal(res.stepError)
		}
		checkPlan(t, res, "service-a")
		if !strings.Contains(res.logs["install"], "restored from the cache") {
			t.Errorf("install log = %q, want the binary restored from the cache", res.logs["install"])
		}
		if next.env["PROMOTE_BIN"] == "" {
			t.Error("the restored binary was not exported as PROMOTE_BIN")
		}
	})
}

// TestRootActionArgs checks how the root action turns its inputs into
// promote's command line. A stub stands in for promote (the install steps are
// faked), so the test shows exactly the argv promote would get.
func TestRootActionArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		command string
		args    string
		want    []string
		wantErr bool
	}{
		{
			what:    "no args",
			command: "version",
			want:    []string{"version"},
		},
		{
			what:    "one argument per line",
			command: "plan",
			args:    "--to=staging\n--services\nservice-a,service-b\n",
			want:    []string{"plan", "--to=staging", "--services", "service-a,service-b"},
		},
		{
			what:    "spaces stay inside an argument",
			command: "plan",
			args:    "--to production\n  indented",
			want:    []string{"plan", "--to production", "  indented"},
		},
		{
			what:    "empty and blank lines are dropped, CR of CRLF too",
			command: "plan",
			args:    "\n--a\r\n   \n\t\n--b\r\n\n",
			want:    []string{"plan", "--a", "--b"},
		},
		{
			what:    "shell syntax stays literal",
			command: "version",
			args:    "$(touch INJECTED)\n`touch INJECTED`\n; touch INJECTED\n*\n$HOME\n'quoted'\n\"double\"\n--help",
			want:    []string{"version", "$(touch INJECTED)", "`touch INJECTED`", "; touch INJECTED", "*", "$HOME", "'quoted'", `"double"`, "--help"},
		},
		{
			what:    "mesh-check is promote mesh check",
			command: "mesh-check",
			args:    "--format=sarif",
			want:    []string{"mesh", "check", "--format=sarif"},
		},
		{
			what:    "empty command",
			command: "",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			j := newJob(t)
			argv := filepath.Join(j.workspace, "argv")
			stub := filepath.Join(t.TempDir(), "promote")
			if err := os.WriteFile(stub, []byte("#!/usr/bin/env bash\nprintf '%s\\0' \"$@\" >"+shellQuote(argv)+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			res := j.run(testContext(t), j.repo, map[string]string{"command": tt.command, "args": tt.args}, map[string]map[string]string{
				"prepare": {"installed": "true"},
				"install": {"path": stub},
			})
			if _, err := os.Stat(filepath.Join(j.workspace, "INJECTED")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("an args line ran as a command: INJECTED exists (stat: %v)", err)
			}
			if tt.wantErr {
				if res.stepError == nil {
					t.Fatal("the action succeeded, want it to fail")
				}
				if !strings.Contains(res.logs["promote"], "::error") {
					t.Errorf("log = %q, want an ::error annotation", res.logs["promote"])
				}
				return
			}
			if res.stepError != nil {
				t.Fatal(res.stepError)
			}
			data, err := os.ReadFile(argv)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("promote's arguments (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetupWithoutGo checks that a job without Go fails with a message that
// says how to fix it.
func TestSetupWithoutGo(t *testing.T) {
	t.Parallel()
	j := newJob(t)
	// A PATH with the usual tools but no go.
	j.basePath = pathWithout(t, "go")
	res := j.run(testContext(t), filepath.Join(j.repo, "actions", "setup"), nil, nil)
	if res.stepError == nil {
		t.Fatal("setup succeeded without go, want it to fail")
	}
	log := res.logs["prepare"]
	for _, want := range []string{"::error", "go is not installed", "actions/setup-go"} {
		if !strings.Contains(log, want) {
			t.Errorf("prepare log = %q, want it to contain %q", log, want)
		}
	}
}

// shellQuote quotes s for a bash script.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
