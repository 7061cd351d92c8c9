package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/promote-dev/promote/internal/mesh"
)

// Text writes one line per finding, as file:line:col: severity: message
// [rule], then a line that tallies what was checked and found, such as
//
//	promote mesh check (schema, istio): 42 resources in 7 files (30 Istio, 3 skipped): 2 errors, 1 warning; 1 ignored by annotation
//
// (the last part only when ignore annotations set findings aside).
// A message of several lines continues on lines indented by a tab, so that
// every unindented line but the last starts with a position.
func Text(w io.Writer, r *mesh.Report) error {
	var b strings.Builder
	for _, f := range r.Findings {
		continuation.WriteString(&b, f.String())
		b.WriteByte('\n')
	}
	b.WriteString(tally(r))
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// continuation indents the lines after the first of a finding.
var continuation = strings.NewReplacer("\r\n", "\n\t", "\n", "\n\t")

// tally summarises a report in one line without a line break.
func tally(r *mesh.Report) string {
	var b strings.Builder
	b.WriteString("promote mesh check")
	if len(r.Checks) > 0 {
		checks := make([]string, len(r.Checks))
		for i, c := range r.Checks {
			checks[i] = string(c)
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(checks, ", "))
	}
	fmt.Fprintf(&b, ": %s: %s", scope(r), findingCounts(r))
	if n := len(r.Ignored); n > 0 {
		fmt.Fprintf(&b, "; %d ignored by annotation", n)
	}
	return b.String()
}

// scope says what a check read, such as "42 resources in 7 files (30 Istio,
// 3 skipped)".
func scope(r *mesh.Report) string {
	s := fmt.Sprintf("%s in %s (%d Istio", plural(r.Resources, "resource"), plural(r.Files, "file"), r.Istio)
	if n := skipped(r); n > 0 {
		s += fmt.Sprintf(", %d skipped", n)
	}
	return s + ")"
}

// findingCounts says how many findings of each severity r has, leaving out
// the severities it has none of: "2 errors, 1 warning" or "no findings".
func findingCounts(r *mesh.Report) string {
	errs, warnings, notes := r.Counts()
	var parts []string
	for _, c := range []struct {
		n    int
		noun string
	}{{errs, "error"}, {warnings, "warning"}, {notes, "note"}} {
		if c.n > 0 {
			parts = append(parts, plural(c.n, c.noun))
		}
	}
	if len(parts) == 0 {
		return "no findings"
	}
	return strings.Join(parts, ", ")
}

// skipped is the number of documents whose kinds Promote does not check.
func skipped(r *mesh.Report) int {
	n := 0
	for _, c := range r.Skipped {
		n += c
	}
	return n
}

// plural returns "1 file" or "2 files"; every noun it is given takes an s.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
