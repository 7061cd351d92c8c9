// Package kpitest starts the Prometheus parts that KPI tests run against.
package kpitest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Pushgateway starts the Pushgateway binary that $PUSHGATEWAY names on a
// free loopback port, stopped when the test ends, and returns its URL. It
// skips the test when PUSHGATEWAY is not set.
func Pushgateway(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PUSHGATEWAY")
	if path == "" {
		t.Skip("set PUSHGATEWAY to prometheus-pushgateway (make prometheus-tools installs /usr/bin/prometheus-pushgateway)")
	}
	addr := FreeAddr(t)
	cmd := exec.Command(path, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Poll until it answers: it is a process starting, not a duration the
	// test asserts on.
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "http://" + addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the Pushgateway at %s did not get ready", addr)
	return ""
}

// FreeAddr returns a loopback address nothing listens on, as "host:port".
func FreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
