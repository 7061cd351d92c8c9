package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/promote-dev/promote/internal/mesh"
)

// maxFindingRows caps the findings table of Markdown: GitHub drops a step
// summary over 1 MiB, and past a few hundred rows a table is no longer read.
const maxFindingRows = 200

// Markdown returns the report as a job summary in GitHub-flavoured Markdown:
// a heading with the verdict and the counts of findings, a table of the
// namespaces, a table of the findings, most severe first and at most 200 of
// them, the findings ignored by annotation with their reasons, and the kinds
// that were skipped. Text from the report is escaped, so
// it shows as written and never breaks the tables.
func Markdown(r *mesh.Report) string {
	var b strings.Builder
	errs, warnings, _ := r.Counts()
	verdict := "✅"
	switch {
	case errs > 0:
		verdict = "❌"
	case warnings > 0:
		verdict = "⚠️"
	}
	fmt.Fprintf(&b, "## %s Mesh check: %s\n\n", verdict, findingCounts(r))
	fmt.Fprintf(&b, "Checked %s", scope(r))
	if len(r.Checks) > 0 {
		checks := make([]string, len(r.Checks))
		for i, c := range r.Checks {
			checks[i] = cell(string(c))
		}
		fmt.Fprintf(&b, " with the checks %s", strings.Join(checks, ", "))
	}
	b.WriteString(".\n")
	writeNamespaces(&b, r.Namespaces)
	writeFindings(&b, r.Findings)
	writeIgnored(&b, r.Ignored)
	writeSkipped(&b, r.Skipped)
	return b.String()
}

func writeNamespaces(b *strings.Builder, namespaces []mesh.Namespace) {
	if len(namespaces) == 0 {
		return
	}
	b.WriteString("\n### Namespaces\n\n")
	b.WriteString("| Namespace | Services (compliance) | mTLS | Workloads | AuthorizationPolicies | Errors | Warnings | Notes |\n")
	b.WriteString("|---|---|---|---:|---|---:|---:|---:|\n")
	for _, ns := range namespaces {
		services := make([]string, len(ns.Services))
		for i, s := range ns.Services {
			services[i] = cell(s.Name)
			if s.Compliance != "" {
				services[i] += " (" + cell(s.Compliance) + ")"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %d | %d | %d |\n",
			orDash(cell(ns.Name)), orDash(strings.Join(services, ", ")), orDash(cell(ns.MTLS)), ns.Workloads,
			orDash(policyCounts(ns.Policies)), ns.Errors, ns.Warnings, ns.Notes)
	}
}

// policyActions are the actions of AuthorizationPolicies in the order the
// summary lists them; any other action follows, sorted.
var policyActions = []string{"ALLOW", "DENY", "CUSTOM", "AUDIT"}

// policyCounts formats AuthorizationPolicy counts by action, such as
// "2 ALLOW, 1 DENY".
func policyCounts(counts map[string]int) string {
	rank := func(action string) int {
		if i := slices.Index(policyActions, action); i >= 0 {
			return i
		}
		return len(policyActions)
	}
	actions := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	var parts []string
	for _, a := range actions {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], cell(a)))
		}
	}
	return strings.Join(parts, ", ")
}

func writeFindings(b *strings.Builder, findings []mesh.Finding) {
	b.WriteString("\n### Findings\n\n")
	if len(findings) == 0 {
		b.WriteString("No findings.\n")
		return
	}
	// When the table is cut, the errors are what must show.
	sorted := slices.Clone(findings)
	slices.SortStableFunc(sorted, func(a, b mesh.Finding) int { return cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)) })
	b.WriteString("| Location | Severity | Rule | Message |\n|---|---|---|---|\n")
	for i, f := range sorted {
		if i == maxFindingRows {
			more := len(sorted) - maxFindingRows
			if more == 1 {
				b.WriteString("\n_1 more finding is not shown here; the SARIF and JSON reports list them all._\n")
			} else {
				fmt.Fprintf(b, "\n_%d more findings are not shown here; the SARIF and JSON reports list them all._\n", more)
			}
			break
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(f.Pos.String()), severityCell(f.Severity), cell(f.Rule), cell(f.Message))
	}
}

// writeIgnored lists the findings that ignore annotations set aside, so
// that a reviewer sees every exemption and its reason.
func writeIgnored(b *strings.Builder, ignored []mesh.Ignored) {
	if len(ignored) == 0 {
		return
	}
	b.WriteString("\n### Ignored by annotation\n\nThese findings were set aside by `ignore.promote.dev/` annotations on their resources.\n\n")
	b.WriteString("| Location | Rule | Reason | Message |\n|---|---|---|---|\n")
	for i, f := range ignored {
		if i == maxFindingRows {
			fmt.Fprintf(b, "\n_%s not shown here; the JSON report lists them all._\n", plural(len(ignored)-maxFindingRows, "more finding"))
			break
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(f.Pos.String()), cell(f.Rule), cell(f.Reason), cell(f.Message))
	}
}

// severityRank orders severities from the most severe, unknown ones last.
func severityRank(s mesh.Severity) int {
	if s < mesh.Error || s > mesh.Note {
		return int(mesh.Note) + 1
	}
	return int(s)
}

func severityCell(s mesh.Severity) string {
	switch s {
	case mesh.Error:
		return "❌ error"
	case mesh.Warning:
		return "⚠️ warning"
	case mesh.Note:
		return "ℹ️ note"
	}
	return cell(s.String())
}

func writeSkipped(b *strings.Builder, skippedKinds map[string]int) {
	if len(skippedKinds) == 0 {
		return
	}
	b.WriteString("\n### Skipped kinds\n\nDocuments of these kinds were neither checked nor indexed.\n\n| Kind | Documents |\n|---|---:|\n")
	for _, kind := range slices.Sorted(maps.Keys(skippedKinds)) {
		fmt.Fprintf(b, "| %s | %d |\n", orDash(cell(kind)), skippedKinds[kind])
	}
}

// cellEscaper makes text show literally in a cell of a GitHub-flavoured
// Markdown table. A '|' would end the cell and a line break the table, so
// they become \| and <br>; '<' and '&' would start HTML or an entity ("<stdin>"
// would vanish as an unknown tag), so they become entities; and the other
// characters that format inline text (emphasis, code, links, strikethrough,
// math) are escaped with a backslash, as is the backslash itself, without
// which "\|" in the text would end the cell.
var cellEscaper = strings.NewReplacer(
	"\r\n", "<br>", "\r", "<br>", "\n", "<br>",
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	`\`, `\\`, "|", `\|`, "`", "\\`", "*", `\*`, "_", `\_`,
	"[", `\[`, "]", `\]`, "~", `\~`, "$", `\$`,
)

// cell escapes s for a Markdown table cell.
func cell(s string) string {
	return cellEscaper.Replace(s)
}

// orDash returns s, or an em dash for an empty cell.
func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}
