package kpi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/kpi/kpitest"
)

// TestPushToAPushgateway pushes to a real Pushgateway twice, the second push
// replacing the first's group, and to one that is down.
func TestPushToAPushgateway(t *testing.T) {
	t.Parallel()
	url := kpitest.Pushgateway(t)
	st, keys, _ := testChain(t)
	ctx := context.Background()
	if err := Push(ctx, nil, url, "promote", "acme/app", Registry(compute(t, st, keys))); err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	// The second push has only integrity figures: the group must hold
	// those alone, not a mix of both pushes.
	s := Compute(Input{Store: "file://evidence"}, Options{Now: t0, Since: time.Hour})
	if err := Push(ctx, nil, url, "promote", "acme/app", Registry(s)); err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := string(body)
	if want := `promote_evidence_chain_ok{instance="",job="promote",repository="acme/app"} 0`; !strings.Contains(got, want) {
		t.Errorf("the Pushgateway's /metrics lacks %s:\n%s", want, got)
	}
	if strings.Contains(got, "promote_promotions_total{") {
		t.Errorf("the second push did not replace the first's group:\n%s", got)
	}

	down := "http://" + kpitest.FreeAddr(t)
	if err := Push(ctx, nil, down, "promote", "acme/app", Registry(s)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pushing to the Pushgateway %s", down)) {
		t.Errorf("Push(down) error = %v, want one naming the Pushgateway", err)
	}
}
