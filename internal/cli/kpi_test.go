package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/promote-dev/promote/internal/actions/actionstest"
	"github.com/promote-dev/promote/internal/git/gittest"
	"github.com/promote-dev/promote/internal/kpi/kpitest"
)

// TestKPI promotes twice with evidence, computes the KPIs from the chain in
// each output, in Actions with a job summary, and from a tampered chain.
func TestKPI(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t, map[string]string{"promotion.yaml": evidenceManifest})
	manifest := filepath.Join(dir, "promotion.yaml")
	for _, force := range []string{"--force=false", "--force"} {
		if r := promote(t, nil, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0", force); r.code != ExitOK {
			t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}

	r := promote(t, nil, "kpi", "--manifest", manifest, "--output", "json")
	if r.code != ExitOK {
		t.Fatalf("kpi: exit %d\n%s", r.code, r.stderr)
	}
	// Two runs of four nodes; the commit's time comes from git, so each
	// node gets one lead time; each run has its makespan.
	checkKPIFigures(t, r.stdout, map[string]float64{
		"promote_promotions_total{api@prod succeeded}":           2,
		"promote_dora_deployments_total{web@dev succeeded}":      2,
		"promote_dora_change_failure_ratio{api@prod }":           0,
		"promote_dora_change_lead_time_seconds{web@prod }":       1,
		"promote_run_duration_seconds{@ }":                       2,
		"promote_node_queue_wait_seconds{web@dev }":              2,
		"promote_evidence_head_seq{@ }":                          8,
		"promote_evidence_chain_ok{@ }":                          1,
		"promote_evidence_spool_records{@ }":                     0,
		"promote_promotion_success_ratio{api@dev }":              1,
		"promote_evidence_last_checkpoint_timestamp_seconds{@ }": -1,
	})

	// Prometheus's linter accepts the text output, written to a file.
	file := filepath.Join(t.TempDir(), "kpi.prom")
	if r := promote(t, nil, "kpi", "--manifest", manifest, "--output", "prometheus", "--file", file); r.code != ExitOK {
		t.Fatalf("kpi --file: exit %d\n%s", r.code, r.stderr)
	}
	if promtool := os.Getenv("PROMTOOL"); promtool != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(string(data))
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, msg)
		}
	}

	// In Actions: OpenMetrics on stdout, a job summary with charts.
	runner := actionstest.NewRunner(t, map[string]string{"INPUT_MANIFEST": manifest})
	r = promote(t, runner.Getenv, "kpi")
	if r.code != ExitOK || !strings.HasSuffix(r.stdout, "# EOF\n") {
		t.Fatalf("kpi in Actions: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	summary := runner.Summary(t)
	for _, want := range []string{"## Promote KPIs (last 30d)", "```mermaid", "| api | dev | 2 | 1 |"} {
		if !strings.Contains(summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, summary)
		}
	}

	// A Pushgateway that is down fails the command, which exists to push.
	down := "http://" + kpitest.FreeAddr(t)
	if r := promote(t, nil, "kpi", "--manifest", manifest, "--output", "json", "--push", down); r.code != ExitInternal || !strings.Contains(r.stderr, "pushing to the Pushgateway") {
		t.Errorf("kpi --push to a Pushgateway that is down: exit %d, stderr %q", r.code, r.stderr)
	}

	// A changed record: exit 1, and the output says the chain is broken
	// and holds no promotion figures.
	tamper(t, dir, 3)
	r = promote(t, nil, "kpi", "--manifest", manifest, "--output", "openmetrics")
	if r.code != ExitFindings || !strings.Contains(r.stderr, "does not verify") {
		t.Errorf("kpi on a tampered chain: exit %d, stderr %q", r.code, r.stderr)
	}
	// Record 3 changed, and record 4's link to it no longer holds.
	if !strings.Contains(r.stdout, "promote_evidence_chain_ok 0.0") || !strings.Contains(r.stdout, "promote_evidence_broken_records 2.0") || strings.Contains(r.stdout, "promote_promotions_total") {
		t.Errorf("kpi on a tampered chain wrote:\n%s", r.stdout)
	}
}

// checkKPIFigures checks promote kpi --output json against want: each
// series' value, or a histogram's count, by name{service@environment
// result}, with the verifications' type and outcome in place of the
// result; a negative value wants the series, whatever its value.
func checkKPIFigures(t *testing.T, stdout string, want map[string]float64) {
	t.Helper()
	var out struct {
		Metrics []struct {
			Name    string `json:"name"`
			Samples []struct {
				Labels map[string]string `json:"labels"`
				Value  *float64          `json:"value"`
				Count  *uint64           `json:"count"`
			} `json:"samples"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("kpi --output json: %v\n%s", err, stdout)
	}
	got := map[string]float64{}
	for _, m := range out.Metrics {
		for _, s := range m.Samples {
			l := s.Labels
			rest := l["result"]
			if l["type"] != "" {
				rest = l["type"] + " " + l["outcome"]
			}
			key := m.Name + "{" + l["service"] + "@" + l["environment"] + " " + rest + "}"
			switch {
			case s.Value != nil:
				got[key] = *s.Value
			case s.Count != nil:
				got[key] = float64(*s.Count)
			}
		}
	}
	for key, w := range want {
		v, ok := got[key]
		if !ok || w >= 0 && v != w {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, w)
		}
	}
}

func TestKPIBadInput(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t, map[string]string{"promotion.yaml": evidenceManifest})
	manifest := filepath.Join(dir, "promotion.yaml")
	for _, tt := range []struct {
		what string
		args []string
		want string
	}{
		{"output", []string{"--output", "csv"}, `--output "csv": use openmetrics, prometheus, json or table`},
		{"since", []string{"--since", "30days"}, `invalid duration "30days"`},
		{"serve interval", []string{"serve", "--interval", "0s"}, "--interval 0s: want a positive duration"},
	} {
		r := promote(t, nil, append(append([]string{"kpi"}, tt.args...), "--manifest", manifest)...)
		if r.code != ExitBadInput || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("kpi %s: exit %d, stderr %q; want 2 and %q", tt.what, r.code, r.stderr, tt.want)
		}
	}
}

// TestKPIServe serves the KPIs of a chain, is scraped, and shuts down
// cleanly when its context ends, as on SIGTERM.
func TestKPIServe(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t, map[string]string{"promotion.yaml": evidenceManifest})
	manifest := filepath.Join(dir, "promotion.yaml")
	if r := promote(t, nil, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0"); r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	addr := kpitest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	c := &Command{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }}
	code := make(chan int, 1)
	go func() {
		code <- c.Main(ctx, []string{"kpi", "serve", "--manifest", manifest, "--listen", addr, "--interval", "1h"})
	}()
	var body string
	for range 200 {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil && resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			resp, err = http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `promote_promotions_total{environment="prod",result="succeeded",service="api"} 1`) || !strings.Contains(body, "promote_kpi_last_refresh_timestamp_seconds") {
		t.Errorf("/metrics =\n%s\nstderr:\n%s", body, stderr.String())
	}
	cancel()
	if got := <-code; got != ExitOK {
		t.Errorf("kpi serve exited %d after its context ended, want 0\n%s", got, stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunExportsMetrics runs a promotion that writes a textfile-collector
// file and pushes to a Pushgateway that is down (a warning, exit 0) and,
// when PUSHGATEWAY is set, to a real one.
func TestRunExportsMetrics(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t, map[string]string{"promotion.yaml": evidenceManifest})
	manifest := filepath.Join(dir, "promotion.yaml")
	down := "http://" + kpitest.FreeAddr(t)
	file := filepath.Join(dir, "promote.prom")
	r := promote(t, nil, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0",
		"--metrics-file", file, "--metrics-push", down)
	if r.code != ExitOK || !strings.Contains(r.stderr, "warning: metrics: pushing to the Pushgateway "+down) || !strings.Contains(r.stderr, "the promotion itself is not affected") {
		t.Fatalf("run with a Pushgateway that is down: exit %d, stderr %q", r.code, r.stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `promote_promotions_total{environment="prod",result="succeeded",service="web"} 1`) {
		t.Errorf("--metrics-file wrote:\n%s", data)
	}

	url := kpitest.Pushgateway(t)
	getenv := func(k string) string { return map[string]string{"GITHUB_REPOSITORY": "acme/app"}[k] }
	r = promote(t, getenv, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0", "--force", "--metrics-push", url)
	if r.code != ExitOK || !strings.Contains(r.stdout, "Pushed the KPIs to "+url) {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The second run's push holds both runs: the counters grow.
	if want := `promote_promotions_total{environment="prod",instance="",job="promote",repository="acme/app",result="succeeded",service="web"} 2`; !strings.Contains(string(body), want) {
		t.Errorf("the Pushgateway lacks %s:\n%s", want, body)
	}
}

// TestKPIS3 computes the KPIs of evidence in an Object-Lock bucket on
// versitygw: the bucket's figures come from the S3 audit, and a delete
// marker another client adds shows in them.
func TestKPIS3(t *testing.T) {
	t.Parallel()
	gw, dir, manifest, getenv := s3EvidenceRepo(t)
	ctx := context.Background()
	if r := promote(t, getenv, "run", "--manifest", manifest, "--status-file", filepath.Join(dir, "status.json"), "--heartbeat", "0"); r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	r := promote(t, getenv, "kpi", "--manifest", manifest, "--output", "prometheus")
	if r.code != ExitOK {
		t.Fatalf("kpi: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Four records, a checkpoint and its frontier, each locked in
	// COMPLIANCE mode for a day.
	for _, want := range []string{
		"promote_worm_objects 6\n", "promote_worm_noncompliant_versions 0\n", "promote_worm_delete_markers 0\n",
		"promote_worm_min_retain_until_timestamp_seconds ", "promote_evidence_last_checkpoint_timestamp_seconds ",
		`promote_evidence_info{store="s3://evidence/promote"} 1`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("kpi on S3 lacks %q:\n%s", want, r.stdout)
		}
	}

	if _, err := gw.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("evidence"), Key: aws.String("promote/records/00000000000000000002.dsse.json")}); err != nil {
		t.Fatal(err)
	}
	r = promote(t, getenv, "kpi", "--manifest", manifest, "--output", "prometheus")
	if r.code != ExitFindings || !strings.Contains(r.stdout, "promote_worm_delete_markers 1\n") || !strings.Contains(r.stdout, "promote_evidence_chain_ok 0\n") {
		t.Errorf("kpi after a delete marker: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestRunExportsManifestNodesAtZero promotes dev only: the metrics promote
// run writes hold prod's nodes too, which no record names yet, at 0, so
// that their first records count in increase().
func TestRunExportsManifestNodesAtZero(t *testing.T) {
	t.Parallel()
	dir := gittest.Init(t, map[string]string{"promotion.yaml": evidenceManifest})
	file := filepath.Join(dir, "promote.prom")
	r := promote(t, nil, "run", "--manifest", filepath.Join(dir, "promotion.yaml"), "--to", "dev", "--status-file", filepath.Join(dir, "status.json"),
		"--heartbeat", "0", "--metrics-file", file)
	if r.code != ExitOK {
		t.Fatalf("run --to dev: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`promote_promotions_total{environment="dev",result="succeeded",service="web"} 1`,
		`promote_promotions_total{environment="prod",result="failed",service="web"} 0`,
		`promote_promotions_total{environment="prod",result="succeeded",service="api"} 0`,
		`promote_node_duration_seconds_count{environment="prod",service="api"} 0`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("--metrics-file lacks %s:\n%s", want, data)
		}
	}
}
