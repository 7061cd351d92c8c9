package policy

import (
	"context"
	"fmt"
	"testing"

	"github.com/promote-dev/promote/policies"
)

// benchInput builds a mesh of n resources, seven per namespace: a Deployment
// that announces metrics, its Service and ServiceAccount, a STRICT
// PeerAuthentication, an allow-nothing AuthorizationPolicy, one that admits
// the previous namespace on the service port and the monitoring namespace on
// every port, and a DestinationRule. Every tenth service is a sandbox.
func benchInput(n int) map[string]any {
	var resources []any
	services := map[string]any{}
	add := func(kind, apiVersion, ns, name string, spec map[string]any) {
		resources = append(resources, map[string]any{
			"id":         fmt.Sprint(len(resources)),
			"apiVersion": apiVersion,
			"kind":       kind,
			"metadata":   map[string]any{"name": name, "namespace": ns, "labels": map[string]any{}, "annotations": map[string]any{}},
			"spec":       spec,
			"file":       "services/" + ns + "/mesh/" + name + ".yaml",
			"service":    ns,
		})
	}
	for i := 0; len(resources) < n; i++ {
		ns := fmt.Sprintf("svc-%04d", i)
		prev := fmt.Sprintf("svc-%04d", max(i-1, 0))
		compliance := "standard"
		switch {
		case i%10 == 0:
			compliance = "sandbox"
		case i%3 == 0:
			compliance = "regulated"
		}
		services[ns] = map[string]any{"compliance": compliance, "mesh": "services/" + ns + "/mesh", "namespaces": []any{ns}}
		add("Deployment", "apps/v1", ns, "api", map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "api"}},
			"template": map[string]any{"metadata": map[string]any{
				"labels":      map[string]any{"app": "api"},
				"annotations": map[string]any{"prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
			}},
		})
		add("Service", "v1", ns, "api", map[string]any{"selector": map[string]any{"app": "api"},
			"ports": []any{map[string]any{"name": "http", "port": 80, "targetPort": 8080}}})
		add("ServiceAccount", "v1", ns, "api", nil)
		add("PeerAuthentication", "security.istio.io/v1", ns, "default", map[string]any{"mtls": map[string]any{"mode": "STRICT"}})
		add("AuthorizationPolicy", "security.istio.io/v1", ns, "allow-nothing", map[string]any{})
		add("AuthorizationPolicy", "security.istio.io/v1", ns, "allow-callers", map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "api"}},
			"rules": []any{
				map[string]any{
					"from": []any{map[string]any{"source": map[string]any{"principals": []any{"cluster.local/ns/" + prev + "/sa/api"}}}},
					"to":   []any{map[string]any{"operation": map[string]any{"ports": []any{"8080"}, "methods": []any{"GET", "POST"}}}},
				},
				map[string]any{"from": []any{map[string]any{"source": map[string]any{"namespaces": []any{"monitoring"}}}}},
			},
		})
		add("DestinationRule", "networking.istio.io/v1", ns, "api", map[string]any{
			"host": "api." + ns + ".svc.cluster.local", "trafficPolicy": map[string]any{"tls": map[string]any{"mode": "ISTIO_MUTUAL"}}})
	}
	return map[string]any{
		"resources": resources[:n],
		"services":  services,
		"config":    map[string]any{"root_namespace": "istio-system", "monitoring_namespaces": []any{"monitoring"}, "trust_domain": "cluster.local"},
	}
}

func BenchmarkEval(b *testing.B) {
	ctx := context.Background()
	e, err := Load(ctx, policies.FS, "mesh", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2_000, 20_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			input := benchInput(n)
			for b.Loop() {
				if _, err := e.Eval(ctx, input); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
