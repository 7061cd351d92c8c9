package actions

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/actions/actionstest"
)

type fileCommand = actionstest.FileCommand

func parseFileCommands(t *testing.T, data string) []fileCommand {
	t.Helper()
	cmds, err := actionstest.ParseFileCommands(data)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
}

var delimPattern = regexp.MustCompile(`^ghadelimiter_[0-9a-f]{32}$`)

func TestSetOutputRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what  string
		name  string
		value string
		want  string // when the runner reads back something else
	}{
		{what: "plain", name: "version", value: "1.2.3"},
		{what: "empty", name: "empty", value: ""},
		{what: "multi-line", name: "changelog", value: "- one\n- two\n"},
		{what: "only line breaks", name: "blank-lines", value: "\n\n"},
		// The runner splits lines at CRLF as at LF, so a CR before a line
		// break does not survive; it cannot end the value early either.
		{what: "CRLF", name: "crlf", value: "a\r\nb", want: "a\nb"},
		{what: "go-githubactions' fixed delimiter", name: "fixed", value: "x\n_GitHubActionsFileCommandDelimeter_\ninjected<<EOF\nevil\nEOF"},
		{what: "delimiter-looking text", name: "looks_like", value: "ghadelimiter_00000000000000000000000000000000\nnext=1"},
		{what: "name=value lookalike", name: "eq", value: "\nPATH=/evil"},
		{what: "unicode", name: "greeting", value: "héllo ✓"},
	}
	rt := newTestRuntime(t, nil)
	var want []fileCommand
	for _, tt := range tests {
		if err := rt.SetOutput(tt.name, tt.value); err != nil {
			t.Fatalf("SetOutput(%q, %q) = %v", tt.name, tt.value, err)
		}
		value := tt.value
		if tt.want != "" {
			value = tt.want
		}
		want = append(want, fileCommand{Name: tt.name, Value: value})
	}
	got := parseFileCommands(t, rt.file(t, "GITHUB_OUTPUT"))
	seen := make(map[string]bool)
	for i, c := range got {
		if !delimPattern.MatchString(c.Delim) {
			t.Errorf("delimiter of %q = %q, want ghadelimiter_ and 32 hex digits", c.Name, c.Delim)
		}
		if seen[c.Delim] {
			t.Errorf("delimiter %q used twice, want a fresh random one per value", c.Delim)
		}
		seen[c.Delim] = true
		got[i].Delim = ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs read back (-want +got):\n%s", diff)
	}
}

func TestSetOutputPreviousDelimiter(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	if err := rt.SetOutput("first", "1"); err != nil {
		t.Fatal(err)
	}
	prev := parseFileCommands(t, rt.file(t, "GITHUB_OUTPUT"))[0].Delim
	// A value that knows an earlier delimiter tries to end itself early and
	// forge an output.
	evil := "x\n" + prev + "\nforged<<" + prev + "\npwned\n" + prev
	if err := rt.SetOutput("second", evil); err != nil {
		t.Fatal(err)
	}
	got := parseFileCommands(t, rt.file(t, "GITHUB_OUTPUT"))
	for i := range got {
		got[i].Delim = ""
	}
	want := []fileCommand{{Name: "first", Value: "1"}, {Name: "second", Value: evil}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs read back (-want +got):\n%s", diff)
	}
}

// fakeRand fills buffers with the given bytes, one fill per call, repeating
// the last.
func fakeRand(fills ...byte) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		fill := fills[0]
		if len(fills) > 1 {
			fills = fills[1:]
		}
		for i := range b {
			b[i] = fill
		}
		return len(b), nil
	}
}

func TestSetOutputRegeneratesDelimiter(t *testing.T) {
	t.Parallel()
	zeros := "ghadelimiter_" + strings.Repeat("00", 16)
	ones := "ghadelimiter_" + strings.Repeat("01", 16)
	tests := []struct {
		what      string
		rand      func([]byte) (int, error)
		value     string
		wantDelim string
		wantErr   bool
	}{
		{what: "no collision", rand: fakeRand(0), value: "v", wantDelim: zeros},
		{what: "collision redrawn", rand: fakeRand(0, 1), value: "a " + zeros + " b", wantDelim: ones},
		{what: "always colliding", rand: fakeRand(0), value: zeros, wantErr: true},
		{what: "broken source", rand: func([]byte) (int, error) { return 0, errors.New("no entropy") }, value: "v", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, nil)
			rt.randRead = tt.rand
			err := rt.SetOutput("out", tt.value)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("SetOutput() = nil, want an error")
				}
				if got := rt.file(t, "GITHUB_OUTPUT"); got != "" {
					t.Errorf("GITHUB_OUTPUT = %q after an error, want it untouched", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetOutput() = %v", err)
			}
			got := parseFileCommands(t, rt.file(t, "GITHUB_OUTPUT"))
			want := []fileCommand{{Name: "out", Value: tt.value, Delim: tt.wantDelim}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("outputs read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetOutputInvalidName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "a b", "a\nb", "a<<b", "a=b", "ü", "a.b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, nil)
			if err := rt.SetOutput(name, "v"); err == nil {
				t.Errorf("SetOutput(%q) = nil, want an error", name)
			}
			if got := rt.file(t, "GITHUB_OUTPUT"); got != "" {
				t.Errorf("GITHUB_OUTPUT = %q, want nothing", got)
			}
		})
	}
}

func TestSetOutputLimit(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	big := strings.Repeat("x", 600<<10)
	if err := rt.SetOutput("first", big); err != nil {
		t.Fatalf("SetOutput(first) = %v", err)
	}
	before := rt.file(t, "GITHUB_OUTPUT")
	err := rt.SetOutput("second", big)
	if !errors.Is(err, ErrOutputLimit) {
		t.Fatalf("SetOutput(second) = %v, want ErrOutputLimit", err)
	}
	if !strings.Contains(err.Error(), "write the value to a file") {
		t.Errorf("SetOutput(second) = %q, want it to say to write a file instead", err)
	}
	if got := rt.file(t, "GITHUB_OUTPUT"); got != before {
		t.Errorf("GITHUB_OUTPUT changed by a refused output")
	}
	if err := rt.SetOutput("small", "ok"); err != nil {
		t.Errorf("SetOutput(small) = %v, want a small output to still fit", err)
	}
}

func TestSetEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		name    string
		value   string
		wantErr bool
	}{
		{what: "plain", name: "PROMOTE_ENV", value: "prod"},
		{what: "multi-line", name: "NOTES", value: "a\nb\nOTHER=1"},
		{what: "leading underscore", name: "_X", value: "1"},
		{what: "empty name", name: "", wantErr: true},
		{what: "leading digit", name: "1X", wantErr: true},
		{what: "dash", name: "A-B", wantErr: true},
		{what: "line break in name", name: "A\nB", wantErr: true},
		{what: "over 128 KiB", name: "BIG", value: strings.Repeat("x", 128<<10), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, nil)
			err := rt.SetEnv(tt.name, tt.value)
			if tt.wantErr {
				if err == nil {
					t.Errorf("SetEnv(%q) = nil, want an error", tt.name)
				}
				if got := rt.file(t, "GITHUB_ENV"); got != "" {
					t.Errorf("GITHUB_ENV = %q, want nothing", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetEnv(%q) = %v", tt.name, err)
			}
			got := parseFileCommands(t, rt.file(t, "GITHUB_ENV"))
			for i := range got {
				got[i].Delim = ""
			}
			if diff := cmp.Diff([]fileCommand{{Name: tt.name, Value: tt.value}}, got); diff != "" {
				t.Errorf("GITHUB_ENV read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		dir     string
		want    string
		wantErr bool
	}{
		{what: "plain", dir: "/opt/promote/bin", want: "/opt/promote/bin\n"},
		{what: "spaces", dir: "/opt/my tools", want: "/opt/my tools\n"},
		{what: "empty", dir: "", wantErr: true},
		{what: "LF injects a second directory", dir: "/ok\n/evil", wantErr: true},
		{what: "CR", dir: "/ok\r", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, nil)
			err := rt.AddPath(tt.dir)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("AddPath(%q) = %v, want error %v", tt.dir, err, tt.wantErr)
			}
			if got := rt.file(t, "GITHUB_PATH"); got != tt.want {
				t.Errorf("GITHUB_PATH = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFileNotSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		env  string
		call func(*Runtime) error
	}{
		{what: "output", env: "GITHUB_OUTPUT", call: func(r *Runtime) error { return r.SetOutput("a", "b") }},
		{what: "env", env: "GITHUB_ENV", call: func(r *Runtime) error { return r.SetEnv("A", "b") }},
		{what: "path", env: "GITHUB_PATH", call: func(r *Runtime) error { return r.AddPath("/bin") }},
		{what: "summary", env: "GITHUB_STEP_SUMMARY", call: func(r *Runtime) error { r.AddSummary("x"); return r.Flush() }},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, map[string]string{tt.env: ""})
			err := tt.call(rt.Runtime)
			if err == nil || !strings.Contains(err.Error(), "$"+tt.env+" is not set") {
				t.Errorf("error = %v, want it to say $%s is not set", err, tt.env)
			}
		})
	}
}

// TestSetOutputAppends checks that a second output is appended to the file
// rather than replacing the first.
func TestSetOutputAppends(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	for _, v := range []string{"a", "b"} {
		if err := rt.SetOutput(v, v); err != nil {
			t.Fatal(err)
		}
	}
	data := rt.file(t, "GITHUB_OUTPUT")
	if !bytes.HasPrefix([]byte(data), []byte("a<<ghadelimiter_")) || strings.Count(data, "<<") != 2 {
		t.Errorf("GITHUB_OUTPUT = %q, want two appended heredocs", data)
	}
}
