package actions_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// The lint below enforces the rules of STYLE.md habit 10 that actionlint
// does not: actionlint checks workflows, and composite action.yml files only
// as far as workflows use them.

// fileKind tells which rules apply to a YAML file.
type fileKind int

const (
	actionFile fileKind = iota
	workflowFile
)

// problem is one broken rule, printed like actionlint's findings.
type problem struct {
	line int
	msg  string
}

func (p problem) String() string { return fmt.Sprintf("%d: %s", p.line, p.msg) }

var (
	// A third-party action pinned to a full commit SHA.
	pinnedUses = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[0-9a-f]{40}$`)
	// The release the SHA stands for, in a comment on the same line.
	versionComment = regexp.MustCompile(`#\s*v\d+\.\d+\.\d+\b`)
	// Promote's own actions, which the example workflows use, have no
	// release yet: they are pinned to a commit of main, and say so.
	ownMainComment = regexp.MustCompile(`#\s*main\b`)
	snakeCase      = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	inputRef       = regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}`)
	stepOutputRef  = regexp.MustCompile(`^\$\{\{\s*steps\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs\.[A-Za-z0-9_-]+\s*\}\}$`)
)

// lint returns the problems of one action.yml or workflow file.
func lint(kind fileKind, data []byte) ([]problem, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("top level is not a mapping")
	}
	root := doc.Content[0]
	lines := strings.Split(string(data), "\n")
	var problems []problem
	report := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, problem{n.Line, fmt.Sprintf(format, args...)})
	}

	eachPair(root, func(key, value *yaml.Node) {
		switch {
		case key.Value == "run" && value.Kind == yaml.ScalarNode:
			// An expression in a script is expanded before the shell sees
			// it: script injection. Values reach scripts through env.
			if strings.Contains(value.Value, "${{") {
				report(value, "run: contains ${{ }}; map the value to an env: variable and use that")
			}
		case key.Value == "uses" && value.Kind == yaml.ScalarNode:
			if strings.HasPrefix(value.Value, "./") {
				return
			}
			if !pinnedUses.MatchString(value.Value) {
				report(value, "uses: %q is not pinned to a full commit SHA", value.Value)
			} else if !versionComment.MatchString(lines[value.Line-1]) &&
				!(strings.HasPrefix(value.Value, "promote-dev/promote/") && ownMainComment.MatchString(lines[value.Line-1])) {
				report(value, "uses: %q has no `# vX.Y.Z` comment naming the release", value.Value)
			}
		}
	})

	switch kind {
	case workflowFile:
		if lookup(root, "permissions") == nil {
			report(root, "workflow has no top-level permissions:; start from `contents: read`")
		}
	case actionFile:
		problems = append(problems, lintAction(root)...)
	}
	return problems, nil
}

// lintAction checks what only composite actions have: inputs, outputs and
// steps.
func lintAction(root *yaml.Node) []problem {
	var problems []problem
	report := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, problem{n.Line, fmt.Sprintf(format, args...)})
	}

	stepIDs := map[string]bool{}
	mapped := map[string]bool{} // inputs used in some step's env:
	if steps := lookup(lookup(root, "runs"), "steps"); steps != nil {
		for _, step := range steps.Content {
			if id := lookup(step, "id"); id != nil {
				stepIDs[id.Value] = true
			}
			if run := lookup(step, "run"); run != nil && lookup(step, "shell") == nil {
				report(step, "run step has no shell:; composite actions require one (shell: bash)")
			}
			eachPair(lookup(step, "env"), func(_, value *yaml.Node) {
				for _, m := range inputRef.FindAllStringSubmatch(value.Value, -1) {
					mapped[m[1]] = true
				}
			})
		}
	}

	eachPair(lookup(root, "inputs"), func(name, input *yaml.Node) {
		if input.Kind != yaml.MappingNode {
			return // the fields of an input, visited by eachPair's recursion
		}
		if !snakeCase.MatchString(name.Value) {
			report(name, "input %q is not snake_case", name.Value)
		}
		if d := lookup(input, "description"); d == nil || strings.TrimSpace(d.Value) == "" {
			report(name, "input %q has no description; say what it does and list its allowed values", name.Value)
		}
		if !mapped[name.Value] {
			report(name, "input %q is not mapped to env: as ${{ inputs.%s }} in any step", name.Value, name.Value)
		}
	})

	eachPair(lookup(root, "outputs"), func(name, output *yaml.Node) {
		if output.Kind != yaml.MappingNode {
			return
		}
		value := lookup(output, "value")
		if value == nil {
			report(name, "output %q has no value", name.Value)
			return
		}
		m := stepOutputRef.FindStringSubmatch(value.Value)
		switch {
		case m == nil:
			report(value, "output %q is %q, not ${{ steps.<id>.outputs.<name> }}", name.Value, value.Value)
		case !stepIDs[m[1]]:
			report(value, "output %q refers to step %q, which does not exist", name.Value, m[1])
		}
	})
	return problems
}

// eachPair calls fn for every key and value of every mapping below n,
// outermost first.
func eachPair(n *yaml.Node, fn func(key, value *yaml.Node)) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			eachPair(c, fn)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			fn(n.Content[i], n.Content[i+1])
			eachPair(n.Content[i+1], fn)
		}
	}
}

// lookup returns the value of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// repoRoot is the module root: go test runs in this package's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestLintRepository runs the lint over every action and workflow of the
// repository.
func TestLintRepository(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files := map[string]fileKind{}
	for _, pattern := range []string{"action.yml", "actions/*/action.yml"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			files[m] = actionFile
		}
	}
	for _, pattern := range []string{".github/workflows/*.yml", ".github/workflows/*.yaml", "examples/.github/workflows/*.yml", "examples/.github/workflows/*.yaml"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			files[m] = workflowFile
		}
	}
	// Guard against a lint that passes because it found nothing.
	for _, want := range []string{"action.yml", "actions/setup/action.yml", "actions/plan/action.yml", "actions/promote/action.yml", ".github/workflows/ci.yml", ".github/workflows/plan.yml", ".github/workflows/release.yml", "examples/.github/workflows/deploy.yml"} {
		if _, ok := files[filepath.Join(root, want)]; !ok {
			t.Errorf("%s is missing", want)
		}
	}

	for path, kind := range files {
		rel, _ := filepath.Rel(root, path)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			problems, err := lint(kind, data)
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			for _, p := range problems {
				t.Errorf("%s:%v", rel, p)
			}
		})
	}
}

// TestLintFinds keeps the lint honest: each rule catches what it is for.
func TestLintFinds(t *testing.T) {
	t.Parallel()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		what string
		kind fileKind
		yaml string
		want []string
	}{
		{
			what: "clean action",
			kind: actionFile,
			yaml: `
inputs:
  to_env: {description: Target environment., default: ""}
outputs:
  plan: {description: The plan., value: "${{ steps.plan.outputs.plan }}"}
runs:
  using: composite
  steps:
    - uses: actions/cache@` + sha + ` # v4.3.0
    - id: plan
      shell: bash
      env: {TO: "${{ inputs.to_env }}"}
      run: echo "$TO"
`,
		},
		{
			what: "expression in run",
			kind: workflowFile,
			yaml: `
permissions: {}
jobs:
  a:
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
`,
			want: []string{"6: run: contains ${{ }}; map the value to an env: variable and use that"},
		},
		{
			what: "unpinned and uncommented uses",
			kind: workflowFile,
			yaml: `
permissions: {}
jobs:
  a:
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-go@` + sha + `
      - uses: actions/cache@` + sha + ` # v4
      - uses: ./actions/plan
      - uses: promote-dev/promote/actions/plan@` + sha + ` # main (no release yet)
      - uses: actions/cache@` + sha + ` # main
`,
			want: []string{
				`6: uses: "actions/checkout@v5" is not pinned to a full commit SHA`,
				`7: uses: "actions/setup-go@` + sha + `" has no ` + "`# vX.Y.Z`" + ` comment naming the release`,
				`8: uses: "actions/cache@` + sha + `" has no ` + "`# vX.Y.Z`" + ` comment naming the release`,
				`11: uses: "actions/cache@` + sha + `" has no ` + "`# vX.Y.Z`" + ` comment naming the release`,
			},
		},
		{
			what: "workflow without permissions",
			kind: workflowFile,
			yaml: "on: push\njobs: {}\n",
			want: []string{"1: workflow has no top-level permissions:; start from `contents: read`"},
		},
		{
			what: "bad inputs",
			kind: actionFile,
			yaml: `
inputs:
  dryRun: {description: "true or false.", default: "false"}
  quiet: {default: "false"}
runs:
  using: composite
  steps:
    - shell: bash
      env: {DRY_RUN: "${{ inputs.dryRun }}"}
      run: "true"
`,
			want: []string{
				`3: input "dryRun" is not snake_case`,
				`4: input "quiet" has no description; say what it does and list its allowed values`,
				`4: input "quiet" is not mapped to env: as ${{ inputs.quiet }} in any step`,
			},
		},
		{
			what: "bad outputs and a run step without shell",
			kind: actionFile,
			yaml: `
outputs:
  plan: {value: "${{ steps.missing.outputs.plan }}"}
  matrix: {value: "${{ steps.plan.outputs.matrix || '[]' }}"}
runs:
  using: composite
  steps:
    - id: plan
      run: "true"
`,
			want: []string{
				"8: run step has no shell:; composite actions require one (shell: bash)",
				`3: output "plan" refers to step "missing", which does not exist`,
				`4: output "matrix" is "${{ steps.plan.outputs.matrix || '[]' }}", not ${{ steps.<id>.outputs.<name> }}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			problems, err := lint(tt.kind, []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lint problems (-want +got):\n%s", diff)
			}
		})
	}
}

// compositeStep is the part of a composite action's step this package reads.
type compositeStep struct {
	ID    string            `yaml:"id"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	Shell string            `yaml:"shell"`
	Run   string            `yaml:"run"`
	Env   map[string]string `yaml:"env"`
	With  map[string]string `yaml:"with"`

	WorkingDirectory string `yaml:"working-directory"`
}

// compositeAction is an action.yml of a composite action.
type compositeAction struct {
	Inputs map[string]struct {
		Description string `yaml:"description"`
		Default     string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string          `yaml:"using"`
		Steps []compositeStep `yaml:"steps"`
	} `yaml:"runs"`
}

func readAction(t testing.TB, dir string) compositeAction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a compositeAction
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("%s: runs.using = %q, want composite", dir, a.Runs.Using)
	}
	return a
}

// TestInstallStepsInSync checks that every action repeats actions/setup's
// install steps exactly: they cannot share them by `uses:` (see
// actions/setup/action.yml), so this test is what keeps the copies equal.
func TestInstallStepsInSync(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	setup := readAction(t, filepath.Join(root, "actions", "setup")).Runs.Steps
	// Each copy reaches the one script by its own relative path.
	script := strings.NewReplacer(
		`"$GITHUB_ACTION_PATH/../setup/install.sh"`, `"$GITHUB_ACTION_PATH/install.sh"`,
		`"$GITHUB_ACTION_PATH/actions/setup/install.sh"`, `"$GITHUB_ACTION_PATH/install.sh"`,
	)
	dirs, _ := filepath.Glob(filepath.Join(root, "actions", "*"))
	dirs = append(dirs, root)
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "action.yml")); err != nil || filepath.Base(dir) == "setup" {
			continue
		}
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			steps := readAction(t, dir).Runs.Steps
			if len(steps) < len(setup) {
				t.Fatalf("%d steps, want the %d install steps of actions/setup first", len(steps), len(setup))
			}
			got := slices.Clone(steps[:len(setup)])
			for i := range got {
				got[i].Run = script.Replace(got[i].Run)
			}
			if diff := cmp.Diff(setup, got); diff != "" {
				t.Errorf("install steps differ from actions/setup's (-setup +%s):\n%s", rel, diff)
			}
		})
	}
}
