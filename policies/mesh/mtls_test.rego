package promote.mesh.mtls_test

import data.promote.mesh.fixtures
import data.promote.mesh.mtls

mesh_strict := fixtures.peer("istio-system", "default", {"mtls": {"mode": "STRICT"}})

# found is the set of [resource, severity] of the findings for resources.
found(resources) := fs if {
	fs := {[f.resource, f.severity] | some f in mtls.findings} with input as fixtures.mesh(resources)
}

test_mesh_wide_strict_covers_every_namespace if {
	found([mesh_strict, fixtures.deployment("a", "api"), fixtures.deployment("b", "api")]) == set()
}

test_namespace_without_strict_mtls if {
	found([fixtures.deployment("a", "api"), fixtures.deployment("b", "api")]) == {
		["Deployment/a/api", "error"],
		["Deployment/b/api", "error"],
	}
}

test_namespace_wide_strict_covers_its_namespace_only if {
	found([
		fixtures.peer("a", "default", {"mtls": {"mode": "STRICT"}}),
		fixtures.deployment("a", "api"),
		fixtures.deployment("b", "api"),
	]) == {["Deployment/b/api", "error"]}
}

test_empty_selector_is_namespace_wide if {
	found([
		fixtures.peer("a", "default", {"selector": {"matchLabels": {}}, "mtls": {"mode": "STRICT"}}),
		fixtures.deployment("a", "api"),
	]) == set()
}

test_root_namespace_policy_with_selector_is_not_mesh_wide if {
	found([
		fixtures.peer("istio-system", "default", {"selector": {"matchLabels": {"app": "api"}}, "mtls": {"mode": "STRICT"}}),
		fixtures.deployment("a", "api"),
	]) == {["Deployment/a/api", "error"]}
}

test_namespace_without_workloads_needs_nothing if {
	found([fixtures.resource("Service", "a", "api", {})]) == set()
}

test_finding_names_the_namespace_and_fix if {
	some f in mtls.findings with input as fixtures.mesh([fixtures.deployment("a", "api")])
	f.rule == "strict-mtls"
	contains(f.message, `namespace "a" has workloads but no STRICT mTLS`)
	contains(f.message, `"istio-system"`)
}

test_namespace_finding_is_attached_to_the_first_workload_by_file if {
	found([
		fixtures.workload("a", "zeta", {}, {}),
		fixtures.workload("a", "alpha", {}, {}),
		mesh_strict,
	]) == set()
	found([fixtures.workload("a", "zeta", {}, {}), fixtures.workload("a", "alpha", {}, {})]) == {["Deployment/a/alpha", "error"]}
}

test_root_namespace_from_config if {
	resources := [
		fixtures.peer("mesh-root", "default", {"mtls": {"mode": "STRICT"}}),
		fixtures.deployment("a", "api"),
	]
	doc := object.union(fixtures.mesh(resources), {"config": {"root_namespace": "mesh-root"}})
	count(mtls.findings) == 0 with input as doc
}

test_mesh_wide_permissive_is_an_error if {
	found([
		fixtures.peer("istio-system", "default", {"mtls": {"mode": "PERMISSIVE"}}),
		fixtures.deployment("a", "api"),
	]) == {
		["PeerAuthentication/istio-system/default", "error"],
		["Deployment/a/api", "error"],
	}
	some f in mtls.findings with input as fixtures.mesh([fixtures.peer("istio-system", "default", {"mtls": {"mode": "PERMISSIVE"}})])
	contains(f.message, "mTLS mode PERMISSIVE for the whole mesh")
}

test_namespace_wide_disable_is_an_error if {
	found([mesh_strict, fixtures.peer("a", "default", {"mtls": {"mode": "DISABLE"}}), fixtures.deployment("a", "api")]) == {["PeerAuthentication/a/default", "error"]}
}

test_namespace_wide_unset_inherits_the_mesh if {
	found([mesh_strict, fixtures.peer("a", "default", {"mtls": {"mode": "UNSET"}}), fixtures.deployment("a", "api")]) == set()
	found([mesh_strict, fixtures.peer("a", "default", {}), fixtures.deployment("a", "api")]) == set()
	found([mesh_strict, fixtures.peer("a", "default", {"mtls": null}), fixtures.deployment("a", "api")]) == set()
	found([mesh_strict, fixtures.peer("a", "default", null), fixtures.deployment("a", "api")]) == set()
}

test_workload_exception_is_a_warning if {
	pa := fixtures.peer("a", "legacy", {"selector": {"matchLabels": {"app": "legacy"}}, "mtls": {"mode": "PERMISSIVE"}})
	found([mesh_strict, pa, fixtures.deployment("a", "legacy")]) == {["PeerAuthentication/a/legacy", "warning"]}
}

test_workload_strict_is_not_a_finding if {
	pa := fixtures.peer("a", "api", {"selector": {"matchLabels": {"app": "api"}}, "mtls": {"mode": "STRICT"}})
	found([mesh_strict, pa, fixtures.deployment("a", "api")]) == set()
}

test_port_level_exception_is_a_warning if {
	pa := fixtures.peer("a", "legacy", {
		"selector": {"matchLabels": {"app": "legacy"}},
		"mtls": {"mode": "STRICT"},
		"portLevelMtls": {"8080": {"mode": "DISABLE"}, "9090": {"mode": "STRICT"}, "9091": {"mode": "UNSET"}},
	})
	found([mesh_strict, pa, fixtures.deployment("a", "legacy")]) == {["PeerAuthentication/a/legacy", "warning"]}
	messages := {f.message | some f in mtls.findings} with input as fixtures.mesh([mesh_strict, pa])
	count(messages) == 1
	some m in messages
	contains(m, "mTLS mode DISABLE on port 8080")
}

test_port_level_exception_on_a_namespace_wide_policy_is_an_error if {
	pa := fixtures.peer("a", "default", {"mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}})
	found([pa, fixtures.deployment("a", "api")]) == {["PeerAuthentication/a/default", "error"]}
}
