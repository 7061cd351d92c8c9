package kpi

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/sign"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const (
	commit1 = "c0ffee0000000000000000000000000000000001"
	commit2 = "c0ffee0000000000000000000000000000000002"
)

// promotion returns a promotion record of a v2 run.
func promotion(svc, env, outcome string, deployment int64, commit string, start time.Duration, took time.Duration) evidence.Record {
	started := t0.Add(start)
	return evidence.Record{
		Kind: evidence.KindPromotion, Repository: "https://github.com/o/r", Commit: commit,
		Service: svc, Environment: env, Node: svc + "@" + env, DeploymentID: deployment,
		Actor: "octocat", Approvers: []string{}, StartedAt: started, FinishedAt: started.Add(took),
		Outcome: outcome, Attempts: 1,
		QueuedAt: started.Add(-30 * time.Second), ApprovalWait: time.Minute, CommitTime: t0, APIRequests: 9,
		Run: &evidence.RunSummary{ID: "run-" + start.String(), StartedAt: started, FinishedAt: started.Add(took),
			MakespanSeconds: took.Seconds(), LowerBoundSeconds: took.Seconds() / 2, MaxParallel: 2, BusySeconds: took.Seconds()},
	}
}

// testChain seals a small history in a local store: api reaches staging
// (its health check passes), fails in production (a rerun records the same
// deployment again), then succeeds an hour later; web is skipped; api's
// mesh is checked.
func testChain(t testing.TB) (evidence.Store, map[string]crypto.PublicKey, string) {
	t.Helper()
	skipped := promotion("web", "staging", "skipped", 0, commit1, time.Hour, 0)
	skipped.Attempts, skipped.Run, skipped.QueuedAt, skipped.APIRequests, skipped.ApprovalWait = 0, nil, time.Time{}, 0, 0
	mesh := evidence.Record{
		Kind: evidence.KindMeshCheck, Commit: commit1, Service: "api", Environment: "staging", Node: "api@staging",
		Actor: "octocat", Approvers: []string{}, StartedAt: t0, FinishedAt: t0.Add(time.Second), Outcome: "failed",
		Mesh: &evidence.MeshSummary{
			Findings: []evidence.MeshFindingCount{{Rule: "schema.enum", Severity: "error", Count: 2}},
			Ignored:  1,
			MTLS:     []evidence.MeshMTLS{{Namespace: "shop", Mode: "PERMISSIVE"}, {Namespace: "shop", Workload: "cart", Mode: "STRICT"}},
			Policies: []string{"shop/allow-nothing"},
		},
	}
	records := []evidence.Record{
		mesh,
		promotion("api", "staging", "succeeded", 1, commit1, time.Hour, 5*time.Minute),
		skipped,
		promotion("api", "production", "failed", 2, commit1, 2*time.Hour, 5*time.Minute),
		promotion("api", "production", "failed", 2, commit1, 2*time.Hour, 6*time.Minute),
		promotion("api", "production", "succeeded", 3, commit1, 3*time.Hour, 5*time.Minute),
	}
	records[4].Attempts = 2
	records[1].Verification = []evidence.Verification{check("health", "http", "passed", 3, time.Hour+4*time.Minute, 30*time.Second)}
	return sealChain(t, records)
}

// newLog returns a new signer, its public keys, and an empty local store
// in a new directory.
func newLog(t testing.TB) (*sign.Local, map[string]crypto.PublicKey, *evidence.LocalStore, string) {
	t.Helper()
	dir := t.TempDir()
	signer, _, err := sign.LoadOrCreateLocal(filepath.Join(dir, "key.pem"), sign.AlgorithmEd25519)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signer.PublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := evidence.NewLocalStore(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	return signer, keys, st, dir
}

// sealChain signs and appends records to a new local store.
func sealChain(t testing.TB, records []evidence.Record) (evidence.Store, map[string]crypto.PublicKey, string) {
	t.Helper()
	signer, keys, st, dir := newLog(t)
	if _, err := evidence.Append(context.Background(), st, signer, records); err != nil {
		t.Fatal(err)
	}
	return st, keys, dir
}

func compute(t *testing.T, st evidence.Store, keys map[string]crypto.PublicKey) *Snapshot {
	t.Helper()
	g := Gather(context.Background(), Sources{StoreName: "file://evidence", Store: st, Keys: keys})
	if len(g.Errors) > 0 {
		t.Fatalf("Gather() errors = %v", g.Errors)
	}
	return Compute(g.Input, Options{Now: t0.Add(24 * time.Hour), Since: 30 * 24 * time.Hour})
}

func TestCompute(t *testing.T) {
	t.Parallel()
	st, keys, _ := testChain(t)
	s := compute(t, st, keys)
	if !s.ChainOK {
		t.Fatalf("ChainOK = false; problems %q", s.Problems)
	}
	tests := []struct {
		desc   *Desc
		labels []string
		want   float64
	}{
		{PromotionsTotal, []string{"api", "production", "failed"}, 2},
		{PromotionsTotal, []string{"api", "production", "succeeded"}, 1},
		{PromotionsTotal, []string{"web", "staging", "skipped"}, 1},
		{PromotionSuccess, []string{"api", "production"}, 1.0 / 3},
		{NodeRetries, []string{"api", "production"}, 1},
		// The rerun's record of deployment 2 counts once.
		{DORADeployments, []string{"api", "production", "failed"}, 1},
		{DORADeployments, []string{"api", "production", "succeeded"}, 1},
		{DORAFailureRatio, []string{"api", "production"}, 0.5},
		{DORAFailureRatio, []string{"api", "staging"}, 0},
		{DORAFrequency, []string{"api", "production"}, 1.0 / 30},
		{EvidenceRecords, []string{"promotion"}, 5},
		{EvidenceRecords, []string{"mesh-check"}, 1},
		{EvidenceRecords, []string{"gate"}, 0},
		{EvidenceHead, nil, 6},
		{EvidenceChainOK, nil, 1},
		{EvidenceFailures, nil, 0},
		{EvidenceInfo, []string{"file://evidence"}, 1},
		{EvidenceLastRecord, nil, unix(t0.Add(3*time.Hour + 5*time.Minute))},
		{MeshFindings, []string{"api", "schema.enum", "error"}, 2},
		{MeshIgnored, []string{"api"}, 1},
		{MeshMTLSMode, []string{"api", "shop", "cart", "STRICT"}, 1},
		{MeshMTLSStrict, []string{"api", "shop"}, 0},
		{MeshPolicies, []string{"api"}, 1},
		{RunEfficiency, nil, 0.5},
		{RunLowerBound, nil, 2},
	}
	for _, tt := range tests {
		got, ok := s.Value(tt.desc, tt.labels...)
		if !ok || got != tt.want {
			t.Errorf("%s%q = %v (present %v), want %v", tt.desc.Name, tt.labels, got, ok, tt.want)
		}
	}
	hist := func(d *Desc, labels ...string) (uint64, float64) {
		for _, smp := range s.Family(d).Samples {
			if cmp.Equal(smp.Labels, labels) {
				return smp.Count, smp.Sum
			}
		}
		t.Fatalf("%s%q: no series", d.Name, labels)
		return 0, 0
	}
	histograms := []struct {
		desc   *Desc
		labels []string
		count  uint64
		sum    float64
	}{
		// Commit time t0: staging at 1h05m; production once, for the
		// commit's first success at 3h05m.
		{DORALeadTime, []string{"api", "staging"}, 1, (time.Hour + 5*time.Minute).Seconds()},
		{DORALeadTime, []string{"api", "production"}, 1, (3*time.Hour + 5*time.Minute).Seconds()},
		// Failed at 2h06m (the rerun's record), recovered at 3h05m.
		{DORARecovery, []string{"api", "production"}, 1, (59 * time.Minute).Seconds()},
		{NodeQueueWait, []string{"api", "production"}, 3, 90},
		{NodeApprovalWait, []string{"api", "staging"}, 1, 60},
		{NodeGitHubRequests, []string{"api", "production"}, 3, 27},
		{NodeDuration, []string{"api", "production"}, 3, (16 * time.Minute).Seconds()},
		{RunDuration, nil, 3, (16 * time.Minute).Seconds()},
	}
	for _, h := range histograms {
		if count, sum := hist(h.desc, h.labels...); count != h.count || sum != h.sum {
			t.Errorf("%s%q = count %d, sum %v; want %d, %v", h.desc.Name, h.labels, count, sum, h.count, h.sum)
		}
	}
}

// TestTamperedChain changes a stored record: the figures must say the chain
// is broken and hold no number from its records.
func TestTamperedChain(t *testing.T) {
	t.Parallel()
	st, keys, dir := testChain(t)
	file := filepath.Join(dir, "evidence", filepath.FromSlash(evidence.RecordKey(4)))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, bytes.Replace(data, []byte(`"sig":"`), []byte(`"sig":"AA`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	s := compute(t, st, keys)
	if s.ChainOK || len(s.Problems) == 0 {
		t.Fatalf("ChainOK = %v, problems %q; want a broken chain", s.ChainOK, s.Problems)
	}
	for _, d := range []*Desc{EvidenceChainOK, EvidenceBroken} {
		if v, ok := s.Value(d); !ok || v != boolValue(d == EvidenceBroken) {
			t.Errorf("%s = %v (present %v), want %v", d.Name, v, ok, boolValue(d == EvidenceBroken))
		}
	}
	if v, _ := s.Value(EvidenceFailures); v < 1 {
		t.Errorf("%s = %v, want at least 1", EvidenceFailures.Name, v)
	}
	for _, f := range s.Families {
		if !strings.HasPrefix(f.Desc.Name, "promote_evidence_") {
			t.Errorf("%s exported from a chain that does not verify", f.Desc.Name)
		}
	}
}

// TestPromtoolAcceptsTheOutput runs Prometheus's own tools over the output:
// promtool check metrics, its linter, over the text format, and promtool
// tsdb create-blocks-from openmetrics, a strict OpenMetrics parser, over
// the OpenMetrics output. make prometheus-tools installs promtool.
func TestPromtoolAcceptsTheOutput(t *testing.T) {
	t.Parallel()
	promtool := os.Getenv("PROMTOOL")
	if promtool == "" {
		t.Skip("set PROMTOOL to promtool (make prometheus-tools installs /usr/bin/promtool)")
	}
	st, keys, dir := testChain(t)
	reg := Registry(compute(t, st, keys))
	var text, om bytes.Buffer
	if err := WritePrometheusText(&text, reg); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text.Bytes())
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\ninput:\n%s", err, msg, text.String())
	}

	if err := WriteOpenMetrics(&om, reg); err != nil {
		t.Fatal(err)
	}
	// A block needs a timestamp on every sample: add one to each sample
	// line, leaving the rest as Promote wrote it.
	var stamped strings.Builder
	for line := range strings.Lines(om.String()) {
		if !strings.HasPrefix(line, "#") {
			line = strings.TrimSuffix(line, "\n") + " 1764750000\n"
		}
		stamped.WriteString(line)
	}
	file := filepath.Join(dir, "kpi.om")
	if err := os.WriteFile(file, []byte(stamped.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", file, filepath.Join(dir, "tsdb")).CombinedOutput(); err != nil {
		t.Errorf("promtool tsdb create-blocks-from openmetrics: %v\n%s\ninput:\n%s", err, msg, om.String())
	}
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	st, keys, _ := testChain(t)
	s := compute(t, st, keys)
	var js, table bytes.Buffer
	if err := WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"chain_ok": true`, `"name": "promote_dora_change_failure_ratio"`, `"service": "api"`, `"300": `} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("WriteJSON() lacks %s:\n%s", want, js.String())
		}
	}
	if err := WriteTable(&table, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "promote_dora_change_failure_ratio") || !strings.Contains(table.String(), "service=api environment=production") {
		t.Errorf("WriteTable() =\n%s", table.String())
	}
	md := Markdown(s, 30*24*time.Hour)
	for _, want := range []string{"## Promote KPIs (last 30d)", "| api | production | 3 | 0.333 | 0.033 | 0.500 | 3h5m0s | 59m0s |", "pie title Promotions by result", `"failed" : 2`, "xychart-beta", "| api | 2 | 1 | shop ✗ | 1 |", "| api | staging | 1 | 0 | 0 | 0 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks %q:\n%s", want, md)
		}
	}
}

// TestDocsDefineEveryMetric checks that docs/kpi.md's table has a row for
// every metric, with its type and labels.
func TestDocsDefineEveryMetric(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/kpi.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append(Descs, KPILastRefresh, KPIRefreshErrors, KPIRefreshDuration) {
		row := fmt.Sprintf("| `%s` | %s | %s |", d.Name, d.Type, strings.Join(d.Labels, ", "))
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/kpi.md has no row %q", row)
		}
	}
}

// TestRollbacks deploys commit 1, then commit 2, then commit 1 again: the
// redeploy of an earlier version is a rollback, and the deployment of
// commit 2 that it left is a change failure, recovered when it succeeded.
func TestRollbacks(t *testing.T) {
	t.Parallel()
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	entry := func(seq uint64, id int64, commit, outcome string, finished time.Duration) evidence.Entry {
		return evidence.Entry{Commit: commit, Version: 2, Predicate: evidence.Predicate{
			Kind: evidence.KindPromotion, Service: "api", Environment: "production", Node: "api@production",
			DeploymentID: id, StartedAt: at(finished - time.Minute), FinishedAt: at(finished), Outcome: outcome,
			Attempts: 1, Seq: seq, CommitTime: at(0),
		}}
	}
	in := Input{
		Report: &evidence.Report{Records: 4, Head: 4},
		Entries: []evidence.Entry{
			entry(1, 1, commit1, "succeeded", time.Hour),
			entry(2, 2, commit2, "succeeded", 2*time.Hour),
			entry(3, 3, commit1, "failed", 3*time.Hour), // a rollback that failed
			entry(4, 4, commit1, "succeeded", 4*time.Hour),
		},
	}
	s := Compute(in, Options{Now: t0.Add(24 * time.Hour), Since: 24 * time.Hour})
	for _, tt := range []struct {
		desc   *Desc
		labels []string
		want   float64
	}{
		{RollbacksTotal, []string{"api", "production", "failed"}, 1},
		{RollbacksTotal, []string{"api", "production", "succeeded"}, 1},
		// Commit 2's deployment and the failed rollback: 2 of 4.
		{DORADeployments, []string{"api", "production", "failed"}, 2},
		{DORAFailureRatio, []string{"api", "production"}, 0.5},
	} {
		if got, ok := s.Value(tt.desc, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%q = %v (present %v), want %v", tt.desc.Name, tt.labels, got, ok, tt.want)
		}
	}
	// Recovery from commit 2's deployment (2h) to the rollback's success
	// (4h); lead time once per commit: commit 1 at 1h only.
	for _, f := range []struct {
		desc *Desc
		sum  float64
	}{{DORARecovery, (2 * time.Hour).Seconds()}, {DORALeadTime, time.Hour.Seconds()}} {
		smp := s.Family(f.desc).Samples[0]
		if smp.Count != 1 || smp.Sum != f.sum {
			t.Errorf("%s = count %d, sum %v; want 1, %v", f.desc.Name, smp.Count, smp.Sum, f.sum)
		}
	}
}

// TestManifestNodesStartAtZero seals one record, api@production's first
// promotion, a failure: its failure counter says 1 and every other node
// the manifest names has its series at 0 already, so that the next scrape's
// increase() counts their first records.
func TestManifestNodesStartAtZero(t *testing.T) {
	t.Parallel()
	st, keys, _ := sealChain(t, []evidence.Record{promotion("api", "production", "failed", 1, commit1, time.Hour, 5*time.Minute)})
	nodes := []Node{
		{Service: "api", Environment: "staging", Checks: []string{"http", "command"}},
		{Service: "api", Environment: "production"},
		{Service: "web", Environment: "staging"},
	}
	g := Gather(t.Context(), Sources{StoreName: "file://evidence", Store: st, Keys: keys, Nodes: nodes})
	if len(g.Errors) > 0 {
		t.Fatalf("Gather() errors = %v", g.Errors)
	}
	s := Compute(g.Input, Options{Now: t0.Add(24 * time.Hour), Since: 30 * 24 * time.Hour})
	checkFigures(t, s, []want{
		{PromotionsTotal, []string{"api", "production", "failed"}, 1},
		{PromotionsTotal, []string{"api", "production", "succeeded"}, 0},
		{PromotionsTotal, []string{"api", "staging", "failed"}, 0},
		{PromotionsTotal, []string{"web", "staging", "cancelled"}, 0},
		{DORADeployments, []string{"web", "staging", "failed"}, 0},
		{RollbacksTotal, []string{"api", "staging", "succeeded"}, 0},
		{NodeRetries, []string{"web", "staging"}, 0},
		{VerificationsTotal, []string{"api", "staging", "http", "failed"}, 0},
		{VerificationsTotal, []string{"api", "staging", "command", "passed"}, 0},
	}, []wantHist{
		{NodeDuration, []string{"api", "production"}, 1, (5 * time.Minute).Seconds()},
		{NodeDuration, []string{"api", "staging"}, 0, 0},
		{NodeQueueWait, []string{"web", "staging"}, 0, 0},
		{DORARecovery, []string{"web", "staging"}, 0, 0},
		{VerificationTime, []string{"api", "staging", "http"}, 0, 0},
	})
	if _, ok := s.Value(VerificationsTotal, "api", "production", "http", "failed"); ok {
		t.Errorf("%s has a series for api@production, which the manifest verifies with no check", VerificationsTotal.Name)
	}
}
