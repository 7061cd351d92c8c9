package plan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Limits that keep renderings readable; plan.json always holds everything.
const (
	maxLineServices = 12  // services shown per environment line
	maxWaveNodes    = 10  // nodes shown per wave in the terminal table
	maxTableRows    = 300 // rows of the summary table
	maxMermaidNodes = 150 // mermaid renders nothing useful beyond this
	maxMermaidEdges = 400
)

// Duration formats seconds the way the manifest writes durations: 1h2m, 10m, 45s.
func Duration(secs int64) string {
	s := (time.Duration(secs) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Summary is a one-line description of the plan.
func (p *Plan) Summary() string {
	if len(p.Nodes) == 0 {
		return "nothing to promote"
	}
	return fmt.Sprintf("%d nodes in %d waves, critical path %s", len(p.Nodes), len(p.Waves), Duration(p.CriticalPath.DurationSeconds))
}

// envChains returns, per environment of the plan, its services grouped by
// dependency depth inside that environment: [[a], [b, d], [c]].
func (p *Plan) envChains() map[string][][]string {
	depth := make(map[string]int, len(p.Nodes))
	env := make(map[string]string, len(p.Nodes))
	chains := map[string][][]string{}
	for _, n := range p.Nodes { // nodes are in topological order
		env[n.ID] = n.Environment
		d := 0
		for _, need := range n.Needs {
			if env[need] == n.Environment {
				d = max(d, depth[need]+1)
			}
		}
		depth[n.ID] = d
		c := chains[n.Environment]
		for len(c) <= d {
			c = append(c, nil)
		}
		c[d] = append(c[d], n.Service)
		chains[n.Environment] = c
	}
	return chains
}

func chainText(levels [][]string) string {
	parts := make([]string, 0, len(levels))
	shown := 0
	for _, lvl := range levels {
		if shown >= maxLineServices {
			total := 0
			for _, l := range levels {
				total += len(l)
			}
			parts = append(parts, fmt.Sprintf("… (%d services in all)", total))
			break
		}
		shown += len(lvl)
		if len(lvl) == 1 {
			parts = append(parts, lvl[0])
			continue
		}
		if len(lvl) > maxLineServices {
			parts = append(parts, fmt.Sprintf("{%s, … %d more}", strings.Join(lvl[:maxLineServices], ", "), len(lvl)-maxLineServices))
			continue
		}
		parts = append(parts, "{"+strings.Join(lvl, ", ")+"}")
	}
	return strings.Join(parts, " → ")
}

// WriteText writes the plan for a terminal: the chain of each environment,
// the waves, the critical path and what is excluded.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Promotion plan for %s: %s\n", p.Manifest, p.Summary())
	if p.Commit != "" {
		fmt.Fprintf(&b, "Commit %s\n", p.Commit)
	}
	if len(p.Nodes) == 0 && p.Selection.ChangedSince != "" {
		fmt.Fprintf(&b, "No selected service owns any of the %d files changed since %s.\n", p.Selection.ChangedFiles, p.Selection.ChangedSince)
	}
	if len(p.Nodes) > 0 {
		b.WriteString("\n")
		chains := p.envChains()
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, e := range p.Environments {
			var notes []string
			if e.Protected {
				notes = append(notes, "protected")
			}
			if e.SoakSeconds > 0 {
				notes = append(notes, "soak "+Duration(e.SoakSeconds))
			}
			chain := chainText(chains[e.Name])
			if chain == "" {
				chain = "(nothing)"
			}
			fmt.Fprintf(tw, "  %s:\t%s\t%s\n", e.Name, chain, strings.Join(notes, ", "))
		}
		tw.Flush()

		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  WAVE\tNODES")
		for i, wave := range p.Waves {
			shown := wave
			more := ""
			if len(wave) > maxWaveNodes {
				shown, more = wave[:maxWaveNodes], fmt.Sprintf(" … and %d more", len(wave)-maxWaveNodes)
			}
			fmt.Fprintf(tw, "  %d\t%s%s\n", i+1, strings.Join(shown, "  "), more)
		}
		tw.Flush()

		fmt.Fprintf(&b, "\nCritical path (%s):\n  %s\n", Duration(p.CriticalPath.DurationSeconds), p.criticalText())
	}
	if len(p.Excluded) > 0 {
		b.WriteString("\nExcluded:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, x := range p.Excluded {
			fmt.Fprintf(tw, "  %s\t%s\n", x.ID, x.Reason)
		}
		tw.Flush()
	}
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ") // tabwriter pads empty last cells
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

func (p *Plan) criticalText() string {
	byID := make(map[string]*Node, len(p.Nodes))
	for i := range p.Nodes {
		byID[p.Nodes[i].ID] = &p.Nodes[i]
	}
	parts := make([]string, 0, len(p.CriticalPath.Nodes))
	var prev *Node
	for _, id := range p.CriticalPath.Nodes {
		n := byID[id]
		step := fmt.Sprintf("%s (%s)", id, Duration(n.ExpectedSeconds))
		if prev != nil && prev.Service == n.Service && n.SoakSeconds > 0 {
			step = fmt.Sprintf("soak %s, %s", Duration(n.SoakSeconds), step)
		}
		parts = append(parts, step)
		prev = n
	}
	return strings.Join(parts, " → ")
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

// WriteMarkdown writes the plan as a job summary: a mermaid flowchart of the
// DAG, critical path highlighted, and a table of the nodes.
func (p *Plan) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## Promotion plan\n\n")
	if len(p.Nodes) == 0 {
		fmt.Fprintf(&b, "Nothing to promote from `%s` to `%s`", p.Selection.From, p.Selection.To)
		if p.Selection.ChangedSince != "" {
			fmt.Fprintf(&b, ": no service owns a file changed since `%s`", p.Selection.ChangedSince)
		}
		b.WriteString(".\n")
	} else {
		envs := make([]string, len(p.Environments))
		for i, e := range p.Environments {
			envs[i] = e.Name
		}
		fmt.Fprintf(&b, "**%d nodes** in **%d waves** through %s; critical path **%s**",
			len(p.Nodes), len(p.Waves), strings.Join(envs, " → "), Duration(p.CriticalPath.DurationSeconds))
		if p.Commit != "" {
			fmt.Fprintf(&b, " for commit `%s`", p.Commit)
		}
		b.WriteString(".\n\n")
		p.writeMermaid(&b)
		p.writeTable(&b)
	}
	if len(p.Excluded) > 0 {
		b.WriteString("\n### Excluded\n\n| Node | Reason |\n|---|---|\n")
		for _, x := range p.Excluded {
			fmt.Fprintf(&b, "| `%s` | %s |\n", x.ID, cell(x.Reason))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *Plan) writeMermaid(b *strings.Builder) {
	if len(p.Nodes) > maxMermaidNodes || len(p.Edges) > maxMermaidEdges {
		fmt.Fprintf(b, "_The graph has %d nodes and %d edges, too many to draw; the table and plan.json list them all._\n\n", len(p.Nodes), len(p.Edges))
		return
	}
	key := make(map[string]string, len(p.Nodes))
	for i, n := range p.Nodes {
		key[n.ID] = fmt.Sprintf("n%d", i)
	}
	b.WriteString("```mermaid\nflowchart LR\n")
	for i, e := range p.Environments {
		fmt.Fprintf(b, "  subgraph e%d[\"%s\"]\n", i, mermaidText(e.Name))
		for _, n := range p.Nodes {
			if n.Environment == e.Name {
				fmt.Fprintf(b, "    %s[\"%s\"]\n", key[n.ID], mermaidText(n.Service))
			}
		}
		b.WriteString("  end\n")
	}
	for _, e := range p.Edges {
		if e.Kind == "promotion" {
			fmt.Fprintf(b, "  %s -.-> %s\n", key[e.From], key[e.To])
		} else {
			fmt.Fprintf(b, "  %s --> %s\n", key[e.From], key[e.To])
		}
	}
	var crit []string
	for _, id := range p.CriticalPath.Nodes {
		crit = append(crit, key[id])
	}
	if len(crit) > 0 {
		b.WriteString("  classDef critical stroke:#d1242f,stroke-width:3px\n")
		fmt.Fprintf(b, "  class %s critical\n", strings.Join(crit, ","))
	}
	b.WriteString("```\n\n_Solid arrows are dependencies, dotted arrows the promotion path; the critical path is outlined in red._\n\n")
}

func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ").Replace(s)
}

func (p *Plan) writeTable(b *strings.Builder) {
	b.WriteString("| Wave | Node | GitHub environment | Deploy | Needs | Expected | Earliest start |\n|---:|---|---|---|---|---:|---:|\n")
	for i, n := range p.Nodes {
		if i == maxTableRows {
			fmt.Fprintf(b, "\n_%d more nodes are in plan.json._\n", len(p.Nodes)-maxTableRows)
			break
		}
		deploy := "workflow `" + n.Deploy.Workflow + "`"
		if n.Deploy.Command != "" {
			deploy = "command"
		}
		name := "`" + n.ID + "`"
		if n.Critical {
			name = "**" + name + "**"
		}
		needs := make([]string, len(n.Needs))
		for j, need := range n.Needs {
			needs[j] = "`" + need + "`"
		}
		if n.Requires != nil {
			needs = append(needs, "`"+n.Requires.ID+"` (done before)")
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s |\n", n.Wave+1, name, cell(n.GitHubEnvironment), deploy,
			strings.Join(needs, ", "), Duration(n.ExpectedSeconds), Duration(n.EarliestStartSecs))
	}
}
