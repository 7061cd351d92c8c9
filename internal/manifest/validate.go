package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/promote-dev/promote/internal/yamlnode"
)

// validate checks what holds across sections: names, dependencies, cycles,
// compliance and settings that depend on each other. It runs only on a
// manifest that decoded cleanly, so every field has its type.
func (d *decoder) validate(m *Manifest) {
	envSeen := map[string]Environment{}
	for _, e := range m.Environments {
		if first, dup := envSeen[e.Name]; dup {
			d.errs = append(d.errs, &Error{File: d.file, Pos: e.Pos,
				Msg: fmt.Sprintf("environment %q is declared twice (first at line %d); environment names are unique", e.Name, first.Pos.Line)})
			continue
		}
		envSeen[e.Name] = e
	}

	def := m.Defaults
	if def.Rollout.Initial > def.MaxParallel {
		d.errs = append(d.errs, &Error{File: d.file, Pos: Pos{1, 1},
			Msg: fmt.Sprintf("defaults.rollout.initial (%d) is larger than defaults.max_parallel (%d); lower it or raise max_parallel", def.Rollout.Initial, def.MaxParallel)})
	}

	protected := ""
	for _, e := range m.Environments {
		if e.Protected {
			protected = e.Name
			break
		}
	}

	names := keys(m.index)
	for i := range m.Services {
		svc := &m.Services[i]
		if svc.Deploy.Workflow == "" && svc.Deploy.Command == "" {
			if def.Deploy == nil {
				d.errs = append(d.errs, &Error{File: d.file, Pos: svc.Pos,
					Msg: fmt.Sprintf("service %q has no deploy; set deploy.workflow or deploy.command, or defaults.deploy for every service", svc.Name)})
			} else {
				svc.Deploy = *def.Deploy
			}
		}
		if svc.ExpectedDuration == 0 {
			svc.ExpectedDuration = def.ExpectedDuration
		}
		seen := map[string]bool{}
		for j := range svc.DependsOn {
			dep := &svc.DependsOn[j]
			idx, ok := m.index[dep.Name]
			switch {
			case dep.Name == svc.Name:
				d.errs = append(d.errs, &Error{File: d.file, Pos: dep.Pos,
					Msg: fmt.Sprintf("service %q depends on itself; remove it from its depends_on", svc.Name)})
				dep.Index = -1
				continue
			case !ok:
				msg := fmt.Sprintf("service %q depends on unknown service %q", svc.Name, dep.Name)
				if s := yamlnode.Suggest(dep.Name, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				} else {
					msg += fmt.Sprintf(" (the services are %s)", strings.Join(truncate(names, 10), ", "))
				}
				d.errs = append(d.errs, &Error{File: d.file, Pos: dep.Pos, Msg: msg})
				dep.Index = -1
				continue
			case seen[dep.Name]:
				d.errs = append(d.errs, &Error{File: d.file, Pos: dep.Pos,
					Msg: fmt.Sprintf("service %q lists dependency %q twice; remove one", svc.Name, dep.Name)})
				dep.Index = -1
				continue
			}
			seen[dep.Name] = true
			dep.Index = idx
			if target := m.Services[idx]; protected != "" && target.Compliance == Sandbox && svc.Compliance != Sandbox {
				d.errs = append(d.errs, &Error{File: d.file, Pos: dep.Pos,
					Msg: fmt.Sprintf("service %q (%s) depends on sandbox service %q, which is never promoted into protected environment %q; raise %q's compliance or drop the dependency",
						svc.Name, svc.Compliance, dep.Name, protected, dep.Name)})
			}
		}
	}
	d.validateVerify(m, envSeen)
	d.cycles(m)
}

func truncate(names []string, n int) []string {
	if len(names) <= n {
		return names
	}
	return append(slices.Clone(names[:n]), fmt.Sprintf("and %d more", len(names)-n))
}

// validGlob reports why a paths glob can never match a repository path.
func validGlob(glob string) error {
	switch {
	case !doublestar.ValidatePattern(glob):
		return errors.New("malformed pattern: close every bracket and brace, or escape a literal one with a backslash")
	case strings.HasPrefix(glob, "/"):
		return errors.New("paths are relative to the directory of the manifest; drop the leading /")
	case strings.HasPrefix(glob, "./"):
		return errors.New("paths are matched as git prints them; drop the leading ./")
	case slices.Contains(strings.Split(glob, "/"), ".."):
		return errors.New("paths may not climb out of the manifest's directory with a .. segment")
	}
	return nil
}

// cycles reports every dependency cycle, once per strongly connected
// component, with the full path and the position of each edge.
func (d *decoder) cycles(m *Manifest) {
	n := len(m.Services)
	// Tarjan's algorithm, iterative so that a long dependency chain cannot
	// overflow the stack.
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, comps := 0, 0
	type frame struct{ v, edge int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			deps := m.Services[f.v].DependsOn
			if f.edge < len(deps) {
				w := deps[f.edge].Index
				f.edge++
				if w < 0 {
					continue
				}
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				} else if onStack[w] {
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				low[u] = min(low[u], low[v])
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = comps
					if w == v {
						break
					}
				}
				comps++
			}
		}
	}

	size := make([]int, comps)
	for _, c := range comp {
		size[c]++
	}
	reported := make([]bool, comps)
	for start := range n { // declaration order keeps the report deterministic
		c := comp[start]
		if size[c] < 2 || reported[c] {
			continue
		}
		reported[c] = true
		d.reportCycle(m, d.cycleFrom(m, start, comp))
	}
}

// cycleFrom finds a shortest cycle through start inside start's component, as
// the list of dependency edges taken: (service index, depends_on index).
func (d *decoder) cycleFrom(m *Manifest, start int, comp []int) [][2]int {
	type via struct{ from, edge int }
	prev := map[int]via{}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for j, dep := range m.Services[v].DependsOn {
			w := dep.Index
			if w < 0 || comp[w] != comp[start] {
				continue
			}
			if w == start {
				edges := [][2]int{{v, j}}
				for v != start {
					p := prev[v]
					edges = append(edges, [2]int{p.from, p.edge})
					v = p.from
				}
				slices.Reverse(edges)
				return edges
			}
			if _, seen := prev[w]; !seen {
				prev[w] = via{v, j}
				queue = append(queue, w)
			}
		}
	}
	return nil
}

func (d *decoder) reportCycle(m *Manifest, edges [][2]int) {
	if len(edges) == 0 {
		return
	}
	path := []string{m.Services[edges[0][0]].Name}
	var notes []Note
	for _, e := range edges {
		svc := m.Services[e[0]]
		dep := svc.DependsOn[e[1]]
		path = append(path, dep.Name)
		notes = append(notes, Note{Pos: dep.Pos, Msg: fmt.Sprintf("%s depends on %s", svc.Name, dep.Name)})
	}
	d.errs = append(d.errs, &Error{File: d.file, Pos: notes[0].Pos, Notes: notes,
		Msg: fmt.Sprintf("dependency cycle: %s; remove one of these dependencies", strings.Join(path, " → "))})
}
