package verify

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
)

// These tests talk to real HTTP servers on loopback in real time, so they
// assert on outcomes and messages only, never on durations; the timing
// rules are TestLoop's, on a fake clock.

var apiNode = &plan.Node{ID: "api@staging", Service: "api", Environment: "staging", GitHubEnvironment: "staging"}

func httpCheck(h *manifest.HTTPCheck, timing manifest.Timing) manifest.Check {
	if h.Method == "" {
		h.Method = "GET"
	}
	return manifest.Check{Name: "health", HTTP: h, Timing: timing}
}

func TestHTTPProbe(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-token"
	mux := http.NewServeMux()
	mux.HandleFunc("/api/staging/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok: all good\n"))
	})
	// Each flapping path has its own counter: the subtests run in parallel,
	// and a shared one would make their attempts' answers depend on the
	// order they interleave in.
	for _, path := range []string{"/flapping", "/flapping-forever"} {
		var flaps atomic.Int32
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if flaps.Add(1)%2 == 0 {
				http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
	}
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/hangs", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/starting", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("starting"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the tests fail on purpose
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HEALTH_TOKEN": "Bearer " + secret}
	fast := manifest.Timing{Interval: 10 * time.Millisecond, Successes: 3, Failures: 2, Deadline: 10 * time.Second}
	tests := []struct {
		what    string
		check   *manifest.HTTPCheck
		timing  manifest.Timing
		outcome string
		message string // a substring
		last    string
	}{
		{what: "passing, templated, with a header", check: &manifest.HTTPCheck{URL: srv.URL + "/{service}/{environment}/healthz", Status: 200, Body: regexp.MustCompile(`^ok`), Headers: map[string]string{"Authorization": "HEALTH_TOKEN"}}, timing: fast, outcome: "passed", last: "HTTP 200"},
		{what: "wrong status", check: &manifest.HTTPCheck{URL: srv.URL + "/api/staging/healthz"}, timing: fast, outcome: "failed", message: "answered 401, want a 2xx", last: "HTTP 401"},
		{what: "flapping", check: &manifest.HTTPCheck{URL: srv.URL + "/flapping"}, timing: fast, outcome: "failed", message: "2 of 4 attempts failed (limit 2); the last: GET " + srv.URL + "/flapping answered 503", last: "HTTP 503"},
		{what: "slow but in time", check: &manifest.HTTPCheck{URL: srv.URL + "/slow", Timeout: 5 * time.Second}, timing: fast, outcome: "passed"},
		{what: "timing out", check: &manifest.HTTPCheck{URL: srv.URL + "/hangs", Timeout: 50 * time.Millisecond}, timing: fast, outcome: "failed", message: "no answer in time", last: "no answer"},
		{what: "body mismatch", check: &manifest.HTTPCheck{URL: srv.URL + "/starting", Body: regexp.MustCompile(`^ok`)}, timing: fast, outcome: "failed", message: `the body does not match "^ok"`, last: `HTTP 200, body "starting"`},
		{what: "never decided", check: &manifest.HTTPCheck{URL: srv.URL + "/flapping-forever"}, timing: manifest.Timing{Interval: 10 * time.Millisecond, Successes: 2, Failures: 1000, Deadline: 100 * time.Millisecond}, outcome: "failed", message: "no decision within its deadline of 100ms"},
		{what: "TLS: unknown authority", check: &manifest.HTTPCheck{URL: tlsSrv.URL + "/slow"}, timing: fast, outcome: "failed", message: "certificate signed by unknown authority"},
		{what: "TLS: trusted CA file", check: &manifest.HTTPCheck{URL: tlsSrv.URL + "/slow", TLS: manifest.TLS{CAFile: "ca.pem"}}, timing: fast, outcome: "passed"},
		{what: "TLS: wrong server name", check: &manifest.HTTPCheck{URL: tlsSrv.URL + "/slow", TLS: manifest.TLS{CAFile: "ca.pem", ServerName: "api.internal"}}, timing: fast, outcome: "failed", message: "certificate is valid for example.com"},
		{what: "TLS: not a CA file", check: &manifest.HTTPCheck{URL: tlsSrv.URL + "/slow", TLS: manifest.TLS{CAFile: "missing.pem"}}, timing: fast, outcome: "failed", message: "tls.ca_file: open"},
		{what: "header variable unset", check: &manifest.HTTPCheck{URL: srv.URL + "/slow", Headers: map[string]string{"Authorization": "NOT_SET"}}, timing: fast, outcome: "failed", message: "header Authorization: environment variable NOT_SET is not set"},
		{what: "connection refused", check: &manifest.HTTPCheck{URL: "http://127.0.0.1:1/healthz"}, timing: fast, outcome: "failed", message: "connection refused", last: "no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			v := &Verifier{Manifest: &manifest.Manifest{File: filepath.Join(dir, "promotion.yaml")}, Getenv: func(k string) string { return env[k] }}
			res, _ := v.run(t.Context(), apiNode, httpCheck(tt.check, tt.timing), "health", 0)
			if res.Outcome != tt.outcome || !strings.Contains(res.Message, tt.message) {
				t.Errorf("run() = %s: %q; want %s with %q", res.Outcome, res.Message, tt.outcome, tt.message)
			}
			if tt.last != "" && res.LastValue != tt.last {
				t.Errorf("last value = %q, want %q", res.LastValue, tt.last)
			}
			if strings.Contains(res.Message+res.LastValue, secret) {
				t.Errorf("result %+v shows the header's secret value", res)
			}
		})
	}
}
