package promote.mesh.sandbox_test

import data.promote.mesh.fixtures
import data.promote.mesh.sandbox

services := {
	"service-a": fixtures.service("regulated", ["a"]),
	"service-b": fixtures.service("standard", ["b", "b-jobs"]),
	"service-s": fixtures.service("sandbox", ["s"]),
	"service-t": fixtures.service("sandbox", ["t"]),
}

workloads := [
	fixtures.deployment("a", "api"),
	fixtures.deployment("b", "api"),
	fixtures.deployment("s", "api"),
	fixtures.deployment("t", "api"),
]

# messages are the messages of the findings for resources.
messages(resources) := msgs if {
	msgs := {f.message | some f in sandbox.findings} with input as fixtures.mesh_with(array.concat(workloads, resources), services)
}

# reaches(ns, rule): an ALLOW policy in namespace ns with rule is a finding.
reaches(ns, rule) if count(messages([fixtures.authz(ns, "p", {"rules": [rule]})])) == 1

isolated(ns, rule) if count(messages([fixtures.authz(ns, "p", {"rules": [rule]})])) == 0

test_production_namespace_source if {
	some f in sandbox.findings with input as fixtures.mesh_with(
		[fixtures.authz("s", "p", {"rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]})],
		services,
	)
	f == {
		"rule": "sandbox-isolation",
		"severity": "error",
		"resource": "AuthorizationPolicy/s/p",
		"message": "AuthorizationPolicy s/p: rule 0 lets production namespaces (a) reach sandbox service service-s; name only non-production callers in from.source, or exclude production with notNamespaces",
	}
}

test_sources_that_admit_production if {
	reaches("s", {"from": [{"source": {"namespaces": ["b-jobs"]}}]})
	reaches("s", {"from": [{"source": {"principals": ["cluster.local/ns/b/sa/api"]}}]})
	reaches("s", {"from": [{"source": {"principals": ["*/ns/a/sa/*"]}}]})
	reaches("s", {"from": [{"source": {"principals": ["*"]}}]})
	reaches("s", {"from": [{"source": {"namespaces": ["*"]}}]})
	reaches("s", {"from": [{"source": {"namespaces": ["b*"]}}]})
	reaches("s", {"from": [{"source": {"notNamespaces": ["a"]}}]})
	reaches("s", {"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]})
	reaches("s", {"to": [{"operation": {"ports": ["8080"]}}]})
	reaches("s", {})
	reaches("s", {"when": [{"key": "source.namespace", "values": ["a"]}]})
	reaches("s", {"from": [{"source": {"namespaces": ["t"]}}, {"source": {"namespaces": ["a"]}}]})
}

test_sources_that_do_not_admit_production if {
	isolated("s", {"from": [{"source": {"namespaces": ["s", "t", "dev"]}}]})
	isolated("s", {"from": [{"source": {"principals": ["cluster.local/ns/t/sa/api"]}}]})
	isolated("s", {"from": [{"source": {"notNamespaces": ["a", "b", "b-jobs"]}}]})
	isolated("s", {"from": [{"source": {"namespaces": ["*"], "notNamespaces": ["a", "b*"]}}]})
	isolated("s", {"from": [{"source": {"namespaces": ["a"], "principals": ["cluster.local/ns/s/sa/api"]}}]})
	isolated("s", {"when": [{"key": "source.namespace", "values": ["t"]}]})
	isolated("s", {"from": [{"source": {"namespaces": ["a"]}}], "when": [{"key": "source.principal", "values": ["cluster.local/ns/t/sa/*"]}]})
}

test_every_admitted_namespace_is_named if {
	some m in messages([fixtures.authz("s", "p", {"rules": [{}]})])
	contains(m, "production namespaces (a, b, b-jobs) reach sandbox service service-s")
}

test_production_policies_are_not_judged if {
	isolated("a", {"from": [{"source": {"namespaces": ["b"]}}]})
	isolated("b", {})
}

test_deny_and_allow_nothing_policies if {
	count(messages([fixtures.authz("s", "p", {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]})])) == 0
	count(messages([fixtures.authz("s", "p", {})])) == 0
}

test_mesh_wide_policy if {
	msgs := messages([fixtures.authz("istio-system", "p", {"rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]})])
	count(msgs) == 1
	some m in msgs
	contains(m, "reach sandbox service service-s, service-t;")
}

test_root_namespace_policy_with_selector if {
	selected := {"selector": {"matchLabels": {"app": "api"}}, "rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]}
	count(messages([fixtures.authz("istio-system", "p", selected)])) == 1
	elsewhere := object.union(selected, {"selector": {"matchLabels": {"app": "web"}}})
	prod_only := fixtures.workload("a", "web", {"app": "web"}, {})
	count(messages([prod_only, fixtures.authz("istio-system", "p", elsewhere)])) == 0
}

test_without_sandbox_or_production_services if {
	policy := fixtures.authz("s", "p", {"rules": [{}]})
	count(sandbox.findings) == 0 with input as fixtures.mesh([policy])
	only_sandbox := {"service-s": services["service-s"]}
	count(sandbox.findings) == 0 with input as fixtures.mesh_with([policy], only_sandbox)
}

test_many_production_namespaces_are_summed_up if {
	many := {sprintf("p%d", [i]): fixtures.service("standard", [sprintf("p%d", [i])]) | some i in numbers.range(1, 5)}
	some f in sandbox.findings with input as fixtures.mesh_with(
		[fixtures.authz("s", "p", {"rules": [{}]})],
		object.union(many, {"service-s": services["service-s"]}),
	)
	contains(f.message, "production namespaces (p1, p2, p3 and 2 more)")
}
