package verify

import (
	"fmt"
	"strings"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// Describe names a node's checks for a dry run: `http check "health"`.
func (v *Verifier) Describe(n *plan.Node) []string {
	var out []string
	for _, c := range v.Checks(n) {
		out = append(out, fmt.Sprintf("%s check %q", c.Type(), c.Name))
	}
	return out
}

// Markdown renders the checks and rollbacks of a run for its job summary:
// one row per check, failures first, and one per rollback. It is empty
// when the run verified nothing and rolled nothing back.
func Markdown(st *run.Status) string {
	var checks, rollbacks strings.Builder
	cell := strings.NewReplacer("|", `\|`, "\n", " ")
	rows := 0
	row := func(node string, v evidence.Verification) {
		icon := "✅"
		if v.Outcome != evidence.VerificationPassed {
			icon = "❌"
		}
		fmt.Fprintf(&checks, "| `%s` | %s | %s | %s %s | %d | %s | %s |\n", node, cell.Replace(v.Name), v.Type, icon, v.Outcome, v.Attempts, cell.Replace(v.LastValue), cell.Replace(v.Message))
		rows++
	}
	for _, failedFirst := range []bool{true, false} {
		for _, n := range st.Nodes {
			for _, v := range n.Verification {
				if (v.Outcome != evidence.VerificationPassed) == failedFirst && rows < 300 {
					row(n.ID, v)
				}
			}
			if rb := n.Rollback; rb != nil && failedFirst {
				for _, v := range rb.Verification {
					if rows < 300 {
						row(n.ID+" (rollback)", v)
					}
				}
				to := "—"
				if rb.ToCommit != "" {
					to = "`" + rb.ToCommit[:min(len(rb.ToCommit), 12)] + "`"
				}
				fmt.Fprintf(&rollbacks, "| `%s` | %s | %s | %s |\n", n.ID, rb.Result, to, cell.Replace(rb.Message))
			}
		}
	}
	var b strings.Builder
	if checks.Len() > 0 {
		b.WriteString("\n### Verification\n\n| Node | Check | Type | Outcome | Attempts | Last value | Message |\n|---|---|---|---|---:|---|---|\n")
		b.WriteString(checks.String())
	}
	if rollbacks.Len() > 0 {
		b.WriteString("\n### Rollbacks\n\n| Node | Result | To commit | Message |\n|---|---|---|---|\n")
		b.WriteString(rollbacks.String())
	}
	return b.String()
}
