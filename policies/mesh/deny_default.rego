# METADATA
# title: Deny by default
# description: |
#   Every namespace that has workloads denies every request that no policy
#   allows. Istio allows all traffic to a workload that no ALLOW policy
#   applies to, so each namespace needs an allow-nothing AuthorizationPolicy
#   without a selector (`spec: {}`, or ALLOW without rules), unless one in the
#   root namespace covers the whole mesh.
#
#   To fix a finding, add to the namespace:
#
#   ```yaml
#   apiVersion: security.istio.io/v1
#   kind: AuthorizationPolicy
#   metadata: {name: allow-nothing, namespace: my-namespace}
#   spec: {}
#   ```
#
#   and ALLOW policies for the callers the workloads expect.
# custom:
#   rule: deny-by-default
#   severity: error
package promote.mesh.deny_default

import data.promote.mesh.istio

# allow_nothing(p): p is an ALLOW policy without rules, which matches no
# request and so denies every request to what it applies to.
allow_nothing(p) if {
	istio.action(p) == "ALLOW"
	count(istio.list(istio.spec(p), "rules")) == 0
}

mesh_default if {
	some p in istio.authorization_policies_by_namespace[istio.root_namespace]
	istio.mesh_wide(p)
	allow_nothing(p)
}

defaulted_namespaces := {istio.namespace(p) |
	some p in istio.authorization_policies
	istio.namespace_wide(p)
	allow_nothing(p)
}

findings contains f if {
	not mesh_default
	some ns in istio.workload_namespaces
	not ns in defaulted_namespaces
	f := {
		"rule": "deny-by-default",
		"severity": "error",
		"resource": istio.namespace_anchor[ns],
		"message": sprintf(
			"namespace %q has workloads but does not deny by default: add an AuthorizationPolicy without selector in %q with spec: {}, or one in %q for the whole mesh",
			[ns, ns, istio.root_namespace],
		),
	}
}
