package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/run"
	"github.com/promote-dev/promote/internal/verify"
)

// progress shows a run to people. On a terminal it prints each node's
// transitions as they happen, its output prefixed with the node, and a
// heartbeat of what is running. In GitHub Actions, where parallel output
// would interleave inside collapsible groups, it prints transitions live and
// each node's output in its own ::group:: once the node ends.
type progress struct {
	w       io.Writer
	rt      *actions.Runtime
	grouped bool
	start   time.Time
	now     func() time.Time

	mu     sync.Mutex
	commit string
	last   map[string]run.NodeStatus
	output map[string][]string
	latest []run.NodeStatus
}

func newProgress(w io.Writer, rt *actions.Runtime, now func() time.Time) *progress {
	return &progress{w: w, rt: rt, grouped: rt.Enabled(), start: now(), now: now,
		last: map[string]run.NodeStatus{}, output: map[string][]string{}}
}

// Log takes a line of a node's output (deploy.Logger).
func (p *progress) Log(node, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line = p.rt.Redact(line)
	if p.grouped {
		p.output[node] = append(p.output[node], line)
		return
	}
	fmt.Fprintf(p.w, "  %s │ %s\n", node, line)
}

func (p *progress) elapsed() string {
	return p.now().Sub(p.start).Truncate(time.Second).String()
}

// update prints what changed since the previous status (run.Options.OnChange).
func (p *progress) update(st *run.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latest = append(p.latest[:0], st.Nodes...)
	p.commit = st.Commit
	for _, n := range st.Nodes {
		prev, seen := p.last[n.ID]
		p.last[n.ID] = n
		if seen && prev.State == n.State && prev.Phase == n.Phase && prev.Attempts == n.Attempts {
			continue
		}
		if !seen && n.State == run.Pending {
			continue
		}
		p.transition(n)
	}
}

func (p *progress) transition(n run.NodeStatus) {
	var line string
	switch n.State {
	case run.Running:
		switch n.Phase {
		case run.PhaseStarting:
			if n.Attempts == 0 {
				return // still asking whether it already succeeded
			}
			if n.Attempts > 1 {
				line = fmt.Sprintf("↻ %s attempt %d", n.ID, n.Attempts)
			} else {
				line = fmt.Sprintf("▶ %s started", n.ID)
			}
		case run.PhaseLocked:
			line = fmt.Sprintf("⏳ %s waits for another promotion: %s", n.ID, n.Message)
		case run.PhaseWaiting:
			line = fmt.Sprintf("⏸ %s %s", n.ID, cmp.Or(n.Message, "waits for approval"))
		case run.PhaseQueued:
			line = fmt.Sprintf("… %s queued", n.ID)
		case run.PhaseDeploying:
			line = fmt.Sprintf("⚙ %s deploying", n.ID)
		case run.PhaseVerifying:
			line = fmt.Sprintf("🔎 %s deployed; %s", n.ID, cmp.Or(n.Message, "verifying"))
		default:
			return
		}
	case run.Succeeded:
		if n.Resumed {
			line = fmt.Sprintf("✔ %s already succeeded for %s (%s): not deployed again", n.ID, cmp.Or(shortCommit(p.commit), "this commit"), n.Message)
		} else {
			line = fmt.Sprintf("✔ %s succeeded in %s", n.ID, seconds(n.DeploySeconds+n.ApprovalWaitSeconds))
		}
	case run.Failed:
		line = fmt.Sprintf("✖ %s failed: %s", n.ID, n.Message)
		if rb := n.Rollback; rb != nil {
			line += fmt.Sprintf("\n↩ %s rollback %s: %s", n.ID, rb.Result, rb.Message)
		}
	case run.Skipped:
		line = fmt.Sprintf("⊘ %s skipped: %s", n.ID, n.Message)
	case run.Cancelled:
		line = fmt.Sprintf("■ %s cancelled: %s", n.ID, n.Message)
	default:
		return
	}
	if n.RunURL != "" && n.State == run.Running && n.Phase != run.PhaseStarting {
		line += " " + n.RunURL
	}
	fmt.Fprintf(p.w, "[%s] %s\n", p.elapsed(), p.rt.Redact(line))
	if n.State.Final() && p.grouped {
		if out := p.output[n.ID]; len(out) > 0 {
			_ = p.rt.Group(fmt.Sprintf("%s output (%s)", n.ID, n.State))
			for _, l := range out {
				fmt.Fprintln(p.w, l)
			}
			_ = p.rt.EndGroup()
			delete(p.output, n.ID)
		}
	}
}

// heartbeat prints which nodes run and wait, and how far the run is.
func (p *progress) heartbeat() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var running, waiting []string
	done := 0
	for _, n := range p.latest {
		switch {
		case n.State.Final():
			done++
		case n.State == run.Running && n.Phase == run.PhaseWaiting:
			waiting = append(waiting, n.ID)
		case n.State == run.Running:
			running = append(running, n.ID)
		}
	}
	if len(running)+len(waiting) == 0 {
		return
	}
	parts := []string{fmt.Sprintf("%d/%d done", done, len(p.latest))}
	if len(running) > 0 {
		parts = append(parts, fmt.Sprintf("running: %s", list(running, 5)))
	}
	if len(waiting) > 0 {
		parts = append(parts, fmt.Sprintf("waiting for approval: %s", list(waiting, 5)))
	}
	fmt.Fprintf(p.w, "[%s] … %s\n", p.elapsed(), strings.Join(parts, "; "))
}

func list(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n], ", ") + fmt.Sprintf(" and %d more", len(ids)-n)
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

func shortCommit(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// resumed lists the nodes a run skipped because they had already succeeded
// for its commit.
func resumed(st *run.Status) []string {
	var ids []string
	for _, n := range st.Nodes {
		if n.Resumed {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// writeResult prints the final table for a terminal.
func writeResult(w io.Writer, st *run.Status) {
	fmt.Fprintf(w, "\nResult: %s — %d succeeded, %d failed, %d skipped, %d cancelled\n", st.Result,
		len(st.IDs(run.Succeeded)), len(st.IDs(run.Failed)), len(st.IDs(run.Skipped)), len(st.IDs(run.Cancelled)))
	if ids := resumed(st); len(ids) > 0 {
		fmt.Fprintf(w, "  %d of them had already succeeded for %s and were not deployed again (--force deploys them): %s\n", len(ids), shortCommit(st.Commit), list(ids, 5))
	}
	for _, state := range []run.State{run.Failed, run.Skipped, run.Cancelled} {
		for _, n := range st.Nodes {
			if n.State == state {
				fmt.Fprintf(w, "  %-9s %s: %s\n", state, n.ID, n.Message)
			}
		}
	}
}

// summaryMarkdown is the job summary of a run: one row per node.
func summaryMarkdown(st *run.Status) string {
	var b strings.Builder
	icon := map[run.State]string{run.Succeeded: "✅", run.Failed: "❌", run.Skipped: "⏭️", run.Cancelled: "⏹️", run.Pending: "⏸️", run.Running: "🔄"}
	fmt.Fprintf(&b, "## Promotion %s\n\n%d succeeded, %d failed, %d skipped, %d cancelled", st.Result,
		len(st.IDs(run.Succeeded)), len(st.IDs(run.Failed)), len(st.IDs(run.Skipped)), len(st.IDs(run.Cancelled)))
	if st.Commit != "" {
		fmt.Fprintf(&b, " for commit `%s`", st.Commit)
	}
	if ids := resumed(st); len(ids) > 0 {
		fmt.Fprintf(&b, "; %d of the successes are earlier ones, not deployed again (`--force` deploys them)", len(ids))
	}
	b.WriteString(".\n\n| Node | Result | Duration | Approval wait | Attempts | Deployment | Run | Note |\n|---|---|---:|---:|---:|---|---|---|\n")
	nodes := slices.Clone(st.Nodes)
	order := map[run.State]int{run.Failed: 0, run.Cancelled: 1, run.Skipped: 2, run.Running: 3, run.Pending: 4, run.Succeeded: 5}
	slices.SortStableFunc(nodes, func(a, b run.NodeStatus) int { return order[a.State] - order[b.State] })
	for i, n := range nodes {
		if i == 300 {
			fmt.Fprintf(&b, "\n_%d more nodes are in the status file._\n", len(nodes)-300)
			break
		}
		dep, runLink := "", ""
		if n.DeploymentURL != "" {
			dep = fmt.Sprintf("[#%d](%s)", n.DeploymentID, n.DeploymentURL)
		} else if n.DeploymentID != 0 {
			dep = fmt.Sprintf("#%d", n.DeploymentID)
		}
		if n.RunURL != "" {
			runLink = fmt.Sprintf("[run](%s)", n.RunURL)
		}
		note := strings.NewReplacer("|", `\|`, "\n", " ").Replace(n.Message)
		state := string(n.State)
		if n.Resumed {
			state, note = "succeeded earlier", "not deployed again: already succeeded for this commit ("+note+")"
		}
		fmt.Fprintf(&b, "| `%s` | %s %s | %s | %s | %d | %s | %s | %s |\n", n.ID, icon[n.State], state,
			seconds(n.DeploySeconds), seconds(n.ApprovalWaitSeconds), n.Attempts, dep, runLink, note)
	}
	b.WriteString(verify.Markdown(st))
	return b.String()
}
