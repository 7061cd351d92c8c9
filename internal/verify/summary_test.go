package verify

import (
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/run"
)

func TestMarkdown(t *testing.T) {
	t.Parallel()
	if got := Markdown(&run.Status{Nodes: []run.NodeStatus{{ID: "api@dev", State: run.Succeeded}}}); got != "" {
		t.Errorf("Markdown(nothing verified) = %q, want empty", got)
	}
	st := &run.Status{Nodes: []run.NodeStatus{
		{ID: "api@dev", State: run.Succeeded, Verification: []evidence.Verification{{Name: "health", Type: "http", Outcome: "passed", Attempts: 3, LastValue: "HTTP 200"}}},
		{ID: "web@dev", State: run.Failed,
			Verification: []evidence.Verification{{Name: "errors", Type: "prometheus", Outcome: "failed", Attempts: 3, LastValue: "0.2", Message: "3 of 3 attempts failed | limit 3"}},
			Rollback: &run.Rollback{Result: run.RollbackSucceeded, ToCommit: strings.Repeat("b", 40), Message: "rolled back to bbbbbbbbbbbb",
				Verification: []evidence.Verification{{Name: "errors", Type: "prometheus", Outcome: "passed", Attempts: 1, LastValue: "0"}}}},
	}}
	want := "\n### Verification\n\n| Node | Check | Type | Outcome | Attempts | Last value | Message |\n|---|---|---|---|---:|---|---|\n" +
		"| `web@dev` | errors | prometheus | ❌ failed | 3 | 0.2 | 3 of 3 attempts failed \\| limit 3 |\n" +
		"| `web@dev (rollback)` | errors | prometheus | ✅ passed | 1 | 0 |  |\n" +
		"| `api@dev` | health | http | ✅ passed | 3 | HTTP 200 |  |\n" +
		"\n### Rollbacks\n\n| Node | Result | To commit | Message |\n|---|---|---|---|\n" +
		"| `web@dev` | succeeded | `bbbbbbbbbbbb` | rolled back to bbbbbbbbbbbb |\n"
	if got := Markdown(st); got != want {
		t.Errorf("Markdown() =\n%s\nwant\n%s", got, want)
	}
}
