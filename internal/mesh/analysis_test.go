package mesh_test

import (
	"context"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/mesh"
)

// TestDuplicateAcrossVersions: one Istio kind served in two versions is one
// resource to the API server, so a v1 and a v1beta1 VirtualService of the
// same name and namespace are the same resource defined twice.
//
// Mutant this kills (make mutants): duplicates keyed by apiVersion, which
// no other test exercised.
func TestDuplicateAcrossVersions(t *testing.T) {
	t.Parallel()
	const files = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ledger, namespace: legacy}
spec:
  hosts: [ledger]
  http: [{route: [{destination: {host: ledger}}]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ledger, namespace: legacy}
spec:
  hosts: [ledger]
  http: [{route: [{destination: {host: ledger}}]}]
`
	dups := findingsOf(t, "twice.yaml", files, mesh.RuleDuplicate)
	if len(dups) != 1 || !strings.HasPrefix(dups[0], "twice.yaml:10:") {
		t.Errorf("duplicate findings %q, want one on the second VirtualService (line 10)", dups)
	}
}

// findingsOf runs the analysis on one file and returns its findings of rule.
func findingsOf(t *testing.T, name, files, rule string) []string {
	t.Helper()
	set := mesh.NewSet("")
	set.Add(name, []byte(files), "")
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerAnalysis}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range rep.Findings {
		if f.Rule == rule {
			out = append(out, f.String())
		}
	}
	return out
}

// TestUnknownIdentityPatterns: wildcards and principals that are not of the
// ns/NAMESPACE/sa/ACCOUNT shape name no particular namespace, so they are
// not reported; a plain unknown namespace is.
//
// Mutants this kills (make mutants): namespace patterns with "*" checked as
// names; principals of another shape read as ns/sa.
func TestUnknownIdentityPatterns(t *testing.T) {
	t.Parallel()
	const files = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ledger, namespace: legacy}
spec:
  rules:
    - from:
        - source:
            namespaces: ["team-*", nowhere]
            principals: ["example.org/tenant/elsewhere/user/bob"]
`
	got := findingsOf(t, "identities.yaml", files, mesh.RuleUnknownIdentity)
	if len(got) != 1 || !strings.Contains(got[0], `namespace "nowhere"`) {
		t.Errorf("unknown-identity findings %q, want one, about namespace \"nowhere\"", got)
	}
}

// TestMTLSConflictModes covers the mTLS conflicts no other test holds: the
// reverse conflict (a DestinationRule asking for ISTIO_MUTUAL towards a
// workload that DISABLEs mTLS), and the inheritance of a workload port's mode,
// from its own PeerAuthentication's portLevelMtls before its mode, and from
// the root namespace's (mesh-wide) PeerAuthentication when its namespace has
// none.
//
// Mutants this kills (make mutants): conflict without its DISABLE versus
// ISTIO_MUTUAL case; portLevelMtls ignored; the mesh-wide PeerAuthentication
// ignored.
func TestMTLSConflictModes(t *testing.T) {
	t.Parallel()
	const workload = `---
apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: legacy}
spec:
  selector: {app: ledger}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger, namespace: legacy}
spec:
  template:
    metadata:
      labels: {app: ledger}
`
	for _, tt := range []struct {
		what, peer, tls, want string
	}{
		{what: "disabled workload", tls: "ISTIO_MUTUAL", want: "mTLS mode DISABLE on port 8080 (PeerAuthentication legacy/default at inherit.yaml:3:18): clients would send Istio mutual TLS to a workload that does not accept it", peer: `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: legacy}
spec:
  mtls: {mode: DISABLE}
`},
		{what: "port level", tls: "ISTIO_MUTUAL", want: "mTLS mode DISABLE on port 8080", peer: `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ledger, namespace: legacy}
spec:
  selector: {matchLabels: {app: ledger}}
  mtls: {mode: STRICT}
  portLevelMtls: {8080: {mode: DISABLE}}
`},
		{what: "mesh wide", tls: "DISABLE", want: "mTLS mode STRICT on port 8080 (PeerAuthentication istio-system/default", peer: `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
`},
	} {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			dr := `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ledger, namespace: legacy}
spec:
  host: ledger
  trafficPolicy:
    tls: {mode: ` + tt.tls + `}
`
			got := findingsOf(t, "inherit.yaml", tt.peer+dr+workload, mesh.RuleMTLSConflict)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("mTLS conflicts %q, want one with %q", got, tt.want)
			}
		})
	}
}
