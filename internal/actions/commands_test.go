package actions

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-githubactions"
)

// workflowCommand is a workflow command line read back as the runner reads
// it.
type workflowCommand struct {
	Name    string
	Props   map[string]string
	Message string
}

// parseCommand reads "::name k=v,k=v::message" the way the runner does: the
// command ends at the first "::" after its start, properties split at ',' and
// then at the first '=', and both sides are unescaped.
func parseCommand(line string) (workflowCommand, error) {
	rest, ok := strings.CutPrefix(line, "::")
	if !ok {
		return workflowCommand{}, fmt.Errorf("%q does not start with ::", line)
	}
	head, data, ok := strings.Cut(rest, "::")
	if !ok {
		return workflowCommand{}, fmt.Errorf("%q has no closing ::", line)
	}
	name, propText, hasProps := strings.Cut(head, " ")
	c := workflowCommand{Name: name}
	if hasProps {
		c.Props = make(map[string]string)
		for _, kv := range strings.Split(propText, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return workflowCommand{}, fmt.Errorf("property %q has no =", kv)
			}
			u, err := unescape(v, true)
			if err != nil {
				return workflowCommand{}, fmt.Errorf("property %q: %w", k, err)
			}
			c.Props[k] = u
		}
	}
	msg, err := unescape(data, false)
	if err != nil {
		return workflowCommand{}, fmt.Errorf("message: %w", err)
	}
	c.Message = msg
	return c, nil
}

// unescape decodes %25, %0D and %0A (and, in properties, %3A and %2C),
// refusing any other '%' sequence, which no correct escaper produces.
func unescape(s string, property bool) (string, error) {
	codes := map[string]string{"%25": "%", "%0D": "\r", "%0A": "\n"}
	if property {
		codes["%3A"] = ":"
		codes["%2C"] = ","
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 > len(s) {
			return "", fmt.Errorf("truncated escape at %d in %q", i, s)
		}
		dec, ok := codes[s[i:i+3]]
		if !ok {
			return "", fmt.Errorf("unknown escape %q in %q", s[i:i+3], s)
		}
		b.WriteString(dec)
		i += 2
	}
	return b.String(), nil
}

// nasty holds text that breaks a naive workflow command.
const nasty = "100% done%0A\r\nnext::error::forged, a:b,c=d"

func TestFormatCommandEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what  string
		name  string
		props githubactions.CommandProperties
		msg   string
		want  string
	}{
		{
			what: "plain",
			name: "error", props: githubactions.CommandProperties{"file": "a.yaml", "line": "3"}, msg: "bad",
			want: "::error file=a.yaml,line=3::bad",
		},
		{
			what: "message escapes %, CR and LF only",
			name: "warning", msg: nasty,
			want: "::warning::100%25 done%250A%0D%0Anext::error::forged, a:b,c=d",
		},
		{
			what: "property escapes : and , too",
			name: "error", props: githubactions.CommandProperties{"title": nasty}, msg: "m",
			want: "::error title=100%25 done%250A%0D%0Anext%3A%3Aerror%3A%3Aforged%2C a%3Ab%2Cc=d::m",
		},
		{
			what: "Windows path",
			name: "notice", props: githubactions.CommandProperties{"file": `C:\src\a,b.yaml`}, msg: "",
			want: `::notice file=C%3A\src\a%2Cb.yaml::`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got := formatCommand(tt.name, tt.props, tt.msg)
			if got != tt.want {
				t.Errorf("formatCommand() = %q, want %q", got, tt.want)
			}
			parsed, err := parseCommand(got)
			if err != nil {
				t.Fatalf("parseCommand(%q) = %v", got, err)
			}
			want := workflowCommand{Name: tt.name, Message: tt.msg}
			if len(tt.props) > 0 {
				want.Props = tt.props
			}
			if diff := cmp.Diff(want, parsed); diff != "" {
				t.Errorf("command read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnnotate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		ann  Annotation
		want string
	}{
		{
			what: "message only",
			ann:  Annotation{Level: Notice, Message: "promoted"},
			want: "::notice::promoted",
		},
		{
			what: "full position",
			ann: Annotation{
				Level: Error, File: "promote.yaml", Line: 3, Col: 7, EndLine: 4, EndCol: 2,
				Title: "unknown stage", Message: "stage \"prod\" is not defined",
			},
			want: `::error col=7,endColumn=2,endLine=4,file=promote.yaml,line=3,title=unknown stage::stage "prod" is not defined`,
		},
		{
			what: "nasty title, file and message",
			ann:  Annotation{Level: Warning, File: "a:b,c.yaml", Line: 1, Title: nasty, Message: nasty},
			want: "::warning file=a%3Ab%2Cc.yaml,line=1,title=100%25 done%250A%0D%0Anext%3A%3Aerror%3A%3Aforged%2C a%3Ab%2Cc=d::100%25 done%250A%0D%0Anext::error::forged, a:b,c=d",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			rt := newTestRuntime(t, nil)
			if err := rt.Annotate(tt.ann); err != nil {
				t.Fatalf("Annotate() = %v", err)
			}
			if diff := cmp.Diff([]string{tt.want}, rt.lines()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			parsed, err := parseCommand(rt.lines()[0])
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Message != tt.ann.Message || parsed.Props["title"] != tt.ann.Title || parsed.Props["file"] != tt.ann.File {
				t.Errorf("annotation read back = %+v, want %+v", parsed, tt.ann)
			}
		})
	}
}

func TestAnnotateInvalidLevel(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	for _, l := range []Level{0, Notice + 1} {
		if err := rt.Annotate(Annotation{Level: l, Message: "m"}); err == nil {
			t.Errorf("Annotate(level %d) = nil, want an error", l)
		}
	}
	if got := rt.stdout.String(); got != "" {
		t.Errorf("stdout = %q, want nothing", got)
	}
}

func TestAnnotateCap(t *testing.T) {
	t.Parallel()
	var anns []Annotation
	for i := 1; i <= 3; i++ {
		anns = append(anns,
			Annotation{Level: Error, File: "a.yaml", Line: i, Col: 2, Message: fmt.Sprintf("error %d", i)},
			Annotation{Level: Warning, File: "b.yaml", Line: i, Message: fmt.Sprintf("warning %d", i)},
		)
	}
	anns = append(anns, Annotation{Level: Notice, Message: "notice"})
	anns = append(anns, Annotation{Level: Error, Title: "pipe | title", Message: "line one\nline two | three"})

	rt := newTestRuntime(t, nil, WithAnnotationLimit(2))
	for _, a := range anns {
		if err := rt.Annotate(a); err != nil {
			t.Fatalf("Annotate(%+v) = %v", a, err)
		}
	}
	wantLines := []string{
		"::error col=2,file=a.yaml,line=1::error 1",
		"::warning file=b.yaml,line=1::warning 1",
		"::error col=2,file=a.yaml,line=2::error 2",
		"::warning file=b.yaml,line=2::warning 2",
		"::notice::notice",
	}
	if diff := cmp.Diff(wantLines, rt.lines()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	wantOverflow := []Annotation{anns[4], anns[5], anns[7]}
	if diff := cmp.Diff(wantOverflow, rt.Overflow()); diff != "" {
		t.Errorf("Overflow() (-want +got):\n%s", diff)
	}

	rt.AddSummary("## Validation\n")
	if err := rt.Flush(); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	wantSummary := "## Validation\n" +
		"\n\n**3 more annotations not shown as annotations** (GitHub shows only about 10 annotations of each level per step, so Promote emitted at most 2 of each)\n\n" +
		"| Location | Level | Message |\n" +
		"| --- | --- | --- |\n" +
		"| a.yaml:3:2 | error | error 3 |\n" +
		"| b.yaml:3 | warning | warning 3 |\n" +
		`|  | error | pipe \| title: line one<br>line two \| three |` + "\n"
	if diff := cmp.Diff(wantSummary, rt.file(t, "GITHUB_STEP_SUMMARY")); diff != "" {
		t.Errorf("step summary (-want +got):\n%s", diff)
	}

	// Later overflow gets a table of its own; earlier rows are not repeated.
	if err := rt.Annotate(Annotation{Level: Warning, Message: "late"}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Flush(); err != nil {
		t.Fatal(err)
	}
	wantSummary += "\n\n**1 more annotation not shown as an annotation** (GitHub shows only about 10 annotations of each level per step, so Promote emitted at most 2 of each)\n\n" +
		"| Location | Level | Message |\n" +
		"| --- | --- | --- |\n" +
		"|  | warning | late |\n"
	if diff := cmp.Diff(wantSummary, rt.file(t, "GITHUB_STEP_SUMMARY")); diff != "" {
		t.Errorf("step summary after a second Flush (-want +got):\n%s", diff)
	}
}

func TestAnnotateDefaultCap(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	for i := range 12 {
		if err := rt.Annotate(Annotation{Level: Error, Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := len(rt.lines()), DefaultAnnotationLimit; got != want {
		t.Errorf("annotations emitted = %d, want %d", got, want)
	}
	if got, want := len(rt.Overflow()), 12-DefaultAnnotationLimit; got != want {
		t.Errorf("len(Overflow()) = %d, want %d", got, want)
	}
}

func TestLogCommands(t *testing.T) {
	t.Parallel()
	rt := newTestRuntime(t, nil)
	if err := rt.Mask("hunter2"); err != nil {
		t.Fatal(err)
	}
	rt.stdout.Reset()
	for _, err := range []error{
		rt.Group("deploy: prod, eu"),
		rt.Debugf("token %s at %d%%\nnext", "hunter2", 50),
		rt.EndGroup(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"::group::deploy: prod, eu",
		"::debug::token *** at 50%25%0Anext",
		"::endgroup::",
	}
	if diff := cmp.Diff(want, rt.lines()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed pipe") }

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	rt := New(WithGetenv(func(k string) string {
		if k == "GITHUB_ACTIONS" {
			return "true"
		}
		return ""
	}), WithStdout(failingWriter{}))
	for what, err := range map[string]error{
		"Annotate": rt.Annotate(Annotation{Level: Error, Message: "m"}),
		"Group":    rt.Group("g"),
		"Debugf":   rt.Debugf("d"),
		"Mask":     rt.Mask("s"),
	} {
		if err == nil {
			t.Errorf("%s() = nil, want the write error", what)
		}
	}
}
