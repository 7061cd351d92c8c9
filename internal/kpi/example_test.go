package kpi_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/kpi"
	"github.com/promote-dev/promote/internal/sign"
)

// Example seals two deployments of api to production, one failed and one
// that recovered, and computes the DORA figures from the verified chain.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "kpi-example")
	defer os.RemoveAll(dir)
	signer, _, _ := sign.LoadOrCreateLocal(filepath.Join(dir, "key.pem"), sign.AlgorithmEd25519)
	keys, _ := signer.PublicKeys(ctx)
	store, _ := evidence.NewLocalStore(filepath.Join(dir, "evidence"))

	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	deploy := func(id int64, outcome string, at time.Duration) evidence.Record {
		return evidence.Record{
			Kind: evidence.KindPromotion, Commit: "c0ffee0000000000000000000000000000000001",
			Service: "api", Environment: "production", Node: "api@production", DeploymentID: id,
			Actor: "octocat", Approvers: []string{}, StartedAt: start.Add(at), FinishedAt: start.Add(at + 5*time.Minute),
			Outcome: outcome, Attempts: 1, CommitTime: start,
		}
	}
	if _, err := evidence.Append(ctx, store, signer, []evidence.Record{
		deploy(1, "failed", time.Hour), deploy(2, "succeeded", 2*time.Hour),
	}); err != nil {
		fmt.Println(err)
		return
	}

	g := kpi.Gather(ctx, kpi.Sources{StoreName: "file://evidence", Store: store, Keys: keys})
	s := kpi.Compute(g.Input, kpi.Options{Now: start.Add(24 * time.Hour), Since: 7 * 24 * time.Hour})
	ratio, _ := s.Value(kpi.DORAFailureRatio, "api", "production")
	perDay, _ := s.Value(kpi.DORAFrequency, "api", "production")
	fmt.Printf("chain ok: %v\nchange failure ratio: %.2f\ndeployments per day: %.3f\n", s.ChainOK, ratio, perDay)
	// Output:
	// chain ok: true
	// change failure ratio: 0.50
	// deployments per day: 0.143
}
