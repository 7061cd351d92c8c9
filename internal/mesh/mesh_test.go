package mesh_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/mesh"
	"github.com/promote-dev/promote/internal/mesh/meshtest"
	"github.com/promote-dev/promote/internal/policy"
	"github.com/promote-dev/promote/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// examples is the example repository, relative to this package.
const examples = "../../examples"

func engine(t testing.TB) *policy.Engine {
	t.Helper()
	e, err := policy.Load(context.Background(), policies.FS, "mesh", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// check loads paths relative to the example repository and checks them with
// every layer.
func check(t *testing.T, opts mesh.Options, paths ...string) *mesh.Report {
	t.Helper()
	t.Chdir(examples)
	return loadAndCheck(t, opts, paths, mesh.LoadOptions{})
}

func loadAndCheck(t *testing.T, opts mesh.Options, paths []string, lo mesh.LoadOptions) *mesh.Report {
	t.Helper()
	set, err := mesh.Load(paths, lo)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := mesh.Check(context.Background(), set, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// checkRepository checks a repository as promote mesh check does by
// default: the mesh directories its manifest names.
func checkRepository(t *testing.T, opts mesh.Options, manifestFile string) *mesh.Report {
	t.Helper()
	t.Chdir(examples)
	data, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(manifestFile, data)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := mesh.FromManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	repo.Apply(&opts)
	return loadAndCheck(t, opts, repo.Paths, mesh.LoadOptions{Owner: repo.Owner})
}

func lines(rep *mesh.Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		b.WriteString(f.String() + "\n")
	}
	for _, f := range rep.Ignored {
		fmt.Fprintf(&b, "ignored (%s): %s\n", f.Reason, f.Finding)
	}
	return b.String()
}

// TestExamplesClean checks the example repository's mesh configuration as
// make demo does: every layer, every shipped policy, nothing found.
func TestExamplesClean(t *testing.T) {
	opts := mesh.Options{Policies: engine(t), Services: map[string]mesh.ServiceInfo{
		"service-a": {Compliance: "regulated", Mesh: "services/service-a/mesh"},
		"service-b": {Compliance: "standard", Mesh: "services/service-b/mesh"},
		"service-c": {Compliance: "sandbox", Mesh: "services/service-c/mesh"},
	}}
	rep := check(t, opts, "services", "platform")
	if got := lines(rep); got != "" {
		t.Errorf("the examples have findings:\n%s", got)
	}
	if rep.Istio != 16 || rep.Resources != 27 {
		t.Errorf("read %d resources, %d of them Istio; want 27 and 16", rep.Resources, rep.Istio)
	}
	if len(rep.Checks) != len(mesh.Layers) {
		t.Errorf("checks = %v, want all layers", rep.Checks)
	}
}

// TestBroken checks each file of examples/broken/mesh against its golden
// output: one file per kind of finding.
func TestBroken(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(examples, "broken", "mesh"))
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t)
	for _, entry := range entries {
		name, isYAML := strings.CutSuffix(entry.Name(), ".yaml")
		if !isYAML && !entry.IsDir() {
			continue
		}
		t.Run(name, func(t *testing.T) {
			rel := filepath.ToSlash(filepath.Join("broken", "mesh", entry.Name()))
			var rep *mesh.Report
			if entry.IsDir() {
				// A small repository: its manifest names the services.
				rep = checkRepository(t, mesh.Options{Policies: e}, filepath.Join(rel, "promotion.yaml"))
			} else {
				rep = check(t, mesh.Options{Policies: e}, rel)
			}
			got := lines(rep)
			golden := filepath.Join("broken", "mesh", name+".out")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("findings differ from %s (-want +got):\n%s", golden, diff)
			}
			// Each file shows the finding its name announces.
			rule := strings.Replace(name, "-", ".", 1)
			if !strings.Contains(got, "["+rule+"]") {
				t.Errorf("no finding of rule %s in:\n%s", rule, got)
			}
		})
	}
}

// TestLargeStream reads a stream long enough to be parsed and indexed on
// every core: the resources keep the stream's order and positions, and the
// corpus is clean.
func TestLargeStream(t *testing.T) {
	t.Parallel()
	const namespaces = 400
	data := meshtest.Corpus(namespaces)
	set := mesh.NewSet("")
	set.Add("stream.yaml", data, "")
	if len(set.Resources) != namespaces*meshtest.PerNamespace || len(set.Findings) > 0 {
		t.Fatalf("read %d resources and %d findings, want %d and none", len(set.Resources), len(set.Findings), namespaces*meshtest.PerNamespace)
	}
	line := 0
	for i, r := range set.Resources {
		want := fmt.Sprintf("svc-%05d", i/meshtest.PerNamespace)
		if r.ID != i || r.Namespace != want || r.Pos.Line <= line {
			t.Fatalf("resource %d: id %d, namespace %s, line %d after line %d; want id %d in %s, in stream order", i, r.ID, r.Namespace, r.Pos.Line, line, i, want)
		}
		line = r.Pos.Line
	}
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Policies: engine(t)})
	if err != nil || len(rep.Findings) > 0 {
		t.Errorf("Check: %v, %d findings, first %v", err, len(rep.Findings), rep.Findings[:min(1, len(rep.Findings))])
	}
}

// TestNamespaceSummary checks the per-namespace summary of the examples and
// of a broken file: services with their compliance, mTLS, workloads,
// policies by action and findings counted where they belong.
func TestNamespaceSummary(t *testing.T) {
	t.Run("examples", func(t *testing.T) {
		rep := checkRepository(t, mesh.Options{Policies: engine(t)}, "promotion.yaml")
		var a mesh.Namespace
		for _, ns := range rep.Namespaces {
			if ns.Name == "service-a" {
				a = ns
			}
		}
		want := mesh.Namespace{Name: "service-a", Services: []mesh.Service{{Name: "service-a", Compliance: "regulated"}},
			MTLS: "STRICT", Workloads: 1, Policies: map[string]int{"ALLOW": 4}}
		if diff := cmp.Diff(want, a); diff != "" {
			t.Errorf("service-a summary (-want +got):\n%s", diff)
		}
	})
	t.Run("broken", func(t *testing.T) {
		broken := check(t, mesh.Options{Policies: engine(t)}, "broken/mesh/analysis-mtls-conflict.yaml")
		if len(broken.Namespaces) != 1 || broken.Namespaces[0].Errors != 2 || broken.Namespaces[0].MTLS != "STRICT" {
			t.Errorf("namespaces = %+v, want payments with 2 errors and STRICT mTLS", broken.Namespaces)
		}
	})
}

// TestIgnore sets aside an analysis finding and a policy finding of one
// resource by annotation, and reports an annotation for a policy rule that
// does not exist only when the policy layer runs.
func TestIgnore(t *testing.T) {
	t.Parallel()
	const doc = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: open
  namespace: lab
  annotations:
    ignore.promote.dev/analysis.allow-all-rule: "the lab namespace is open by design"
    ignore.promote.dev/policy.no-allow-all: "the lab namespace is open by design"
    ignore.promote.dev/policy.no-such-rule: "a typo"
spec:
  action: ALLOW
  rules:
    - {}
`
	run := func(opts mesh.Options) *mesh.Report {
		set := mesh.NewSet("")
		set.Add("lab.yaml", []byte(doc), "")
		rep, err := mesh.Check(context.Background(), set, opts)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := run(mesh.Options{Policies: engine(t)})
	var ignored []string
	for _, f := range rep.Ignored {
		ignored = append(ignored, f.Rule+": "+f.Reason)
	}
	slices.Sort(ignored)
	want := []string{"analysis.allow-all-rule: the lab namespace is open by design", "policy.no-allow-all: the lab namespace is open by design"}
	if diff := cmp.Diff(want, ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	for _, f := range rep.Findings {
		if f.Rule == mesh.RuleAllowAllRule || f.Rule == "policy.no-allow-all" {
			t.Errorf("an ignored rule is still a finding: %v", f)
		}
	}
	if !strings.Contains(lines(rep), `lab.yaml:9:5: warning: annotation ignore.promote.dev/policy.no-such-rule names no rule`) {
		t.Errorf("the unknown policy rule is not reported:\n%s", lines(rep))
	}
	for _, ns := range rep.Namespaces {
		if ns.Name == "lab" && ns.Warnings != 1 {
			t.Errorf("namespace lab counts %d warnings, want only the unknown rule's", ns.Warnings)
		}
	}

	// Without the policy layer, policy rules are unknown: not a finding.
	rep = run(mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerAnalysis}})
	if len(rep.Findings) != 0 || len(rep.Ignored) != 1 {
		t.Errorf("without policies: findings %v, ignored %v; want none and the analysis finding", rep.Findings, rep.Ignored)
	}
}

// TestMTLSSubsets checks a subset's own traffic policy against the
// workloads that carry the subset's labels, and only those.
func TestMTLSSubsets(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: payments}
spec:
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: payments, namespace: payments}
spec:
  host: payments.payments.svc.cluster.local
  subsets:
    - name: v1
      labels: {version: v1}
      trafficPolicy:
        tls: {mode: ISTIO_MUTUAL}
    - name: v2
      labels: {version: v2}
      trafficPolicy:
        portLevelSettings:
          - port: {number: 80}
            tls:
              mode: SIMPLE
---
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: payments}
spec:
  selector: {app: payments}
  ports: [{port: 80, targetPort: 8080}]
`)
	for _, v := range []string{"v1", "v2"} {
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payments-%[1]s, namespace: payments}
spec:
  template:
    metadata:
      labels: {app: payments, version: %[1]s}
`, v)
	}
	set := mesh.NewSet("")
	set.Add("subsets.yaml", []byte(b.String()), "")
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerAnalysis}})
	if err != nil {
		t.Fatal(err)
	}
	want := `subsets.yaml:23:21: error: tls.mode SIMPLE for subset "v2" of host "payments.payments.svc.cluster.local" conflicts with Deployment payments/payments-v2's mTLS mode STRICT on port 8080 (PeerAuthentication payments/default at subsets.yaml:3:18): the workload accepts only Istio mutual TLS and clients would present no client certificate; drop the DestinationRule's tls or set ISTIO_MUTUAL [analysis.mtls-conflict]
`
	if diff := cmp.Diff(want, lines(rep)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
