package manifest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in examples/broken")

// TestBrokenExamples checks every broken example manifest against the
// messages recorded next to it, one error class per file.
func TestBrokenExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/broken/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken examples found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join("examples/broken", filepath.Base(file))
			_, err = Parse(name, data)
			if err == nil {
				t.Fatalf("Parse(%s) = nil error, want errors", name)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse(%s) error is %T, want ErrorList", name, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".out"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/manifest -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Parse(%s) errors differ from %s (-want +got):\n%s", name, golden, diff)
			}
		})
	}
}

func TestParseExample(t *testing.T) {
	t.Parallel()
	m, err := Load("../../examples/promotion.yaml")
	if err != nil {
		t.Fatalf("Load(example) = %v", err)
	}
	if got, want := m.EnvironmentNames(), []string{"dev", "staging", "production"}; !cmp.Equal(got, want) {
		t.Errorf("environments = %v, want %v", got, want)
	}
	c := m.Services[2]
	if c.Name != "service-c" || c.Compliance != Sandbox || len(c.DependsOn) != 2 || c.DependsOn[1].Index != 1 {
		t.Errorf("service-c = %+v, want sandbox depending on service-a and service-b", c)
	}
	if got := c.ExpectedDuration; got != 5*time.Minute {
		t.Errorf("service-c expected duration = %v, want the default 5m", got)
	}
	if got := m.Environments[2].GitHubName("service-a"); got != "production-service-a" {
		t.Errorf("GitHubName = %q, want production-service-a", got)
	}
	if got := m.Environments[0].GitHubName("service-a"); got != "dev" {
		t.Errorf("GitHubName = %q, want dev", got)
	}
	if m.Evidence == nil || m.Evidence.Signer.Local == nil || m.Evidence.RetentionDays != 1095 {
		t.Errorf("evidence = %+v, want a local signer and 1095 days", m.Evidence)
	}
}

const base = `version: 1
environments:
  - name: dev
services:
  a:
    paths: ["a/**"]
    deploy: {command: ./deploy.sh}
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		yaml string
		want []string // substrings, one per error, in order
	}{
		{"empty file", "", []string{"1:1: the manifest is empty"}},
		{"not a mapping", "- a\n", []string{"1:1: the manifest: expected a mapping, got a list"}},
		{"syntax error", "version: 1\nservices: [a,\n", []string{"invalid YAML"}},
		{"missing sections", "version: 1\n", []string{`no "environments"`, `no "services"`}},
		{"second document", base + "---\nversion: 1\n", []string{"a second YAML document"}},
		{"version 2", strings.Replace(base, "version: 1", "version: 2", 1), []string{"1:10: version: unsupported manifest version 2"}},
		{"bad name", strings.Replace(base, "  a:", "  a@b:", 1), []string{`invalid name "a@b"`}},
		{"unknown placeholder", strings.Replace(base, "  - name: dev", "  - name: dev\n    github_environment: \"{svc}\"", 1), []string{"unknown placeholder {svc}"}},
		{"first env soak", strings.Replace(base, "  - name: dev", "  - name: dev\n    gate: {soak: 5m}", 1), []string{"first environment has no previous one"}},
		{"duplicate environment", strings.Replace(base, "  - name: dev", "  - name: dev\n  - name: dev", 1), []string{`environment "dev" is declared twice`}},
		{"rollout wider than max", base + "defaults:\n  max_parallel: 2\n  rollout: {initial: 3}\n", []string{"rollout.initial (3) is larger"}},
		{"no deploy", strings.Replace(base, "    deploy: {command: ./deploy.sh}\n", "", 1), []string{`service "a" has no deploy`}},
		{"both deploys", strings.Replace(base, "{command: ./deploy.sh}", "{command: x, workflow: d.yml}", 1), []string{"either workflow or command"}},
		{"workflow path", strings.Replace(base, "{command: ./deploy.sh}", "{workflow: .github/workflows/d.yml}", 1), []string{"not a workflow file name"}},
		{"reserved input", strings.Replace(base, "{command: ./deploy.sh}", "{workflow: d.yml, inputs: {service: x}}", 1), []string{`"service" is set by Promote`}},
		{"bad enum", strings.Replace(base, "    paths:", "    compliance: sandbx\n    paths:", 1), []string{`did you mean "sandbox"?`}},
		{"negative duration", base + "defaults: {timeout: -5m}\n", []string{"must not be negative"}},
		{"retries too high", base + "defaults: {retries: 11}\n", []string{"from 0 to 10, got 11"}},
		{"null value", base + "defaults: {retries: }\n", []string{"expected an integer, got nothing (null)"}},
		{"bad store", base + "evidence: {store: gs://b}\n", []string{`unsupported store "gs://b"`}},
		{"two signers", base + "evidence: {signer: {local: {}, vault: {key: k, role: r}}}\n", []string{"exactly one of local and vault"}},
		{"vault without role", base + "evidence: {signer: {vault: {key: k}}}\n", []string{`no "role"`}},
		{"sandbox dependency", `version: 1
environments:
  - {name: prod, protected: true}
services:
  a: {paths: ["a/**"], deploy: {command: x}, compliance: sandbox}
  b: {paths: ["b/**"], deploy: {command: x}, depends_on: [a]}
`, []string{`depends on sandbox service "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("p.yaml", []byte(tt.yaml))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse() = %v, want no error", err)
				}
				return
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse() = %v, want an ErrorList", err)
			}
			if len(list) != len(tt.want) {
				t.Fatalf("Parse() = %d errors:\n%v\nwant %d", len(list), err, len(tt.want))
			}
			for i, e := range list {
				if !strings.Contains(e.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e.Error(), tt.want[i])
				}
				if e.Pos.Line < 1 || e.Pos.Col < 1 || e.File != "p.yaml" {
					t.Errorf("error %d has position %s:%d:%d, want a real one", i, e.File, e.Pos.Line, e.Pos.Col)
				}
			}
		})
	}
}

func TestParseFeatures(t *testing.T) {
	t.Parallel()
	_, err := Parse("p.yaml", []byte(`version: 1
defaults:
  deploy: &deploy
    workflow: deploy.yml
    ref: main
    inputs: {region: eu-west-1}
environments:
  - name: dev
  - name: production
    github_environment: "{service}-{environment}"
    protected: true
    gate: {soak: 1h30m}
x-common: &common
  paths: ["shared/**"]
services:
  a:
    <<: *common
  b:
    <<: *common
    paths: ["b/**"]
    deploy: {command: ./b.sh}
`))
	if err == nil || !strings.Contains(err.Error(), `unknown key "x-common"`) {
		t.Fatalf("Parse() = %v, want only the x-common key rejected", err)
	}
	m, err := Parse("p.yaml", []byte(`version: 1
defaults:
  deploy: {workflow: deploy.yml, ref: main, inputs: {region: eu-west-1}}
environments:
  - name: dev
  - name: production
    github_environment: "{service}-{environment}"
    protected: true
    gate: {soak: 1h30m}
services:
  a: &svc
    paths: ["shared/**"]
  b:
    <<: *svc
    paths: ["b/**"]
    deploy: {command: ./b.sh}
`))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	if got := m.Services[0].Deploy; got.Workflow != "deploy.yml" || got.Inputs["region"] != "eu-west-1" {
		t.Errorf("a.deploy = %+v, want defaults.deploy", got)
	}
	if got := m.Services[1].Paths; !cmp.Equal(got, []string{"b/**"}) {
		t.Errorf("b.paths = %v, want the explicit key to win over the merge", got)
	}
	if got := m.Environments[1].GitHubName("a"); got != "a-production" {
		t.Errorf("GitHubName = %q, want a-production", got)
	}
	if got := m.Environments[1].Soak; got != 90*time.Minute {
		t.Errorf("soak = %v, want 1h30m", got)
	}
	if m.Defaults.Rollout.Initial != m.Defaults.MaxParallel {
		t.Errorf("rollout.initial = %d, want max_parallel by default", m.Defaults.Rollout.Initial)
	}
}

func TestLoadMissing(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "promotion.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "--manifest") {
		t.Errorf("Load(missing) = %v, want a not-exist error that says how to fix it", err)
	}
}

// TestAliasBomb checks that a document whose merge keys expand exponentially
// is refused quickly instead of being walked.
func TestAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\nenvironments: [{name: dev}]\nservices:\n  s0: &s0 {paths: [p], deploy: {command: x}}\n")
	for i := 1; i <= 9; i++ {
		refs := strings.Repeat(fmt.Sprintf("*s%d, ", i-1), 10)
		fmt.Fprintf(&b, "  s%d: &s%d {<<: [%s]}\n", i, i, strings.TrimSuffix(refs, ", "))
	}
	start := time.Now()
	_, err := Parse("p.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("Parse(alias bomb) = %v, want the expansion refused", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Parse(alias bomb) took %v", d)
	}
}

func TestMeshSection(t *testing.T) {
	t.Parallel()
	src := `version: 1
environments: [{name: dev}]
services:
  a: {paths: ["a/**"], mesh: a/mesh, deploy: {command: ./deploy.sh}}
mesh:
  paths: [platform/mesh]
  root_namespace: mesh-root
  monitoring_namespaces: [monitoring, observability]
`
	m, err := Parse("promotion.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Mesh{Paths: []string{"platform/mesh"}, RootNamespace: "mesh-root", MonitoringNamespaces: []string{"monitoring", "observability"}}
	if diff := cmp.Diff(want, m.Mesh); diff != "" {
		t.Errorf("Parse() mesh mismatch (-want +got):\n%s", diff)
	}
	_, err = Parse("promotion.yaml", []byte(strings.Replace(src, "[platform/mesh]", "[/etc/mesh]", 1)))
	if err == nil || !strings.Contains(err.Error(), "mesh.paths") {
		t.Errorf("Parse() with an absolute mesh path: error = %v, want one about mesh.paths", err)
	}
}

func TestMetricsSection(t *testing.T) {
	t.Parallel()
	src := `version: 1
environments: [{name: dev}]
services:
  a: {paths: ["a/**"], deploy: {command: ./deploy.sh}}
metrics:
  push: http://pushgateway:9091
  job: promote-ci
`
	m, err := Parse("promotion.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Metrics{Push: "http://pushgateway:9091", Job: "promote-ci"}); m.Metrics != want {
		t.Errorf("Parse() metrics = %+v, want %+v", m.Metrics, want)
	}
	for _, bad := range []string{"pushgateway:9091", "ftp://pg", "http://"} {
		_, err = Parse("promotion.yaml", []byte(strings.Replace(src, "http://pushgateway:9091", bad, 1)))
		if err == nil || !strings.Contains(err.Error(), "promotion.yaml:6:9: metrics.push") {
			t.Errorf("Parse() with metrics.push %q: error = %v, want one at promotion.yaml:6:9", bad, err)
		}
	}
}
