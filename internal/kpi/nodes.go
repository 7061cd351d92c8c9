package kpi

import (
	"slices"

	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/manifest"
)

// ManifestNodes returns the nodes the manifest promotes, every service in every
// environment it may enter, with the types of their checks there, whose
// series start at 0 before any record names them.
func ManifestNodes(m *manifest.Manifest) []Node {
	g, err := dag.Build(m, dag.Selection{})
	if err != nil {
		return nil // not with the zero selection of a valid manifest
	}
	nodes := make([]Node, len(g.Nodes))
	for i, n := range g.Nodes {
		svc, env := m.Services[n.Service].Name, m.Environments[n.Env].Name
		nodes[i] = Node{Service: svc, Environment: env}
		for _, c := range m.Verification(svc, env) {
			if t := c.Type(); !slices.Contains(nodes[i].Checks, t) {
				nodes[i].Checks = append(nodes[i].Checks, t)
			}
		}
	}
	return nodes
}
