package verify

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/manifest"
)

// istioTarget is a scrape target exposing istio_requests_total for the
// service api, each scrape adding 100 requests of which the set ratio are
// 5xx.
type istioTarget struct {
	mu         sync.Mutex
	errorRatio float64
	ok, failed float64
}

func (t *istioTarget) set(ratio float64) {
	t.mu.Lock()
	t.errorRatio = ratio
	t.mu.Unlock()
}

func (t *istioTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	t.mu.Lock()
	t.failed += 100 * t.errorRatio
	t.ok += 100 * (1 - t.errorRatio)
	ok, failed := t.ok, t.failed
	t.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, `# HELP istio_requests_total Requests.
# TYPE istio_requests_total counter
istio_requests_total{destination_service_name="api",destination_service_namespace="staging",response_code="200"} %g
istio_requests_total{destination_service_name="api",destination_service_namespace="staging",response_code="503"} %g
`, ok, failed)
}

// startPrometheus starts the Prometheus named by $PROMETHEUS on loopback,
// scraping target every second, and returns its URL once it is ready.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := os.Getenv("PROMETHEUS")
	if bin == "" {
		t.Skip("set PROMETHEUS to a prometheus binary (make prometheus installs Debian's, /usr/bin/prometheus) to run the Prometheus checks against a real server")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: mesh
    static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(target, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 30s: %v\n%s", url, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const errorRatioQuery = `sum(rate(istio_requests_total{destination_service_name="{service}",destination_service_namespace="{environment}",response_code=~"5.."}[5s]))
  / sum(rate(istio_requests_total{destination_service_name="{service}",destination_service_namespace="{environment}"}[5s]))`

// TestPrometheusCheck runs the check against a real Prometheus that
// scrapes a target whose error ratio the test changes: the check passes
// while the ratio is low, fails when it rises, and fails at its deadline
// when it cannot decide. It asserts on outcomes only: this runs in real
// time.
func TestPrometheusCheck(t *testing.T) {
	t.Parallel()
	target := &istioTarget{}
	ts := httptest.NewServer(target)
	t.Cleanup(ts.Close)
	prom := startPrometheus(t, ts.URL)
	below := 0.01
	v := &Verifier{Manifest: &manifest.Manifest{File: "promotion.yaml"}}
	check := func(p manifest.PrometheusCheck, timing manifest.Timing) (string, string, string) {
		t.Helper()
		p.URL = prom
		res, _ := v.run(t.Context(), apiNode, manifest.Check{Name: "errors", Prometheus: &p, Timing: timing}, "errors", 0)
		return res.Outcome, res.Message, res.LastValue
	}
	// Wait up to 30s until the rate has two samples: "no data" and NaN
	// fail the attempts meanwhile.
	patient := manifest.Timing{Interval: 500 * time.Millisecond, Successes: 2, Failures: 1000, Deadline: 30 * time.Second}
	if outcome, msg, last := check(manifest.PrometheusCheck{Query: errorRatioQuery, Below: &below}, patient); outcome != "passed" || last != "0" {
		t.Fatalf("healthy: check = %s (%s), last value %q; want passed with 0", outcome, msg, last)
	}

	// The range query over the last 3s sees only healthy samples too.
	window := manifest.PrometheusCheck{Query: errorRatioQuery, Below: &below, Window: 3 * time.Second, Step: time.Second}
	if outcome, msg, _ := check(window, patient); outcome != "passed" {
		t.Fatalf("healthy window: check = %s (%s), want passed", outcome, msg)
	}

	target.set(0.2)
	strict := manifest.Timing{Interval: 500 * time.Millisecond, Successes: 1000, Failures: 3, Deadline: 30 * time.Second}
	outcome, msg, last := check(manifest.PrometheusCheck{Query: errorRatioQuery, Below: &below}, strict)
	if outcome != "failed" || !strings.Contains(msg, "3 of") || !strings.Contains(msg, "want below 0.01") || last == "0" {
		t.Errorf("5xx at 20%%: check = %s (%s), last value %q; want failed at the limit of 3 with the ratio", outcome, msg, last)
	}

	// A bound the value keeps to, but too many successes to reach before
	// the deadline: undecided is failed.
	var ceiling = 0.5
	outcome, msg, _ = check(manifest.PrometheusCheck{Query: errorRatioQuery, Below: &ceiling}, manifest.Timing{Interval: 500 * time.Millisecond, Successes: 1000, Failures: 3, Deadline: 2 * time.Second})
	if outcome != "failed" || !strings.Contains(msg, "no decision within its deadline of 2s") {
		t.Errorf("deadline: check = %s (%s), want failed at the deadline", outcome, msg)
	}

	// Prometheus's own refusal of a bad query is a failure with its words.
	outcome, msg, _ = check(manifest.PrometheusCheck{Query: "sum(rate(", Below: &below}, manifest.Timing{Interval: 10 * time.Millisecond, Successes: 1, Failures: 1, Deadline: 10 * time.Second})
	if outcome != "failed" || !strings.Contains(msg, "the query failed: bad_data") {
		t.Errorf("bad query: check = %s (%s), want Prometheus's bad_data", outcome, msg)
	}

	// A metric nobody scrapes is no data, never a pass.
	outcome, msg, last = check(manifest.PrometheusCheck{Query: `sum(istio_requests_total{destination_service_name="nope"})`, Below: &below}, manifest.Timing{Interval: 10 * time.Millisecond, Successes: 1, Failures: 1, Deadline: 10 * time.Second})
	if outcome != "failed" || !strings.Contains(msg, "no data") || last != "no data" {
		t.Errorf("no data: check = %s (%s), last %q; want failed with no data", outcome, msg, last)
	}
}

// TestPrometheusUnreachableOrGarbage checks that a Prometheus that is down
// or answers something else fails the check with a clear message.
func TestPrometheusUnreachableOrGarbage(t *testing.T) {
	t.Parallel()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html/api/v1/query":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>Grafana login</body></html>"))
		case "/wrongtype/api/v1/query":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"string","result":[1700000000,"x"]}}`))
		case "/badvalue/api/v1/query":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"lots"]}]}}`))
		case "/nan/api/v1/query":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"NaN"]}]}}`))
		case "/scalar/api/v1/query":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.001"]}}`))
		default:
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(garbage.Close)
	below := 0.01
	once := manifest.Timing{Interval: 10 * time.Millisecond, Successes: 1, Failures: 1, Deadline: 10 * time.Second}
	tests := []struct {
		what, url, outcome, message string
	}{
		{"down", "http://127.0.0.1:1", "failed", "connection refused"},
		{"html", garbage.URL + "/html", "failed", `the answer is not Prometheus API JSON (it starts "<html><body>Grafana login</body></html>")`},
		{"5xx text", garbage.URL + "/broken", "failed", "(HTTP 500): the answer is not Prometheus API JSON"},
		{"string result", garbage.URL + "/wrongtype", "failed", `unexpected result type "string"`},
		{"value not a number", garbage.URL + "/badvalue", "failed", `a sample's value "lots" is not a number`},
		{"NaN", garbage.URL + "/nan", "failed", "1 of 1 values are NaN"},
		{"scalar within bounds", garbage.URL + "/scalar", "passed", "1 consecutive attempts passed"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			v := &Verifier{Manifest: &manifest.Manifest{File: "promotion.yaml"}}
			c := manifest.Check{Name: "errors", Prometheus: &manifest.PrometheusCheck{URL: tt.url, Query: "x", Below: &below}, Timing: once}
			res, _ := v.run(t.Context(), apiNode, c, "errors", 0)
			if res.Outcome != tt.outcome || !strings.Contains(res.Message, tt.message) {
				t.Errorf("run() = %s: %q; want %s with %q", res.Outcome, res.Message, tt.outcome, tt.message)
			}
		})
	}
}
