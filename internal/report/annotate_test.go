package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/mesh"
)

func TestAnnotate(t *testing.T) {
	t.Parallel()
	finding := func(file string, line, col int, sev mesh.Severity, rule, msg string) mesh.Finding {
		return mesh.Finding{Pos: mesh.Pos{File: file, Line: line, Col: col}, Severity: sev, Rule: rule, Message: msg}
	}
	tests := []struct {
		what     string
		limit    int
		findings []mesh.Finding
		// want are the workflow commands written to standard output.
		want []string
		// wantSummary are lines the step summary must contain.
		wantSummary []string
	}{
		{
			what:  "levels and positions",
			limit: 10,
			findings: []mesh.Finding{
				finding("mesh/a.yaml", 3, 5, mesh.Error, "schema.unknown-field", `unknown field "spec.htp"`),
				finding("mesh/a.yaml", 9, 0, mesh.Warning, "analysis.host-unknown", "no such host"),
				finding("mesh/b.yaml", 0, 0, mesh.Note, "policy.team-label", "no team label"),
			},
			want: []string{
				`::error col=5,file=mesh/a.yaml,line=3,title=schema.unknown-field::unknown field "spec.htp"`,
				`::warning file=mesh/a.yaml,line=9,title=analysis.host-unknown::no such host`,
				`::notice file=mesh/b.yaml,title=policy.team-label::no team label`,
			},
		},
		{
			what:  "escaping",
			limit: 10,
			findings: []mesh.Finding{
				finding("mesh/a,b:c.yaml", 1, 1, mesh.Error, "policy:team,label", "100% wrong\nsee | below\r\n::error::injected"),
			},
			want: []string{
				`::error col=1,file=mesh/a%2Cb%3Ac.yaml,line=1,title=policy%3Ateam%2Clabel::100%25 wrong%0Asee | below%0D%0A::error::injected`,
			},
		},
		{
			what:  "standard input has no file to point at",
			limit: 10,
			findings: []mesh.Finding{
				finding("<stdin>", 7, 5, mesh.Error, "schema.unknown-field", "bad"),
			},
			want: []string{
				`::error title=schema.unknown-field::<stdin>:7:5: bad`,
			},
		},
		{
			what:  "capped, the rest in the summary",
			limit: 2,
			findings: []mesh.Finding{
				finding("a.yaml", 1, 1, mesh.Error, "r", "first"),
				finding("a.yaml", 2, 1, mesh.Error, "r", "second"),
				finding("a.yaml", 3, 1, mesh.Warning, "w", "a warning"),
				finding("b.yaml", 4, 2, mesh.Error, "r", "third | piped"),
			},
			want: []string{
				`::error col=1,file=a.yaml,line=1,title=r::first`,
				`::error col=1,file=a.yaml,line=2,title=r::second`,
				`::warning col=1,file=a.yaml,line=3,title=w::a warning`,
			},
			wantSummary: []string{
				"**1 more annotation not shown as an annotation**",
				`| b.yaml:4:2 | error | r: third \| piped |`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			runner := actionstest.NewRunner(t, nil)
			var stdout bytes.Buffer
			rt := actions.New(actions.WithGetenv(runner.Getenv), actions.WithStdout(&stdout), actions.WithAnnotationLimit(tt.limit))
			if err := Annotate(rt, &mesh.Report{Findings: tt.findings}); err != nil {
				t.Fatalf("Annotate() error = %v", err)
			}
			if err := rt.Flush(); err != nil {
				t.Fatalf("Flush() error = %v", err)
			}
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("workflow commands differ (-want +got):\n%s", diff)
			}
			summary := runner.Summary(t)
			for _, line := range tt.wantSummary {
				if !strings.Contains(summary, line) {
					t.Errorf("the step summary lacks %q; it is:\n%s", line, summary)
				}
			}
			if tt.wantSummary == nil && summary != "" {
				t.Errorf("the step summary is %q, want it empty", summary)
			}
		})
	}
}

func TestAnnotateUnknownSeverity(t *testing.T) {
	t.Parallel()
	runner := actionstest.NewRunner(t, nil)
	var stdout bytes.Buffer
	rt := actions.New(actions.WithGetenv(runner.Getenv), actions.WithStdout(&stdout))
	r := &mesh.Report{Findings: []mesh.Finding{
		{Pos: mesh.Pos{File: "a.yaml", Line: 1}, Severity: mesh.Error, Rule: "r", Message: "fine"},
		{Pos: mesh.Pos{File: "a.yaml", Line: 2}, Rule: "r", Message: "no severity"},
	}}
	if err := Annotate(rt, r); err == nil || !strings.Contains(err.Error(), "a.yaml:2") {
		t.Errorf("Annotate() error = %v, want one naming a.yaml:2", err)
	}
	if stdout.Len() > 0 {
		t.Errorf("Annotate() wrote %q before failing, want nothing", stdout.String())
	}
}
