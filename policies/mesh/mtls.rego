# METADATA
# title: STRICT mTLS everywhere
# description: |
#   Every workload must accept only mutual TLS. Either a PeerAuthentication
#   in the root namespace without a selector sets `mtls.mode: STRICT` for the
#   whole mesh, or every namespace that has workloads has a PeerAuthentication
#   without a selector that does.
#
#   A PeerAuthentication that sets PERMISSIVE or DISABLE weakens that: for a
#   namespace or the whole mesh it is an error, for the workloads it selects
#   (or on a port, with `portLevelMtls`) it is a warning, an exception to
#   review. UNSET inherits from the level above and is not a finding.
#
#   To fix a finding, set `spec.mtls.mode: STRICT`, or add the missing
#   namespace-wide PeerAuthentication:
#
#   ```yaml
#   apiVersion: security.istio.io/v1
#   kind: PeerAuthentication
#   metadata: {name: default, namespace: my-namespace}
#   spec:
#     mtls: {mode: STRICT}
#   ```
# custom:
#   rule: strict-mtls
#   severity: error
package promote.mesh.mtls

import data.promote.mesh.istio

weak_modes := {"PERMISSIVE", "DISABLE"}

default mode(_) := "UNSET"

mode(pa) := m if {
	m := istio.spec(pa).mtls.mode
	is_string(m)
}

mesh_strict if {
	some pa in istio.peer_authentications
	istio.mesh_wide(pa)
	mode(pa) == "STRICT"
}

strict_namespaces := {istio.namespace(pa) |
	some pa in istio.peer_authentications
	istio.namespace_wide(pa)
	mode(pa) == "STRICT"
}

# A namespace with workloads and no STRICT mode, neither its own nor the
# mesh's.
findings contains f if {
	not mesh_strict
	some ns in istio.workload_namespaces
	not ns in strict_namespaces
	f := {
		"rule": "strict-mtls",
		"severity": "error",
		"resource": istio.namespace_anchor[ns],
		"message": sprintf(
			"namespace %q has workloads but no STRICT mTLS: add a PeerAuthentication without selector in %q with spec.mtls.mode STRICT, or one in %q for the whole mesh",
			[ns, ns, istio.root_namespace],
		),
	}
}

# A PeerAuthentication that weakens mTLS for the mesh or a namespace.
findings contains f if {
	some pa in istio.peer_authentications
	istio.namespace_wide(pa)
	m := mode(pa)
	m in weak_modes
	f := {
		"rule": "strict-mtls",
		"severity": "error",
		"resource": pa.id,
		"message": sprintf("%s sets mTLS mode %s for %s; set spec.mtls.mode to STRICT", [istio.name(pa), m, scope(pa)]),
	}
}

# A PeerAuthentication that weakens mTLS for the workloads it selects.
findings contains f if {
	some pa in istio.peer_authentications
	not istio.namespace_wide(pa)
	m := mode(pa)
	m in weak_modes
	f := {
		"rule": "strict-mtls",
		"severity": "warning",
		"resource": pa.id,
		"message": sprintf(
			"%s sets mTLS mode %s for the workloads it selects, an exception to STRICT mTLS; set spec.mtls.mode to STRICT, or remove the exception once it is no longer needed",
			[istio.name(pa), m],
		),
	}
}

# A port-level exception.
findings contains f if {
	some pa in istio.peer_authentications
	levels := object.get(istio.spec(pa), "portLevelMtls", {})
	is_object(levels)
	some port, level in levels
	m := object.get(level, "mode", "UNSET")
	m in weak_modes
	f := {
		"rule": "strict-mtls",
		"severity": port_severity(pa),
		"resource": pa.id,
		"message": sprintf(
			"%s sets mTLS mode %s on port %v, an exception to STRICT mTLS; set portLevelMtls[%v].mode to STRICT, or remove the exception once it is no longer needed",
			[istio.name(pa), m, port, port],
		),
	}
}

scope(pa) := "the whole mesh" if {
	istio.mesh_wide(pa)
} else := sprintf("namespace %q", [istio.namespace(pa)])

port_severity(pa) := "error" if {
	istio.namespace_wide(pa)
} else := "warning"
