package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/promote-dev/promote/internal/mesh"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleReport is a report with a bit of everything the outputs must handle:
// several files, every severity, a finding without a line, a rule missing
// from Rules, a path with a space, standard input, files outside the
// repository, two findings that differ only by line, and messages with
// characters that Markdown, workflow commands and JSON treat specially.
func sampleReport() *mesh.Report {
	return &mesh.Report{
		Checks:    []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio, mesh.LayerAnalysis, mesh.LayerPolicy},
		Files:     6,
		Resources: 14,
		Istio:     9,
		Skipped:   map[string]int{"v1/ConfigMap": 2, "batch/v1/CronJob": 1},
		Findings: []mesh.Finding{
			{
				Pos:      mesh.Pos{File: "../shared/mesh-root.yaml", Line: 4, Col: 3},
				Severity: mesh.Warning, Rule: "analysis.mesh-mtls-permissive",
				Message:  "the mesh-wide PeerAuthentication sets mode PERMISSIVE; set STRICT once every workload has a sidecar",
				Resource: "PeerAuthentication istio-system/default",
			},
			{
				Pos:      mesh.Pos{File: "/etc/istio/mesh.yaml", Line: 2, Col: 1},
				Severity: mesh.Note, Rule: "analysis.mesh-mtls-permissive",
				Message: "the mesh config is outside the repository",
			},
			{
				Pos:      mesh.Pos{File: "<stdin>", Line: 7, Col: 5},
				Severity: mesh.Error, Rule: "schema.unknown-field",
				Message:  `unknown field "spec.htp"; did you mean "spec.http"?`,
				Resource: "VirtualService default/reviews",
			},
			{
				Pos:      mesh.Pos{File: "mesh/payments/authz.yaml"},
				Severity: mesh.Warning, Rule: "policy.require-team-label",
				Message: `no resource in the file has the label "team"; add metadata.labels.team`,
			},
			{
				Pos:      mesh.Pos{File: "mesh/payments/authz.yaml", Line: 12, Col: 9},
				Severity: mesh.Error, Rule: "istio.authz-principal",
				Message:  `principal "cluster.local/ns/<none>/sa/100%" is not a SPIFFE ID <spiffe://trust-domain/ns/NS/sa/SA> & cannot match`,
				Resource: "AuthorizationPolicy payments/allow-frontend",
			},
			{
				Pos:      mesh.Pos{File: "mesh/shop/destination-rule.yaml", Line: 18, Col: 7},
				Severity: mesh.Note, Rule: "analysis.subset-unused",
				Message:  "subset \"v3\" of host *.shop.svc.cluster.local is used by no VirtualService (see `kubectl get vs`)",
				Resource: "DestinationRule shop/reviews",
			},
			{
				Pos:      mesh.Pos{File: "mesh/shop/virtual service.yaml", Line: 9, Col: 7},
				Severity: mesh.Error, Rule: "analysis.route-weights",
				Message:  "route weights sum to 90, not 100:\n  reviews-v1 | 60\n  reviews-v2 | 30",
				Resource: "VirtualService shop/reviews",
			},
			{
				Pos:      mesh.Pos{File: "mesh/shop/virtual service.yaml", Line: 14, Col: 11},
				Severity: mesh.Warning, Rule: "analysis.host-unknown",
				Message:  `host "ratings" matches no Service`,
				Resource: "VirtualService shop/reviews",
			},
			{
				Pos:      mesh.Pos{File: "mesh/shop/virtual service.yaml", Line: 30, Col: 11},
				Severity: mesh.Warning, Rule: "analysis.host-unknown",
				Message:  `host "ratings" matches no Service`,
				Resource: "VirtualService shop/reviews",
			},
		},
		Ignored: []mesh.Ignored{{
			Finding: mesh.Finding{
				Pos:      mesh.Pos{File: "mesh/shop/virtual service.yaml", Line: 40, Col: 11},
				Severity: mesh.Warning, Rule: "analysis.host-unknown",
				Message:  `host "legacy" matches no Service`,
				Resource: "VirtualService shop/reviews",
			},
			Reason: "legacy | lives in the *old* cluster until Q3",
		}},
		Rules: []mesh.Rule{
			{ID: "analysis.host-unknown", Layer: mesh.LayerAnalysis, Severity: mesh.Warning,
				Summary: "A route's destination host matches no Service",
				Help:    "Every `destination.host` should name a Service in the mesh or a ServiceEntry.\n\nFix the host or add the Service."},
			{ID: "analysis.mesh-mtls-permissive", Layer: mesh.LayerAnalysis, Severity: mesh.Warning,
				Summary: "The mesh-wide mTLS mode is PERMISSIVE",
				Help:    "A PERMISSIVE mesh accepts plain text. Set `mode: STRICT` in the root namespace's PeerAuthentication."},
			{ID: "analysis.route-weights", Layer: mesh.LayerAnalysis, Severity: mesh.Error,
				Summary: "Route weights do not sum to 100",
				Help:    "The weights of an HTTP route's destinations must sum to 100."},
			{ID: "analysis.subset-unused", Layer: mesh.LayerAnalysis, Severity: mesh.Note,
				Summary: "A DestinationRule subset is used by no route"},
			{ID: "istio.authz-principal", Layer: mesh.LayerIstio, Severity: mesh.Error,
				Summary: "An AuthorizationPolicy principal is not a SPIFFE ID",
				Help:    "Principals look like `cluster.local/ns/<namespace>/sa/<service-account>`."},
			{ID: "schema.unknown-field", Layer: mesh.LayerSchema, Severity: mesh.Error,
				Summary: "A field is not part of the resource's schema",
				Help:    "Istio ignores unknown fields, so a typo silently changes nothing. Fix the field's name."},
		},
		Namespaces: []mesh.Namespace{
			{Name: "default", MTLS: "STRICT (mesh)", Errors: 1},
			{
				Name: "payments", Services: []mesh.Service{{Name: "payments", Compliance: "pci"}},
				MTLS: "STRICT", Workloads: 2, Policies: map[string]int{"DENY": 1, "ALLOW": 2},
				Errors: 1, Warnings: 1,
			},
			{
				Name: "shop", Services: []mesh.Service{{Name: "cart", Compliance: "standard"}, {Name: "reviews"}},
				MTLS: "PERMISSIVE", Workloads: 3, Policies: map[string]int{"CUSTOM": 1, "ALLOW": 1},
				Errors: 1, Warnings: 2, Notes: 1,
			},
		},
	}
}

// golden compares got with the file testdata/name, or rewrites the file
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// sampleSARIF writes the SARIF of sampleReport for the repository at the
// working directory, with the working directory's URI replaced by
// file:///repo/ so that the output does not depend on the checkout.
func sampleSARIF(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := SARIF(&buf, sampleReport(), SARIFOptions{Root: ".", ToolVersion: "1.2.3", InformationURI: "https://github.com/promote-dev/promote"}); err != nil {
		t.Fatalf("SARIF() error = %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(buf.Bytes(), []byte(dirURI(wd)), []byte("file:///repo/"))
}

func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what  string
		file  string
		write func(t *testing.T) []byte
	}{
		{
			what: "text",
			file: "sample.txt",
			write: func(t *testing.T) []byte {
				var buf bytes.Buffer
				if err := Text(&buf, sampleReport()); err != nil {
					t.Fatalf("Text() error = %v", err)
				}
				return buf.Bytes()
			},
		},
		{
			what: "json",
			file: "sample.json",
			write: func(t *testing.T) []byte {
				var buf bytes.Buffer
				if err := JSON(&buf, sampleReport()); err != nil {
					t.Fatalf("JSON() error = %v", err)
				}
				return buf.Bytes()
			},
		},
		{
			what:  "sarif",
			file:  "sample.sarif",
			write: sampleSARIF,
		},
		{
			what:  "markdown",
			file:  "sample.md",
			write: func(t *testing.T) []byte { return []byte(Markdown(sampleReport())) },
		},
		{
			what: "json of an empty report",
			file: "empty.json",
			write: func(t *testing.T) []byte {
				var buf bytes.Buffer
				if err := JSON(&buf, &mesh.Report{}); err != nil {
					t.Fatalf("JSON() error = %v", err)
				}
				return buf.Bytes()
			},
		},
		{
			what: "markdown of a clean report",
			file: "clean.md",
			write: func(t *testing.T) []byte {
				return []byte(Markdown(&mesh.Report{Checks: []mesh.Layer{mesh.LayerSchema}, Files: 1, Resources: 1, Istio: 1}))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got := tt.write(t)
			golden(t, tt.file, got)
			// The same report gives the same bytes.
			if again := tt.write(t); !bytes.Equal(got, again) {
				t.Errorf("%s: a second run wrote different bytes", tt.what)
			}
		})
	}
}

func TestTextTally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what string
		r    *mesh.Report
		want string
	}{
		{
			what: "empty",
			r:    &mesh.Report{},
			want: "promote mesh check: 0 resources in 0 files (0 Istio): no findings\n",
		},
		{
			what: "singular",
			r: &mesh.Report{
				Checks: []mesh.Layer{mesh.LayerSchema}, Files: 1, Resources: 1, Istio: 1, Skipped: map[string]int{"v1/ConfigMap": 1},
				Findings: []mesh.Finding{{Pos: mesh.Pos{File: "a.yaml", Line: 1, Col: 1}, Severity: mesh.Note, Rule: "r", Message: "m"}},
			},
			want: "a.yaml:1:1: note: m [r]\npromote mesh check (schema): 1 resource in 1 file (1 Istio, 1 skipped): 1 note\n",
		},
		{
			what: "plural, notes left out when none",
			r: &mesh.Report{
				Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio}, Files: 7, Resources: 42, Istio: 30,
				Skipped: map[string]int{"v1/ConfigMap": 2, "v1/Secret": 1},
				Findings: []mesh.Finding{
					{Pos: mesh.Pos{File: "a.yaml"}, Severity: mesh.Error, Rule: "r", Message: "m"},
					{Pos: mesh.Pos{File: "a.yaml", Line: 3}, Severity: mesh.Error, Rule: "r", Message: "m"},
					{Pos: mesh.Pos{File: "b.yaml", Line: 2, Col: 4}, Severity: mesh.Warning, Rule: "s", Message: "n"},
				},
			},
			want: "a.yaml: error: m [r]\na.yaml:3: error: m [r]\nb.yaml:2:4: warning: n [s]\n" +
				"promote mesh check (schema, istio): 42 resources in 7 files (30 Istio, 3 skipped): 2 errors, 1 warning\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := Text(&buf, tt.r); err != nil {
				t.Fatalf("Text() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("Text() differs (-want +got):\n%s", diff)
			}
		})
	}
}
