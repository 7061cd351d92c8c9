package dag

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/manifesttest"
)

func example(t testing.TB) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load("../../examples/promotion.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ids(g *Graph, vs []int) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = g.ID(v)
	}
	return out
}

func TestExamplePlan(t *testing.T) {
	t.Parallel()
	g, err := Build(example(t), Selection{})
	if err != nil {
		t.Fatal(err)
	}
	a := g.Analyze()
	var waves [][]string
	for _, w := range a.Waves {
		waves = append(waves, ids(g, w))
	}
	want := [][]string{
		{"service-a@dev"},
		{"service-b@dev", "service-a@staging"},
		{"service-b@staging", "service-c@dev", "service-a@production"},
		{"service-b@production", "service-c@staging"},
	}
	if diff := cmp.Diff(want, waves); diff != "" {
		t.Errorf("waves (-want +got):\n%s", diff)
	}
	// service-b is the slowest service and production soaks longest: a 4m,
	// b 6m, soak 10m into staging and 30m into production.
	wantCritical := []string{"service-a@dev", "service-b@dev", "service-b@staging", "service-b@production"}
	if diff := cmp.Diff(wantCritical, ids(g, a.Critical)); diff != "" {
		t.Errorf("critical path (-want +got):\n%s", diff)
	}
	if a.Length != 62*time.Minute {
		t.Errorf("critical path length = %v, want 1h2m0s", a.Length)
	}
	if len(g.Excluded) != 1 || g.Excluded[0].Service != 2 || g.Excluded[0].Env != 2 {
		t.Errorf("excluded = %+v, want service-c@production", g.Excluded)
	}
	if got := g.EdgeCount(); got != 12 {
		t.Errorf("EdgeCount() = %d, want 12", got)
	}
}

func TestSelection(t *testing.T) {
	t.Parallel()
	m := example(t)
	tests := []struct {
		what      string
		sel       Selection
		nodes     []string
		requires  []string
		excluded  int
		wantError string
	}{
		{what: "to staging", sel: Selection{To: "staging"},
			nodes: []string{"service-a@dev", "service-b@dev", "service-c@dev", "service-a@staging", "service-b@staging", "service-c@staging"}},
		{what: "from staging", sel: Selection{From: "staging"},
			nodes:    []string{"service-a@staging", "service-b@staging", "service-c@staging", "service-a@production", "service-b@production"},
			requires: []string{"service-a@staging", "service-b@staging", "service-c@staging"}, excluded: 1},
		{what: "one environment", sel: Selection{From: "staging", To: "staging"},
			nodes:    []string{"service-a@staging", "service-b@staging", "service-c@staging"},
			requires: []string{"service-a@staging", "service-b@staging", "service-c@staging"}},
		{what: "services", sel: Selection{Services: []string{"service-b"}, To: "dev"}, nodes: []string{"service-b@dev"}},
		{what: "changed", sel: Selection{FilterChanged: true, Changed: []string{"libs/shared/log.go"}, To: "dev"},
			nodes: []string{"service-b@dev"}},
		{what: "changed with dependents", sel: Selection{FilterChanged: true, Changed: []string{"libs/shared/log.go"}, WithDependents: true, To: "dev"},
			nodes: []string{"service-b@dev", "service-c@dev"}},
		{what: "changed and services", sel: Selection{FilterChanged: true, Changed: []string{"services/service-a/main.go", "services/service-c/x"}, Services: []string{"service-a", "service-b"}, To: "dev"},
			nodes: []string{"service-a@dev"}},
		{what: "nothing changed", sel: Selection{FilterChanged: true, Changed: []string{"README.md"}}, nodes: []string{}},
		{what: "sandbox only", sel: Selection{Services: []string{"service-c"}, From: "production"}, nodes: []string{}, excluded: 1},
		{what: "unknown to", sel: Selection{To: "prod"}, wantError: `--to: unknown environment "prod" (the environments are dev, staging, production)`},
		{what: "unknown from", sel: Selection{From: "qa"}, wantError: `--from: unknown environment "qa"`},
		{what: "from after to", sel: Selection{From: "production", To: "dev"}, wantError: `--from: environment "production" comes after --to "dev"`},
		{what: "unknown service", sel: Selection{Services: []string{"service-x"}}, wantError: `--services: unknown service "service-x" (the services are service-a, service-b, service-c)`},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			g, err := Build(m, tt.sel)
			if tt.wantError != "" {
				var se *SelectionError
				if !errors.As(err, &se) || len(err.Error()) < len(tt.wantError) || err.Error()[:len(tt.wantError)] != tt.wantError {
					t.Fatalf("Build() = %v, want a SelectionError starting %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, 0)
			var requires []string
			for v, n := range g.Nodes {
				got = append(got, g.ID(v))
				if n.Requires {
					requires = append(requires, g.ID(v))
				}
			}
			if diff := cmp.Diff(tt.nodes, got); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.requires, requires); diff != "" {
				t.Errorf("nodes requiring the previous environment (-want +got):\n%s", diff)
			}
			if len(g.Excluded) != tt.excluded {
				t.Errorf("excluded = %+v, want %d", g.Excluded, tt.excluded)
			}
			a := g.Analyze()
			if len(a.Order) != len(g.Nodes) {
				t.Errorf("order has %d nodes, want %d", len(a.Order), len(g.Nodes))
			}
		})
	}
}

// TestOrderIsTopological checks on a large generated manifest that every node
// comes after all it waits for, in a later wave, and starts no earlier than
// they finish.
func TestOrderIsTopological(t *testing.T) {
	t.Parallel()
	m, err := manifest.Parse("gen.yaml", manifesttest.Generate(2000, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(m, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	a := g.Analyze()
	pos := make([]int, len(g.Nodes))
	for i, v := range a.Order {
		pos[v] = i
	}
	for v := range g.Nodes {
		for _, w := range g.Preds(v) {
			u := int(w)
			if pos[u] >= pos[v] || a.Wave[u] >= a.Wave[v] {
				t.Fatalf("%s comes before its predecessor %s", g.ID(v), g.ID(u))
			}
			if a.Start[v] < a.Start[u]+g.Duration(u)+g.Weight(u, v) {
				t.Fatalf("%s starts before %s finished", g.ID(v), g.ID(u))
			}
		}
	}
	var sum time.Duration
	for i, v := range a.Critical {
		sum += g.Duration(v)
		if i > 0 {
			sum += g.Weight(a.Critical[i-1], v)
		}
	}
	if sum != a.Length {
		t.Errorf("critical path sums to %v, want its length %v", sum, a.Length)
	}
	if a.Tail[a.Critical[0]] != a.Length {
		t.Errorf("tail of the critical path's first node = %v, want %v", a.Tail[a.Critical[0]], a.Length)
	}
}

// BenchmarkPlan measures the graph, waves, critical path and order, without
// YAML parsing, for generated manifests of 3 environments and about 3
// dependencies per service. "deps=any" draws dependencies from all earlier
// services, so the passes jump across the whole graph in memory; "deps=near"
// draws them from the 50 services declared just before, as in a repository
// whose related services are declared together. The same work on both shows
// what memory locality, not the algorithm, adds per node on large graphs.
func BenchmarkPlan(b *testing.B) {
	for _, bc := range []struct {
		services int
		deps     string
		window   int
	}{
		{1_000, "any", 0}, {10_000, "any", 0}, {100_000, "any", 0},
		{1_000, "near", 50}, {10_000, "near", 50}, {100_000, "near", 50},
	} {
		services := bc.services
		m, err := manifest.Parse("gen.yaml", manifesttest.Generate(services, 3, bc.window))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("deps=%s/services=%d", bc.deps, services), func(b *testing.B) {
			var nodes int
			for b.Loop() {
				g, err := Build(m, Selection{})
				if err != nil {
					b.Fatal(err)
				}
				g.Analyze()
				nodes = len(g.Nodes)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nodes), "ns/node")
			b.ReportMetric(float64(nodes), "nodes")
		})
	}
}
