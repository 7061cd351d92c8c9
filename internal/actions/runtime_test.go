package actions

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testRuntime is a Runtime wired to files in a temporary directory and to a
// buffer standing in for standard output.
type testRuntime struct {
	*Runtime
	stdout *bytes.Buffer
	dir    string
	env    map[string]string
}

// newTestRuntime returns a Runtime that runs "on GitHub Actions", with every
// GITHUB_* file in t.TempDir(). Entries of env override or add variables; an
// empty value unsets one.
func newTestRuntime(t *testing.T, env map[string]string, opts ...Option) *testRuntime {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_ENV":          filepath.Join(dir, "env"),
		"GITHUB_PATH":         filepath.Join(dir, "path"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
	for k, v := range env {
		vars[k] = v
	}
	stdout := &bytes.Buffer{}
	getenv := func(k string) string { return vars[k] }
	opts = append([]Option{WithGetenv(getenv), WithStdout(stdout)}, opts...)
	return &testRuntime{Runtime: New(opts...), stdout: stdout, dir: dir, env: vars}
}

// file returns the contents of the file named by the environment variable
// env, or "" if it does not exist.
func (tr *testRuntime) file(t *testing.T, env string) string {
	t.Helper()
	b, err := os.ReadFile(tr.env[env])
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lines returns what the Runtime wrote to standard output, one line each.
func (tr *testRuntime) lines() []string {
	s := strings.TrimSuffix(tr.stdout.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what  string
		value string
		want  bool
	}{
		{what: "on Actions", value: "true", want: true},
		{what: "unset", value: "", want: false},
		{what: "false", value: "false", want: false},
		{what: "not exactly true", value: "TRUE", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, map[string]string{"GITHUB_ACTIONS": tt.value})
			if got := rt.Enabled(); got != tt.want {
				t.Errorf("Enabled() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDisabledDoesNothing(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, map[string]string{"GITHUB_ACTIONS": "", "INPUT_MAX_PARALLEL": "9"})

	calls := []struct {
		what string
		call func() error
	}{
		{what: "SetOutput", call: func() error { return rt.SetOutput("a", "b") }},
		{what: "SetOutput with a bad name", call: func() error { return rt.SetOutput("a b", "b") }},
		{what: "SetEnv", call: func() error { return rt.SetEnv("A", "b") }},
		{what: "AddPath", call: func() error { return rt.AddPath("/opt/bin") }},
		{what: "Annotate", call: func() error { return rt.Annotate(Annotation{Level: Error, Message: "m"}) }},
		{what: "Group", call: func() error { return rt.Group("g") }},
		{what: "EndGroup", call: rt.EndGroup},
		{what: "Debugf", call: func() error { return rt.Debugf("d %d", 1) }},
		{what: "Mask", call: func() error { return rt.Mask("secret") }},
		{what: "AddSummary", call: func() error { rt.AddSummary("# hi\n"); return nil }},
		{what: "Flush", call: rt.Flush},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s() = %v, want nil", c.what, err)
		}
	}

	if got := rt.stdout.String(); got != "" {
		t.Errorf("stdout = %q, want nothing", got)
	}
	entries, err := os.ReadDir(rt.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("files written: %v, want none", entries)
	}
	if got := rt.Input("max_parallel"); got != "" {
		t.Errorf("Input(%q) = %q, want %q", "max_parallel", got, "")
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	n := fs.Int("max-parallel", 1, "")
	if err := rt.ApplyInputs(fs); err != nil {
		t.Errorf("ApplyInputs() = %v, want nil", err)
	}
	if *n != 1 {
		t.Errorf("max-parallel = %d after ApplyInputs, want the default 1", *n)
	}
	if got := rt.Overflow(); len(got) != 0 {
		t.Errorf("Overflow() = %v, want none", got)
	}
	// Mask still remembers the secret off Actions.
	if got, want := rt.Redact("the secret"), "the ***"; got != want {
		t.Errorf("Redact() = %q, want %q", got, want)
	}
}

func TestInput(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, map[string]string{
		"INPUT_ENVIRONMENT":  "  production \n",
		"INPUT_MAX_PARALLEL": "4",
	})
	tests := []struct {
		what string
		name string
		want string
	}{
		{what: "trimmed", name: "environment", want: "production"},
		{what: "snake_case", name: "max_parallel", want: "4"},
		{what: "dash means underscore", name: "max-parallel", want: "4"},
		{what: "case-insensitive", name: "Max_Parallel", want: "4"},
		{what: "unset", name: "dry_run", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			if got := rt.Input(tt.name); got != tt.want {
				t.Errorf("Input(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestApplyInputs(t *testing.T) {
	t.Parallel()
	type opts struct {
		MaxParallel int
		DryRun      bool
		Environment string
	}
	tests := []struct {
		what    string
		args    []string
		env     map[string]string
		want    opts
		wantErr []string // substrings of the error; nil means no error
	}{
		{
			what: "defaults without inputs",
			want: opts{MaxParallel: 1, Environment: "staging"},
		},
		{
			what: "input fills an unset flag",
			env:  map[string]string{"INPUT_MAX_PARALLEL": "5", "INPUT_DRY_RUN": "true", "INPUT_ENVIRONMENT": "prod"},
			want: opts{MaxParallel: 5, DryRun: true, Environment: "prod"},
		},
		{
			what: "command line wins over input",
			args: []string{"-max-parallel=3", "-environment", "qa"},
			env:  map[string]string{"INPUT_MAX_PARALLEL": "5", "INPUT_ENVIRONMENT": "prod", "INPUT_DRY_RUN": "true"},
			want: opts{MaxParallel: 3, DryRun: true, Environment: "qa"},
		},
		{
			what: "command line wins even with the default value",
			args: []string{"-max-parallel=1"},
			env:  map[string]string{"INPUT_MAX_PARALLEL": "5"},
			want: opts{MaxParallel: 1, Environment: "staging"},
		},
		{
			what: "blank input keeps the default",
			env:  map[string]string{"INPUT_MAX_PARALLEL": "  ", "INPUT_ENVIRONMENT": ""},
			want: opts{MaxParallel: 1, Environment: "staging"},
		},
		{
			what:    "bad value names the input",
			env:     map[string]string{"INPUT_MAX_PARALLEL": "x", "INPUT_ENVIRONMENT": "prod"},
			want:    opts{MaxParallel: 1, Environment: "prod"},
			wantErr: []string{`input "max_parallel": invalid value "x": `},
		},
		{
			what: "every bad value is reported",
			env:  map[string]string{"INPUT_MAX_PARALLEL": "x", "INPUT_DRY_RUN": "maybe"},
			want: opts{MaxParallel: 1, Environment: "staging"},
			wantErr: []string{
				`input "dry_run": invalid value "maybe": `,
				`input "max_parallel": invalid value "x": `,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, tt.env)
			var got opts
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.IntVar(&got.MaxParallel, "max-parallel", 1, "")
			fs.BoolVar(&got.DryRun, "dry-run", false, "")
			fs.StringVar(&got.Environment, "environment", "staging", "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := rt.ApplyInputs(fs)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("ApplyInputs() = %v, want nil", err)
			case tt.wantErr != nil && err == nil:
				t.Errorf("ApplyInputs() = nil, want an error containing %q", tt.wantErr)
			case err != nil:
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("ApplyInputs() = %q, want it to contain %q", err, want)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("flags after ApplyInputs() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		env  map[string]string
		want string
	}{
		{
			what: "with attempt",
			env: map[string]string{
				"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "promote-dev/promote",
				"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
			},
			want: "https://github.com/promote-dev/promote/actions/runs/42/attempts/2",
		},
		{
			what: "GHES without attempt",
			env: map[string]string{
				"GITHUB_SERVER_URL": "https://ghe.example.com/", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7",
			},
			want: "https://ghe.example.com/o/r/actions/runs/7",
		},
		{
			what: "default server",
			env:  map[string]string{"GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"},
			want: "https://github.com/o/r/actions/runs/7",
		},
		{
			what: "no run",
			env:  map[string]string{"GITHUB_REPOSITORY": "o/r"},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, tt.env)
			if got := rt.RunURL(); got != tt.want {
				t.Errorf("RunURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, map[string]string{
		"GITHUB_REPOSITORY": "promote-dev/promote",
		"GITHUB_SHA":        "0123abcd",
		"GITHUB_REF":        "refs/heads/main",
		"GITHUB_RUN_ID":     "42",
	})
	c, err := rt.Context()
	if err != nil {
		t.Fatalf("Context() error = %v", err)
	}
	type summary struct {
		Repository, SHA, Ref string
		RunID                int64
	}
	want := summary{Repository: "promote-dev/promote", SHA: "0123abcd", Ref: "refs/heads/main", RunID: 42}
	got := summary{Repository: c.Repository, SHA: c.SHA, Ref: c.Ref, RunID: c.RunID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Context() (-want +got):\n%s", diff)
	}
}

// TestConcurrentUse gives the race detector every method at once.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	const workers = 8
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("out_%d", i)
			if err := rt.SetOutput(name, "line1\nline2"); err != nil {
				t.Error(err)
			}
			if err := rt.Mask(fmt.Sprintf("secret-%d", i)); err != nil {
				t.Error(err)
			}
			if err := rt.Annotate(Annotation{Level: Warning, Message: name}); err != nil {
				t.Error(err)
			}
			rt.AddSummary(name + "\n")
			_ = rt.Redact("secret-0")
			if err := rt.Flush(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	if got := len(parseFileCommands(t, rt.file(t, "GITHUB_OUTPUT"))); got != workers {
		t.Errorf("outputs written = %d, want %d", got, workers)
	}
	if got := strings.Count(rt.file(t, "GITHUB_STEP_SUMMARY"), "out_"); got != workers {
		t.Errorf("summary lines = %d, want %d", got, workers)
	}
	for _, line := range rt.lines() {
		if !strings.HasPrefix(line, "::") {
			t.Errorf("stdout line %q is not a whole workflow command", line)
		}
	}
}
