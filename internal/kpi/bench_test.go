//go:build unix

package kpi

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
)

// unsyncedStore is a LocalStore that skips fsync, to build a long log in
// seconds; Gather reads it like any other.
type unsyncedStore struct{ *evidence.LocalStore }

func (s unsyncedStore) Create(_ context.Context, key string, data []byte) (string, error) {
	file := filepath.Join(s.Dir(), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrExist) {
		return "", evidence.ErrExists
	}
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return "", err
}

// benchChain builds a chain of n records as runs of 20 nodes would write
// them: 10 services in two environments, each run's records followed by
// two gate records and a mesh check per 20 records.
func benchChain(b *testing.B, n int) (evidence.Store, map[string]crypto.PublicKey) {
	b.Helper()
	signer, keys, st, _ := newLog(b)
	var batch []evidence.Record
	for i := range n {
		svc, env := fmt.Sprintf("svc-%d", i%10), []string{"staging", "production"}[i/10%2]
		start := time.Duration(i) * time.Minute
		var r evidence.Record
		switch {
		case i%20 == 19:
			r = evidence.Record{Kind: evidence.KindMeshCheck, Commit: fmt.Sprintf("%040x", i/20), Service: svc, Environment: env, Node: svc + "@" + env,
				Actor: "octocat", Approvers: []string{}, StartedAt: t0.Add(start), FinishedAt: t0.Add(start + time.Second), Outcome: "passed",
				Mesh: &evidence.MeshSummary{Findings: []evidence.MeshFindingCount{{Rule: "schema.enum", Severity: "warning", Count: 1}},
					MTLS: []evidence.MeshMTLS{{Namespace: svc, Mode: "STRICT"}}, Policies: []string{svc + "/allow-nothing"}}}
		case i%20 == 18:
			r = evidence.Record{Kind: evidence.KindGate, Commit: fmt.Sprintf("%040x", i/20), Service: svc, Environment: env, Node: svc + "@" + env,
				Actor: "octocat", Approvers: []string{"alice"}, StartedAt: t0.Add(start), FinishedAt: t0.Add(start + time.Minute), Outcome: "approved"}
		default:
			outcome := "succeeded"
			if i%17 == 0 {
				outcome = "failed"
			}
			r = promotion(svc, env, outcome, int64(i+1), fmt.Sprintf("%040x", i/20), start, 3*time.Minute)
			r.Run.ID = fmt.Sprintf("run-%d", i/20)
		}
		batch = append(batch, r)
		if len(batch) == 5000 || i == n-1 {
			if _, err := evidence.Append(context.Background(), unsyncedStore{st}, signer, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return st, keys
}

// BenchmarkKPI computes every KPI over a chain of 100,000 records,
// verification included, and phase by phase:
//
//	nice -n 5 go test -run '^$' -bench KPI -benchtime 3x -benchmem ./internal/kpi
func BenchmarkKPI(b *testing.B) {
	const n = 100_000
	start := time.Now()
	st, keys := benchChain(b, n)
	b.Logf("built a chain of %d records in %v", n, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	// The manifest's nodes, as promote kpi passes them: every one starts
	// at 0.
	var nodes []Node
	for i := range 10 {
		for _, env := range []string{"staging", "production"} {
			nodes = append(nodes, Node{Service: fmt.Sprintf("svc-%d", i), Environment: env, Checks: []string{"http"}})
		}
	}
	src := Sources{StoreName: "file://evidence", Store: st, Keys: keys, Nodes: nodes}
	o := Options{Now: t0.Add(n * time.Minute), Since: 30 * 24 * time.Hour}

	measure := func(b *testing.B, f func()) {
		runtime.GC()
		cpu := cpuTime(b)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			f()
		}
		b.StopTimer()
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
		b.ReportMetric((cpuTime(b)-cpu).Seconds()/float64(b.N), "cpu-s/op")
	}
	var g Gathered
	b.Run("all", func(b *testing.B) {
		measure(b, func() {
			g = Gather(ctx, src)
			s := Compute(g.Input, o)
			if !s.ChainOK {
				b.Fatalf("chain does not verify: %q", s.Problems)
			}
			if err := WriteOpenMetrics(io.Discard, Registry(s)); err != nil {
				b.Fatal(err)
			}
		})
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "live-MiB")
	})
	b.Run("verify-read", func(b *testing.B) {
		measure(b, func() { g = Gather(ctx, src) })
	})
	b.Run("verify-read-every-signature", func(b *testing.B) {
		full := src
		full.CheckEverySignature = true
		measure(b, func() { g = Gather(ctx, full) })
	})
	b.Run("compute", func(b *testing.B) {
		measure(b, func() { Compute(g.Input, o) })
	})
	b.Run("write", func(b *testing.B) {
		s := Compute(g.Input, o)
		measure(b, func() {
			if err := WriteOpenMetrics(io.Discard, Registry(s)); err != nil {
				b.Fatal(err)
			}
		})
	})
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.Logf("peak RSS of the process (chain building included): %d MiB", ru.Maxrss/1024)
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
