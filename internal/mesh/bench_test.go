package mesh_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/promote-dev/promote/internal/mesh"
	"github.com/promote-dev/promote/internal/mesh/meshtest"
)

// benchNamespaces makes the benchmark corpus 20,000 resources (2,858
// namespaces of 7, 20,006 resources).
const benchNamespaces = 2858

func corpus(b *testing.B) []byte {
	b.Helper()
	return meshtest.Corpus(benchNamespaces)
}

func load(b *testing.B, data []byte) *mesh.Set {
	set := mesh.NewSet("")
	set.Add("corpus.yaml", data, "")
	if len(set.Findings) > 0 {
		b.Fatalf("corpus: %v", set.Findings[0])
	}
	return set
}

func perResource(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkValidate measures what istioctl validate does: read the YAML,
// decode every Istio spec strictly and run Istio's rules.
func BenchmarkValidate(b *testing.B) {
	data := corpus(b)
	b.SetBytes(int64(len(data)))
	var n int
	for b.Loop() {
		set := load(b, data)
		rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio}})
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings)
		}
		n = rep.Resources
	}
	perResource(b, n)
}

// BenchmarkAnalyze measures what istioctl analyze is compared with: read,
// decode, Istio's rules and the cross-resource analysis.
func BenchmarkAnalyze(b *testing.B) {
	data := corpus(b)
	opts := mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio, mesh.LayerAnalysis}}
	for b.Loop() {
		rep, err := mesh.Check(context.Background(), load(b, data), opts)
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings)
		}
	}
	perResource(b, benchNamespaces*meshtest.PerNamespace)
}

// BenchmarkAnalysis measures the cross-resource analysis alone, on a set
// already read and decoded.
func BenchmarkAnalysis(b *testing.B) {
	set := load(b, corpus(b))
	opts := mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema}}
	if _, err := mesh.Check(context.Background(), set, opts); err != nil {
		b.Fatal(err)
	}
	opts.Checks = []mesh.Layer{mesh.LayerAnalysis}
	for b.Loop() {
		rep, err := mesh.Check(context.Background(), set, opts)
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings)
		}
	}
	perResource(b, len(set.Resources))
}

// BenchmarkPolicy measures the shipped Rego policies alone, input building
// included, on a set already read.
func BenchmarkPolicy(b *testing.B) {
	set := load(b, corpus(b))
	opts := mesh.Options{Checks: []mesh.Layer{mesh.LayerPolicy}, Policies: engine(b)}
	for b.Loop() {
		rep, err := mesh.Check(context.Background(), set, opts)
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings[:min(3, len(rep.Findings))])
		}
	}
	perResource(b, len(set.Resources))
}

// BenchmarkAll runs every layer, as promote mesh check does by default.
func BenchmarkAll(b *testing.B) {
	data := corpus(b)
	opts := mesh.Options{Policies: engine(b)}
	for b.Loop() {
		rep, err := mesh.Check(context.Background(), load(b, data), opts)
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings[:min(3, len(rep.Findings))])
		}
	}
	perResource(b, benchNamespaces*meshtest.PerNamespace)
}

// BenchmarkIstioctlValidate and BenchmarkIstioctlAnalyze run istioctl on the
// same corpus when $ISTIOCTL names a binary (make bench builds one).
func BenchmarkIstioctlValidate(b *testing.B) {
	istioctl(b, "validate", "-f")
}

func BenchmarkIstioctlAnalyze(b *testing.B) {
	istioctl(b, "analyze", "--use-kube=false", "-A")
}

func istioctl(b *testing.B, args ...string) {
	bin := os.Getenv("ISTIOCTL")
	if bin == "" {
		b.Skip("set ISTIOCTL to an istioctl binary to compare (make bench builds one into .tools/bin)")
	}
	if _, err := os.Stat(bin); err != nil && !filepath.IsAbs(bin) {
		bin = filepath.Join("..", "..", bin) // relative to the repository, not this package
	}
	file := filepath.Join(b.TempDir(), "corpus.yaml")
	if err := os.WriteFile(file, corpus(b), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		cmd := exec.Command(bin, append(args, file)...)
		// As many cores as the benchmark's -cpu gives Promote.
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd, err, out.Bytes())
		}
	}
	perResource(b, benchNamespaces*meshtest.PerNamespace)
}
