package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/mesh"
)

// The expectations were checked by rendering them with a GFM renderer: each
// shows exactly the input, with line breaks as <br>.
func TestCell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what, in, want string
	}{
		{what: "pipe", in: "a|b", want: `a\|b`},
		{what: "escaped pipe", in: `a\|b`, want: `a\\\|b`},
		{what: "line breaks", in: "a\nb\r\nc\rd", want: "a<br>b<br>c<br>d"},
		{what: "HTML", in: "<stdin> & <script>", want: "&lt;stdin&gt; &amp; &lt;script&gt;"},
		{what: "entity", in: "&lt;", want: "&amp;lt;"},
		{what: "emphasis", in: "*.example.com _x_ ~~y~~", want: `\*.example.com \_x\_ \~\~y\~\~`},
		{what: "code", in: "`kubectl`", want: "\\`kubectl\\`"},
		{what: "link", in: "[x](http://y)", want: `\[x\](http://y)`},
		{what: "math", in: "$x$", want: `\$x\$`},
		{what: "percent and plain text", in: "100% of v1", want: "100% of v1"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			if got := cell(tt.in); got != tt.want {
				t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMarkdownFindingsCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what     string
		findings int
		wantRows int
		wantMore string
	}{
		{what: "at the cap", findings: maxFindingRows, wantRows: maxFindingRows},
		{what: "one over", findings: maxFindingRows + 1, wantRows: maxFindingRows, wantMore: "_1 more finding is not shown here"},
		{what: "far over", findings: 1000, wantRows: maxFindingRows, wantMore: "_800 more findings are not shown here"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			r := &mesh.Report{}
			for i := range tt.findings {
				// Notes first, so that the cut must move the last,
				// only, error to the top.
				sev := mesh.Note
				if i == tt.findings-1 {
					sev = mesh.Error
				}
				r.Findings = append(r.Findings, mesh.Finding{Pos: mesh.Pos{File: "a.yaml", Line: i + 1}, Severity: sev, Rule: "r", Message: fmt.Sprint("finding ", i)})
			}
			md := Markdown(r)
			_, table, _ := strings.Cut(md, "|---|---|---|---|\n")
			table, _, _ = strings.Cut(table, "\n\n")
			if rows := len(strings.Split(strings.TrimSuffix(table, "\n"), "\n")); rows != tt.wantRows {
				t.Errorf("Markdown() has %d finding rows, want %d", rows, tt.wantRows)
			}
			if first := fmt.Sprintf("| a.yaml:%d | ❌ error |", tt.findings); !strings.HasPrefix(table, first) {
				t.Errorf("the first row is not the error, %q:\n%s", first, table[:min(len(table), 200)])
			}
			if tt.wantMore == "" && strings.Contains(md, "not shown here") {
				t.Errorf("Markdown() says findings are missing, want all shown")
			}
			if tt.wantMore != "" && !strings.Contains(md, tt.wantMore) {
				t.Errorf("Markdown() lacks %q", tt.wantMore)
			}
		})
	}
}
