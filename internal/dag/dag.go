// Package dag builds the promotion graph of a manifest: one node per service
// and environment, edges from service dependencies inside an environment and
// from the promotion path across environments. It computes the topological
// waves, the critical path and a deterministic, critical-path-first order.
//
// Nodes and edges are kept in flat integer arrays so that a repository of a
// hundred thousand services plans in milliseconds.
package dag

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/promote-dev/promote/internal/manifest"
)

// Selection picks the part of the promotion that a plan covers. The zero
// value selects every service in every environment.
type Selection struct {
	// From and To bound the environments, inclusive; empty means the first
	// and the last.
	From, To string
	// Services, when not empty, keeps only these services.
	Services []string
	// FilterChanged keeps only the services that own one of Changed, the
	// paths (relative to the manifest's directory) that changed.
	FilterChanged bool
	Changed       []string
	// WithDependents adds every service that depends, directly or not, on a
	// selected one.
	WithDependents bool
}

// SelectionError is a selection that does not fit the manifest, such as an
// unknown environment.
type SelectionError struct {
	Flag string
	Msg  string
}

func (e *SelectionError) Error() string { return e.Flag + ": " + e.Msg }

// Node is one service in one environment.
type Node struct {
	Service int // index in Manifest.Services
	Env     int // index in Manifest.Environments
	// Requires is true when the service's node in the previous environment is
	// outside the plan (before --from): the promotion path then requires that
	// it succeeded there already.
	Requires bool
}

// Exclusion is a node that the selection would contain but that may not be
// promoted, with the reason.
type Exclusion struct {
	Service, Env int
	Reason       string
}

// Graph is the promotion DAG of one selection.
type Graph struct {
	Manifest *manifest.Manifest
	// From and To are the selected environments' indices, inclusive.
	From, To int
	Nodes    []Node
	Excluded []Exclusion

	predOff, preds []int32 // preds of node v: preds[predOff[v]:predOff[v+1]]
	succOff, succs []int32
}

// Preds returns the nodes v waits for.
func (g *Graph) Preds(v int) []int32 { return g.preds[g.predOff[v]:g.predOff[v+1]] }

// Succs returns the nodes that wait for v.
func (g *Graph) Succs(v int) []int32 { return g.succs[g.succOff[v]:g.succOff[v+1]] }

// EdgeCount is the number of edges.
func (g *Graph) EdgeCount() int { return len(g.preds) }

// ID returns a node's name, service@environment.
func (g *Graph) ID(v int) string {
	n := g.Nodes[v]
	return g.Manifest.Services[n.Service].Name + "@" + g.Manifest.Environments[n.Env].Name
}

// IsPromotion reports whether the edge u → v is a step of the promotion path
// (the same service in the previous environment) rather than a dependency.
func (g *Graph) IsPromotion(u, v int) bool { return g.Nodes[u].Service == g.Nodes[v].Service }

// Build computes the graph of a selection.
func Build(m *manifest.Manifest, sel Selection) (*Graph, error) {
	from, to, err := envRange(m, sel)
	if err != nil {
		return nil, err
	}
	chosen, err := services(m, sel)
	if err != nil {
		return nil, err
	}

	nEnv := len(m.Environments)
	firstProtected := nEnv
	for i, e := range m.Environments {
		if e.Protected {
			firstProtected = i
			break
		}
	}

	deps := 0
	for s, svc := range m.Services {
		if chosen[s] {
			deps += len(svc.DependsOn)
		}
	}
	var neverInto, stopsBefore string
	if firstProtected < nEnv {
		name := m.Environments[firstProtected].Name
		neverInto = fmt.Sprintf("sandbox service is never promoted into protected environment %q", name)
		stopsBefore = fmt.Sprintf("sandbox service stops before protected environment %q", name)
	}
	g := &Graph{Manifest: m, From: from, To: to, Nodes: make([]Node, 0, len(m.Services)*(to-from+1))}
	nodeOf := make([]int32, len(m.Services)*nEnv)
	for i := range nodeOf {
		nodeOf[i] = -1
	}
	for e := from; e <= to; e++ {
		for s, svc := range m.Services {
			if !chosen[s] {
				continue
			}
			if svc.Compliance == manifest.Sandbox && e >= firstProtected {
				reason := stopsBefore
				if e == firstProtected {
					reason = neverInto
				}
				g.Excluded = append(g.Excluded, Exclusion{Service: s, Env: e, Reason: reason})
				continue
			}
			nodeOf[s*nEnv+e] = int32(len(g.Nodes))
			g.Nodes = append(g.Nodes, Node{Service: s, Env: e, Requires: e == from && from > 0})
		}
	}

	// Predecessors in CSR form: dependencies in the same environment, then
	// the same service in the previous environment.
	g.predOff = make([]int32, len(g.Nodes)+1)
	g.preds = make([]int32, 0, deps*(to-from+1)+len(g.Nodes))
	for v, n := range g.Nodes {
		for _, dep := range m.Services[n.Service].DependsOn {
			if u := nodeOf[dep.Index*nEnv+n.Env]; u >= 0 {
				g.preds = append(g.preds, u)
			}
		}
		if n.Env > from {
			if u := nodeOf[n.Service*nEnv+n.Env-1]; u >= 0 {
				g.preds = append(g.preds, u)
			}
		}
		g.predOff[v+1] = int32(len(g.preds))
	}
	g.succOff = make([]int32, len(g.Nodes)+1)
	for _, u := range g.preds {
		g.succOff[u+1]++
	}
	for v := range g.Nodes {
		g.succOff[v+1] += g.succOff[v]
	}
	g.succs = make([]int32, len(g.preds))
	fill := slices.Clone(g.succOff[:len(g.Nodes)])
	for v := range g.Nodes {
		for _, u := range g.Preds(v) {
			g.succs[fill[u]] = int32(v)
			fill[u]++
		}
	}
	return g, nil
}

func envRange(m *manifest.Manifest, sel Selection) (int, int, error) {
	from, to := 0, len(m.Environments)-1
	choices := strings.Join(m.EnvironmentNames(), ", ")
	if sel.From != "" {
		i, ok := m.Environment(sel.From)
		if !ok {
			return 0, 0, &SelectionError{"--from", fmt.Sprintf("unknown environment %q (the environments are %s)", sel.From, choices)}
		}
		from = i
	}
	if sel.To != "" {
		i, ok := m.Environment(sel.To)
		if !ok {
			return 0, 0, &SelectionError{"--to", fmt.Sprintf("unknown environment %q (the environments are %s)", sel.To, choices)}
		}
		to = i
	}
	if from > to {
		return 0, 0, &SelectionError{"--from", fmt.Sprintf("environment %q comes after --to %q in the promotion order (%s)", sel.From, sel.To, choices)}
	}
	return from, to, nil
}

// services returns which services the selection keeps.
func services(m *manifest.Manifest, sel Selection) ([]bool, error) {
	chosen := make([]bool, len(m.Services))
	if len(sel.Services) == 0 {
		for i := range chosen {
			chosen[i] = true
		}
	}
	for _, name := range sel.Services {
		i, ok := m.Service(name)
		if !ok {
			names := make([]string, 0, 10)
			for _, s := range m.Services[:min(10, len(m.Services))] {
				names = append(names, s.Name)
			}
			if len(m.Services) > 10 {
				names = append(names, "…")
			}
			return nil, &SelectionError{"--services", fmt.Sprintf("unknown service %q (the services are %s)", name, strings.Join(names, ", "))}
		}
		chosen[i] = true
	}
	if sel.FilterChanged {
		for i, svc := range m.Services {
			chosen[i] = chosen[i] && owns(svc.Paths, sel.Changed)
		}
	}
	if sel.WithDependents {
		dependents := make([][]int, len(m.Services))
		for i, svc := range m.Services {
			for _, dep := range svc.DependsOn {
				dependents[dep.Index] = append(dependents[dep.Index], i)
			}
		}
		var queue []int
		for i, c := range chosen {
			if c {
				queue = append(queue, i)
			}
		}
		for len(queue) > 0 {
			s := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			for _, d := range dependents[s] {
				if !chosen[d] {
					chosen[d] = true
					queue = append(queue, d)
				}
			}
		}
	}
	return chosen, nil
}

// owns reports whether any changed path matches any of the globs.
func owns(globs, changed []string) bool {
	for _, p := range changed {
		for _, g := range globs {
			if ok, _ := doublestar.Match(g, p); ok {
				return true
			}
		}
	}
	return false
}
