package promote.mesh.deny_default_test

import data.promote.mesh.deny_default
import data.promote.mesh.fixtures

# flagged is the set of resources the findings for resources are attached to.
flagged(resources) := ids if {
	ids := {f.resource | some f in deny_default.findings} with input as fixtures.mesh(resources)
}

workloads := [fixtures.deployment("a", "api"), fixtures.deployment("b", "api")]

test_mesh_wide_allow_nothing_covers_every_namespace if {
	flagged(array.concat(workloads, [fixtures.authz("istio-system", "allow-nothing", {})])) == set()
}

test_namespace_without_default_deny if {
	flagged(workloads) == {"Deployment/a/api", "Deployment/b/api"}
}

test_namespace_wide_allow_nothing_covers_its_namespace if {
	flagged(array.concat(workloads, [fixtures.authz("a", "allow-nothing", {})])) == {"Deployment/b/api"}
}

test_allow_without_rules_is_allow_nothing if {
	flagged(array.concat(workloads, [
		fixtures.authz("a", "deny-all", {"action": "ALLOW"}),
		fixtures.authz("b", "deny-all", {"action": "ALLOW", "rules": []}),
	])) == set()
}

test_absent_spec_is_allow_nothing if {
	p := object.remove(fixtures.authz("a", "allow-nothing", {}), ["spec"])
	flagged([p, fixtures.deployment("a", "api")]) == set()
}

test_policies_that_do_not_deny_by_default if {
	not_defaults := [
		fixtures.authz("a", "selected", {"selector": {"matchLabels": {"app": "api"}}}),
		fixtures.authz("a", "targeted", {"targetRefs": [{"kind": "Service", "group": "", "name": "api"}]}),
		fixtures.authz("a", "deny", {"action": "DENY", "rules": [{}]}),
		fixtures.authz("a", "allow", {"rules": [{"from": [{"source": {"namespaces": ["b"]}}]}]}),
		fixtures.authz("istio-system", "selected", {"selector": {"matchLabels": {"app": "api"}}}),
	]
	flagged(array.concat(not_defaults, [fixtures.deployment("a", "api")])) == {"Deployment/a/api"}
}

test_no_workloads_no_findings if {
	flagged([fixtures.resource("Service", "a", "api", {})]) == set()
}

test_message_says_how_to_fix if {
	some f in deny_default.findings with input as fixtures.mesh([fixtures.deployment("a", "api")])
	f.rule == "deny-by-default"
	f.severity == "error"
	contains(f.message, `namespace "a" has workloads but does not deny by default`)
	contains(f.message, "spec: {}")
}
