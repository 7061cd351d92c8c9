// Package actionstest fakes the parts of a GitHub Actions runner that a step
// sees: the environment and the GITHUB_* files. Tests run promote against it
// and read back what a workflow would.
package actionstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FileCommand is one record of a GITHUB_OUTPUT or GITHUB_ENV file.
type FileCommand struct {
	Name, Value string
	Delim       string // "" for a name=value record
}

// ParseFileCommands reads a GITHUB_OUTPUT or GITHUB_ENV file the way the
// runner does: a "name=value" line, or "name<<DELIM" followed by the value's
// lines up to the first line that is exactly DELIM. Empty lines between
// records are skipped and CRLF line ends are accepted, as by the runner.
func ParseFileCommands(data string) ([]FileCommand, error) {
	var cmds []FileCommand
	for data != "" {
		line, rest, ok := strings.Cut(data, "\n")
		if !ok {
			return nil, fmt.Errorf("file ends without a line break: %q", line)
		}
		data = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var lines []string
			for {
				l, rest, ok := strings.Cut(data, "\n")
				if !ok {
					return nil, fmt.Errorf("value of %q has no closing delimiter %q", name, delim)
				}
				data = rest
				l = strings.TrimSuffix(l, "\r")
				if l == delim {
					break
				}
				lines = append(lines, l)
			}
			cmds = append(cmds, FileCommand{Name: name, Value: strings.Join(lines, "\n"), Delim: delim})
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %q is neither name=value nor name<<DELIM", line)
		}
		cmds = append(cmds, FileCommand{Name: name, Value: value})
	}
	return cmds, nil
}

// Values returns the records of a GITHUB_OUTPUT or GITHUB_ENV file by name;
// a later record of a name wins, as on GitHub.
func Values(data string) (map[string]string, error) {
	cmds, err := ParseFileCommands(data)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cmds))
	for _, c := range cmds {
		out[c.Name] = c.Value
	}
	return out, nil
}

// Runner is the environment of one step.
type Runner struct {
	Env map[string]string
}

// NewRunner returns a step environment with GITHUB_ACTIONS=true, empty
// GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY files in a
// temporary directory, and env added on top.
func NewRunner(t testing.TB, env map[string]string) *Runner {
	t.Helper()
	dir := t.TempDir()
	r := &Runner{Env: map[string]string{
		"GITHUB_ACTIONS":   "true",
		"GITHUB_WORKSPACE": dir,
		"RUNNER_TEMP":      dir,
	}}
	for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"} {
		path := filepath.Join(dir, strings.ToLower(name))
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r.Env[name] = path
	}
	for k, v := range env {
		r.Env[k] = v
	}
	return r
}

// Getenv looks a variable up in the step's environment.
func (r *Runner) Getenv(name string) string { return r.Env[name] }

// Outputs returns the step's outputs; a later record of a name wins, as on
// GitHub.
func (r *Runner) Outputs(t testing.TB) map[string]string {
	t.Helper()
	out, err := Values(r.read(t, "GITHUB_OUTPUT"))
	if err != nil {
		t.Fatalf("GITHUB_OUTPUT: %v", err)
	}
	return out
}

// Summary returns the step summary written so far.
func (r *Runner) Summary(t testing.TB) string {
	t.Helper()
	return r.read(t, "GITHUB_STEP_SUMMARY")
}

func (r *Runner) read(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(r.Env[name])
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
