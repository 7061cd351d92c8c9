package kpi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startPushgateway starts the Pushgateway binary at path on a free
// loopback port and returns its URL.
func startPushgateway(t *testing.T, path string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(path, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	for range 100 {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the Pushgateway at %s did not get ready", addr)
	return ""
}

// TestPushToAPushgateway pushes to a real Pushgateway twice, the second push
// replacing the first's group, and to one that is down.
func TestPushToAPushgateway(t *testing.T) {
	t.Parallel()
	pg := os.Getenv("PUSHGATEWAY")
	if pg == "" {
		t.Skip("set PUSHGATEWAY to prometheus-pushgateway (make prometheus-tools installs /usr/bin/prometheus-pushgateway)")
	}
	url := startPushgateway(t, pg)
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

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	if err := Push(ctx, nil, down, "promote", "acme/app", Registry(s)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pushing to the Pushgateway %s", down)) {
		t.Errorf("Push(down) error = %v, want one naming the Pushgateway", err)
	}
}
