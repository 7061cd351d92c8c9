// Package manifesttest generates large, valid promotion manifests for tests
// and benchmarks.
package manifesttest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Generate returns the YAML of a manifest with the given number of services
// in the environments dev, staging and production (protected). Service i
// depends on up to deps services declared before it, chosen by a seeded
// random source among the window services just before it (0: among all), so
// the graph is acyclic and the same for the same arguments. Every tenth
// service is a sandbox service that nothing depends on.
func Generate(services, deps, window int) []byte {
	r := rand.New(rand.NewPCG(uint64(services), uint64(deps)))
	var b strings.Builder
	b.Grow(services * 160)
	b.WriteString("version: 1\ndefaults:\n  max_parallel: 16\n  deploy: {workflow: deploy.yml}\n")
	b.WriteString("environments:\n  - name: dev\n  - name: staging\n    gate: {soak: 5m}\n  - name: production\n    protected: true\n    gate: {soak: 30m}\n")
	b.WriteString("services:\n")
	for i := range services {
		fmt.Fprintf(&b, "  svc-%d:\n    paths: [\"services/svc-%d/**\"]\n    expected_duration: %dm\n", i, i, 1+r.IntN(9))
		if i%10 == 9 {
			b.WriteString("    compliance: sandbox\n")
		}
		seen := map[int]bool{}
		var ds []string
		for range min(deps, i) {
			d := r.IntN(i)
			if window > 0 && i > window {
				d = i - 1 - r.IntN(window)
			}
			if d%10 == 9 || seen[d] {
				continue
			}
			seen[d] = true
			ds = append(ds, fmt.Sprintf("svc-%d", d))
		}
		if len(ds) > 0 {
			fmt.Fprintf(&b, "    depends_on: [%s]\n", strings.Join(ds, ", "))
		}
	}
	return []byte(b.String())
}
