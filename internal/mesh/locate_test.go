package mesh_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/mesh"
)

// TestIstioPositions checks where Istio's messages, which carry no
// position, are placed: at the part of the spec each is about.
func TestIstioPositions(t *testing.T) {
	t.Parallel()
	set := mesh.NewSet("")
	set.Add("istio.yaml", []byte(istioErrors), "")
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerIstio}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		got[f.Message] = fmt.Sprintf("%d:%d", f.Line, f.Col)
	}
	for _, tt := range []struct{ message, at string }{
		{"DENY action without `rules`", "7:11"},                                    // the action
		{"invalid or unsupported path {**}/x/{*}", "24:28"},                        // the path among two
		{"invalid `value` for `key` bogus.key", "28:16"},                           // the key of the second condition
		{`URI scheme "" is not supported`, "41:16"},                                // the second rule's jwksUri
		{"subset name cannot be empty", "53:7"},                                    // the second subset
		{"max connections must be non-negative", "58:25"},                          // the value
		{"virtualService rule #1 not used", "70:7"},                                // the second route
		{"mesh/namespace peer authentication cannot have port level mTLS", "83:3"}, // the map
		{"`provider.name` must not be empty", "97:11"},                             // the CUSTOM action
	} {
		found := false
		for msg, at := range got {
			if strings.Contains(msg, tt.message) {
				found = true
				if at != tt.at {
					t.Errorf("%q at %s, want %s", msg, at, tt.at)
				}
			}
		}
		if !found {
			t.Errorf("no message %q among %v", tt.message, got)
		}
	}
}

const istioErrors = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-nothing
  namespace: payments
spec:
  action: DENY
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: conditions
  namespace: payments
spec:
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/a/sa/b"]
    - from:
        - source:
            principals: ["cluster.local/ns/a/sa/b"]
      to:
        - operation:
            paths: ["/ok", "/{**}/x/{*}"]
      when:
        - key: request.headers[x]
          values: ["a"]
        - key: bogus.key
          values: ["a"]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: payments
spec:
  jwtRules:
    - issuer: "https://a"
      jwksUri: "https://a/keys"
    - issuer: "https://b"
      jwksUri: "not a url"
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr
  namespace: payments
spec:
  host: payments
  subsets:
    - name: v1
      labels: {version: v1}
    - name: ""
      labels: {version: v2}
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: -1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs
  namespace: payments
spec:
  hosts: ["payments"]
  http:
    - route:
        - destination: {host: payments, subset: v1}
    - match:
        - uri: {prefix: /x}
      route:
        - destination: {host: payments}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: payments
spec:
  mtls:
    mode: STRICT
  portLevelMtls:
    8080:
      mode: DISABLE
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz
  namespace: payments
spec:
  rules:
    - to:
        - operation:
            paths: ["/api/*"]
  action: CUSTOM
`
