package gate

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints the decision for t and each reason with its link, for
// a terminal or a log.
func WriteText(w io.Writer, t Target, d Decision) error {
	var b strings.Builder
	fmt.Fprintf(&b, "promote gate: %s %s at %.12s\n", strings.ToUpper(d.Result), t.Node(), t.Commit)
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "  %-5s %s: %s\n", r.Result, r.Policy, r.Message)
		if r.Link != "" && r.Result != Allow {
			fmt.Fprintf(&b, "        %s\n", r.Link)
		}
	}
	if d.BreakGlass != "" {
		fmt.Fprintf(&b, "Break-glass: %s (recorded)\n", d.BreakGlass)
	}
	if !d.RetryAt.IsZero() {
		fmt.Fprintf(&b, "Every denial ends by itself: deciding again at %s may allow.\n", d.RetryAt.UTC().Format(time.RFC3339))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Markdown is the decision as a job summary: the result, a table of the
// reasons with links to the evidence, break-glass and when to retry.
func Markdown(t Target, d Decision) string {
	var b strings.Builder
	icon := map[string]string{Allow: "✅", Warn: "⚠️", Deny: "⛔"}
	fmt.Fprintf(&b, "## Gate %s %s: `%s` at `%.12s`\n\n", icon[d.Result], d.Result, t.Node(), t.Commit)
	b.WriteString("| Result | Policy | Reason | Evidence |\n|---|---|---|---|\n")
	for _, r := range d.Reasons {
		link := ""
		if r.Link != "" {
			link = "[link](" + r.Link + ")"
		}
		fmt.Fprintf(&b, "| %s %s | `%s` | %s | %s |\n", icon[r.Result], r.Result, r.Policy, cell(r.Message), link)
	}
	if d.BreakGlass != "" {
		fmt.Fprintf(&b, "\n**Break-glass:** %s (sealed with the decision)\n", cell(d.BreakGlass))
	}
	if !d.RetryAt.IsZero() {
		fmt.Fprintf(&b, "\nEvery denial ends by itself: deciding again at %s may allow.\n", d.RetryAt.UTC().Format(time.RFC3339))
	}
	if d.Sealed != nil {
		fmt.Fprintf(&b, "\nSealed in the evidence chain as a gate record (%s), with its input as `gate-input.json`.\n", d.Sealed.Outcome)
	}
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", "").Replace(s)
}
