package mesh_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n)/float64(b.N), "µs/resource")
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

// BenchmarkValidateCRD adds the CRD layer to BenchmarkValidate: Istio's
// CRD schemas and CEL rules, as the API server checks them.
func BenchmarkValidateCRD(b *testing.B) {
	data := corpus(b)
	opts := mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio, mesh.LayerCRD}}
	for b.Loop() {
		rep, err := mesh.Check(context.Background(), load(b, data), opts)
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings[:min(3, len(rep.Findings))])
		}
	}
	perResource(b, benchNamespaces*meshtest.PerNamespace)
}

// BenchmarkCRD measures the CRD layer alone, on a set already read and
// decoded: its cost per resource.
func BenchmarkCRD(b *testing.B) {
	set := load(b, corpus(b))
	opts := mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema}}
	if _, err := mesh.Check(context.Background(), set, opts); err != nil {
		b.Fatal(err)
	}
	opts.Checks = []mesh.Layer{mesh.LayerCRD}
	for b.Loop() {
		rep, err := mesh.Check(context.Background(), set, opts)
		if err != nil || len(rep.Findings) > 0 {
			b.Fatalf("check: %v %v", err, rep.Findings[:min(3, len(rep.Findings))])
		}
	}
	perResource(b, len(set.Resources))
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

// binary returns the program $env names, skipping the benchmark when it
// names none.
func binary(b *testing.B, env, what string) string {
	b.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		b.Skipf("set %s to %s", env, what)
	}
	if _, err := os.Stat(bin); err != nil && !filepath.IsAbs(bin) {
		bin = filepath.Join("..", "..", bin) // relative to the repository, not this package
	}
	return bin
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
	bin := binary(b, "ISTIOCTL", "an istioctl binary to compare (make bench builds one into .tools/bin)")
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

// sampleReplicas copies Istio's samples (70 documents, 67 of them Istio
// resources) into a corpus of 10,500 documents.
const sampleReplicas = 150

// samples writes the realistic corpus, Istio's own samples/ from the module
// cache replicated with unique names (meshtest.Samples), into a directory,
// as files of the size and shape real repositories hold.
func samples(b *testing.B) (dir string, docs int) {
	b.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		b.Fatalf("find Istio's module: %v", err)
	}
	files, err := meshtest.Samples(filepath.Join(strings.TrimSpace(string(out)), "samples"), sampleReplicas)
	if err != nil {
		b.Fatal(err)
	}
	dir = b.TempDir()
	for _, f := range files {
		name := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(name, f.Data, 0o644); err != nil {
			b.Fatal(err)
		}
		docs += f.Documents
	}
	return dir, docs
}

// checkSamples loads the realistic corpus and runs the layers on it; the
// samples hold one resource with a warning of Istio's, and no errors.
func checkSamples(b *testing.B, layers ...mesh.Layer) {
	dir, docs := samples(b)
	for b.Loop() {
		set, err := mesh.Load([]string{dir}, mesh.LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: layers})
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range rep.Findings {
			if f.Severity == mesh.Error {
				b.Fatalf("samples: %v", f)
			}
		}
	}
	perResource(b, docs)
}

// BenchmarkSamplesValidate measures what istioctl validate does, on the
// realistic corpus: read the files, decode strictly, run Istio's rules.
func BenchmarkSamplesValidate(b *testing.B) {
	checkSamples(b, mesh.LayerSchema, mesh.LayerIstio)
}

// BenchmarkSamplesValidateCRD adds the CRD layer to BenchmarkSamplesValidate.
func BenchmarkSamplesValidateCRD(b *testing.B) {
	checkSamples(b, mesh.LayerSchema, mesh.LayerIstio, mesh.LayerCRD)
}

// BenchmarkSamplesSchema measures reading and decoding alone.
func BenchmarkSamplesSchema(b *testing.B) {
	checkSamples(b, mesh.LayerSchema)
}

// BenchmarkSamplesProcess compares whole processes, start-up included, as
// users run them: `promote mesh check --checks schema,istio DIR` against
// `istioctl validate -f DIR` on the realistic corpus, in pairs, each pinned
// to the cores of the benchmark's -cpu (taskset where there is one, and
// GOMAXPROCS). It reports the median of each, the median of the pairs'
// ratios (x-istioctl: how many times faster Promote is), and the median
// start-up of Promote (`promote --help`). Set $PROMOTE (make bench-mesh
// builds bin/promote) and $ISTIOCTL.
func BenchmarkSamplesProcess(b *testing.B) {
	promote := binary(b, "PROMOTE", "a promote binary to time whole (make bench-mesh builds bin/promote)")
	istioctl := binary(b, "ISTIOCTL", "an istioctl binary to compare (make bench builds one into .tools/bin)")
	dir, docs := samples(b)
	var own, theirs, start, ratios, cpuRatios []time.Duration
	for b.Loop() {
		wall, cpu := timed(b, promote, "mesh", "check", "--checks", "schema,istio", dir)
		theirWall, theirCPU := timed(b, istioctl, "validate", "-f", dir)
		own, theirs = append(own, wall), append(theirs, theirWall)
		ratios = append(ratios, theirWall*1000/wall)
		cpuRatios = append(cpuRatios, theirCPU*1000/cpu)
		wall, _ = timed(b, promote, "--help")
		start = append(start, wall)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(median(own)), "promote-ms")
	b.ReportMetric(ms(median(theirs)), "istioctl-ms")
	b.ReportMetric(ms(median(start)), "start-ms")
	b.ReportMetric(float64(median(own).Microseconds())/float64(docs), "µs/resource")
	b.ReportMetric(float64(median(ratios))/1000, "x-istioctl")
	// On a busy machine the wall-clock ratio moves with the load; the
	// ratio of CPU time (user and system) moves less.
	b.ReportMetric(float64(median(cpuRatios))/1000, "x-istioctl-cpu")
}

// timed runs a program on the benchmark's cores and returns how long it
// took and the CPU time it used; it must succeed.
func timed(b *testing.B, bin string, args ...string) (wall, cpu time.Duration) {
	b.Helper()
	cores := runtime.GOMAXPROCS(0)
	cmd := exec.Command(bin, args...)
	if taskset, err := exec.LookPath("taskset"); err == nil {
		cpus := make([]string, cores)
		for i := range cpus {
			cpus[i] = strconv.Itoa(i)
		}
		cmd = exec.Command(taskset, append([]string{"-c", strings.Join(cpus, ","), bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cores))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", cmd, err, out.Bytes())
	}
	return time.Since(began), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}
