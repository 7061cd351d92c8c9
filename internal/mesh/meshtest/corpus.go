// Package meshtest generates Istio configuration for tests and benchmarks.
package meshtest

import (
	"fmt"
	"strings"
)

// PerNamespace is the number of resources Corpus writes for each namespace.
const PerNamespace = 7

// Corpus returns a multi-document YAML stream of n namespaces, each one
// service as the examples ship it: a ServiceAccount, Deployment and
// Service, a STRICT PeerAuthentication, an allow-nothing and a caller
// AuthorizationPolicy, and a DestinationRule. Service i is called by
// service i+1, so every principal names a real account. The stream is
// valid: every layer of promote mesh check passes it.
func Corpus(n int) []byte {
	var b strings.Builder
	for i := range n {
		ns := fmt.Sprintf("svc-%05d", i)
		caller := fmt.Sprintf("svc-%05d", (i+1)%n)
		fmt.Fprintf(&b, corpusTemplate, ns, caller)
	}
	return []byte(b.String())
}

const corpusTemplate = `---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[1]s
  namespace: %[1]s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
        version: v1
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "15020"
    spec:
      serviceAccountName: %[1]s
      containers:
        - name: app
          image: ghcr.io/example/%[1]s:1.0.0
          ports:
            - containerPort: 8080
              name: http
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[1]s
spec:
  selector:
    app: %[1]s
  ports:
    - name: http
      port: 80
      targetPort: 8080
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: %[1]s
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: %[1]s
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: %[1]s-allow-%[2]s
  namespace: %[1]s
spec:
  selector:
    matchLabels:
      app: %[1]s
  action: ALLOW
  rules:
    - from:
        - source:
            principals: ["cluster.local/ns/%[2]s/sa/%[2]s"]
      to:
        - operation:
            methods: ["GET", "POST"]
            paths: ["/api/*"]
            ports: ["8080"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %[1]s
  namespace: %[1]s
spec:
  host: %[1]s.%[1]s.svc.cluster.local
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
`
