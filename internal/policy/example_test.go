package policy_test

import (
	"context"
	"fmt"

	"github.com/promote-dev/promote/internal/policy"
	"github.com/promote-dev/promote/policies"
)

func Example() {
	ctx := context.Background()
	// The shipped mesh policies; a CLI adds the directories of --policy.
	engine, err := policy.Load(ctx, policies.FS, "mesh", nil)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The input document internal/mesh builds: one namespace with a workload,
	// STRICT mTLS for the whole mesh, and a policy that lets anyone in.
	resource := func(id, kind, namespace, name string, spec any) map[string]any {
		return map[string]any{
			"id": id, "kind": kind, "spec": spec,
			"metadata": map[string]any{"name": name, "namespace": namespace},
			"file":     "services/shop/mesh/" + name + ".yaml", "service": "shop",
		}
	}
	input := map[string]any{
		"resources": []any{
			resource("1", "Deployment", "shop", "api", map[string]any{
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "api"}}},
			}),
			resource("2", "PeerAuthentication", "istio-system", "default", map[string]any{"mtls": map[string]any{"mode": "STRICT"}}),
			resource("3", "AuthorizationPolicy", "shop", "allow-nothing", map[string]any{}),
			resource("4", "AuthorizationPolicy", "shop", "anyone", map[string]any{
				"rules": []any{map[string]any{"to": []any{map[string]any{"operation": map[string]any{"ports": []any{"8080"}}}}}, map[string]any{}},
			}),
		},
		"services": map[string]any{},
		"config":   map[string]any{"root_namespace": "istio-system", "monitoring_namespaces": []any{"monitoring"}},
	}

	results, err := engine.Eval(ctx, input)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Printf("resource %s: %s: %s [%s]\n", r.Resource, r.Severity, r.Message, r.Rule)
	}
	// Output:
	// resource 4: error: AuthorizationPolicy shop/anyone: rule 1 allows every caller (an empty rule); name the callers in from.source.principals or from.source.namespaces, or remove the rule [no-allow-all]
	// resource 4: error: AuthorizationPolicy shop/anyone: rule 1 lets callers outside the monitoring namespaces (monitoring) reach metrics ports 15020, 15090 of Deployment shop/api; restrict to.operation.ports to the service ports, admit only the monitoring namespaces in from, or guard the metrics ports with a DENY policy with notNamespaces [metrics-from-monitoring]
}
