package gate

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/githubtest"
)

// BenchmarkEvaluate measures the policies alone: one decision on a real
// gate input (what Replay does per record).
func BenchmarkEvaluate(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, githubtest.Options{})
	w.deploy("staging", "success")
	w.meshCheck("api", "passed")
	d, err := w.gate(bubbleManifest).Decide(ctx, Target{Service: "api", Environment: "production", Commit: w.commit})
	if err != nil {
		b.Fatal(err)
	}
	input := d.Input
	engine, err := LoadPolicies(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Evaluate(ctx, engine, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecide measures a whole decision against an in-memory GitHub
// and a local evidence chain of n records: the input's GitHub requests,
// the chain's verification (every record, every time: the gate believes
// nothing it has not verified), the policies, and sealing the decision.
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		n    int
		seal bool
	}{{10, false}, {10, true}, {1000, false}, {1000, true}} {
		n := bc.n
		b.Run(fmt.Sprintf("chain=%d/seal=%v", n, bc.seal), func(b *testing.B) {
			ctx := context.Background()
			w := newWorld(b, githubtest.Options{})
			w.deploy("staging", "success")
			records := make([]evidence.Record, n)
			now := time.Now().Add(-time.Hour)
			for i := range records {
				records[i] = evidence.Record{
					Kind: evidence.KindMeshCheck, Commit: fmt.Sprintf("%040x", i), Service: "api", Environment: "staging", Node: "api@staging",
					Actor: "ci", Approvers: []string{}, StartedAt: now, FinishedAt: now, Outcome: "passed",
				}
			}
			records[n-1].Commit = w.commit
			if err := w.seal(ctx, records, nil); err != nil {
				b.Fatal(err)
			}
			// Past the soak, outside the Saturday freeze whatever today is.
			m := `version: 1
environments:
  - name: staging
  - name: production
    protected: true
    gate: {soak: 30m}
services:
  api: {paths: ["api/**"], mesh: api/mesh, deploy: {command: ./deploy.sh}}
`
			g := w.gate(m)
			if !bc.seal {
				g.cfg.Seal = nil
			}
			target := Target{Service: "api", Environment: "production", Commit: w.commit}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Decide(ctx, target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
