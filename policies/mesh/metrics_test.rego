package promote.mesh.metrics_test

import data.promote.mesh.fixtures
import data.promote.mesh.metrics

# api announces metrics on port 9102 at the default path.
api := fixtures.workload("b", "api", {"app": "api"}, {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"})

# plain announces no metrics port of its own.
plain := fixtures.workload("b", "plain", {"app": "plain"}, {})

allow(rules) := fixtures.authz("b", "p", {"rules": rules})

from_a := [{"source": {"namespaces": ["a"]}}]

# messages are the messages of the findings for resources.
messages(resources) := msgs if {
	msgs := {f.message | some f in metrics.findings} with input as fixtures.mesh(resources)
}

# exposed(resources) is the ports named in the single finding for resources.
exposed(resources) := ports if {
	msgs := messages(resources)
	count(msgs) == 1
	some m in msgs
	ports := regex.find_all_string_submatch_n(`metrics ports ([0-9, ]+) of`, m, 1)[0][1]
}

test_any_port_from_another_namespace if {
	exposed([api, allow([{"from": from_a}])]) == "9102, 15020, 15090"
	exposed([plain, allow([{"from": from_a}])]) == "15020, 15090"
}

test_finding if {
	some f in metrics.findings with input as fixtures.mesh([api, allow([{"from": from_a}])])
	f.rule == "metrics-from-monitoring"
	f.severity == "error"
	f.resource == "AuthorizationPolicy/b/p"
	contains(f.message, "AuthorizationPolicy b/p: rule 0 lets callers outside the monitoring namespaces (monitoring) reach metrics ports")
	contains(f.message, "of Deployment b/api;")
}

test_service_ports_only if {
	count(messages([api, allow([{"from": from_a, "to": [{"operation": {"ports": ["8080"]}}]}])])) == 0
	count(messages([api, allow([{"from": from_a, "to": [{"operation": {"ports": [8080]}}]}])])) == 0
}

test_listed_metrics_port if {
	exposed([api, allow([{"from": from_a, "to": [{"operation": {"ports": ["8080", "15090"]}}]}])]) == "15090"
	exposed([api, allow([{"from": from_a, "to": [{"operation": {"ports": ["9102"]}}]}])]) == "9102"
	exposed([api, allow([{"from": from_a, "to": [{"operation": {"ports": [9102]}}]}])]) == "9102"
}

test_excluded_ports if {
	rule := {"from": from_a, "to": [{"operation": {"notPorts": ["15020", 15090]}}]}
	count(messages([plain, allow([rule])])) == 0
	exposed([api, allow([rule])]) == "9102"
}

test_paths if {
	# The application serves its API and its metrics on one port.
	shared := fixtures.workload("b", "api", {"app": "api"}, {"prometheus.io/port": "8080", "prometheus.io/path": "/stats"})
	only_api := {"from": from_a, "to": [{"operation": {"ports": ["8080"], "paths": ["/api/*"]}}]}
	count(messages([shared, allow([only_api])])) == 0
	exposed([shared, allow([{"from": from_a, "to": [{"operation": {"ports": ["8080"], "paths": ["/st*"]}}]}])]) == "8080"
	exposed([shared, allow([{"from": from_a, "to": [{"operation": {"ports": ["8080"], "paths": ["/{*}"]}}]}])]) == "8080"
	count(messages([shared, allow([{"from": from_a, "to": [{"operation": {"ports": ["8080"], "notPaths": ["/stats"]}}]}])])) == 0
}

test_monitoring_sources if {
	count(messages([api, allow([{"from": [{"source": {"namespaces": ["monitoring"]}}]}])])) == 0
	count(messages([api, allow([{"from": [{"source": {"principals": ["cluster.local/ns/monitoring/sa/prometheus"]}}]}])])) == 0
	count(messages([api, allow([{"from": [{"source": {"principals": ["*/ns/monitoring/sa/*"]}}]}])])) == 0
	count(messages([api, allow([{"from": [{"source": {"namespaces": ["monitoring"], "principals": ["*"]}}]}])])) == 0
	count(messages([api, allow([{"when": [{"key": "source.namespace", "values": ["monitoring"]}]}])])) == 0
	count(messages([api, allow([{"when": [{"key": "source.principal", "values": ["cluster.local/ns/monitoring/sa/prometheus"]}]}])])) == 0
}

test_sources_outside_monitoring if {
	count(messages([api, allow([{"from": [{"source": {"namespaces": ["monitoring", "a"]}}]}])])) == 1
	count(messages([api, allow([{"from": [{"source": {"namespaces": ["monitoring"]}}, {"source": {"namespaces": ["a"]}}]}])])) == 1
	count(messages([api, allow([{"from": [{"source": {"namespaces": ["monitor*"]}}]}])])) == 1
	count(messages([api, allow([{"from": [{"source": {"principals": ["cluster.local/ns/*"]}}]}])])) == 1
	count(messages([api, allow([{"from": [{"source": {"notNamespaces": ["a"]}}]}])])) == 1
	count(messages([api, allow([{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]}])])) == 1
	count(messages([api, allow([{"when": [{"key": "source.namespace", "notValues": ["a"]}]}])])) == 1
	count(messages([api, allow([{}])])) == 1
}

test_monitoring_namespaces_from_config if {
	resources := [api, allow([{"from": from_a}])]
	doc := object.union(fixtures.mesh(resources), {"config": {"monitoring_namespaces": ["a"]}})
	count(metrics.findings) == 0 with input as doc

	none := object.union(fixtures.mesh([api, allow([{"from": [{"source": {"namespaces": ["monitoring"]}}]}])]), {"config": {"monitoring_namespaces": []}})
	some f in metrics.findings with input as none
	contains(f.message, "outside the monitoring namespaces (none configured)")
}

guard(spec) := fixtures.authz("b", "guard", object.union({"action": "DENY"}, spec))

deny_outsiders(ports) := {"from": [{"source": {"notNamespaces": ["monitoring"]}}], "to": [{"operation": {"ports": ports}}]}

test_deny_policy_guards_the_ports_it_lists if {
	guarded := guard({"rules": [deny_outsiders(["15020", "15090"])]})
	count(messages([plain, guarded, allow([{"from": from_a}])])) == 0
	exposed([api, guarded, allow([{"from": from_a}])]) == "9102"
	count(messages([api, guard({"rules": [deny_outsiders(["15020", "15090", "9102"])]}), allow([{"from": from_a}])])) == 0
}

test_deny_policy_without_to_guards_every_port if {
	count(messages([api, guard({"rules": [{"from": [{"source": {"notNamespaces": ["monitoring"]}}]}]}), allow([{"from": from_a}])])) == 0
}

test_deny_policy_on_the_metrics_path if {
	shared := fixtures.workload("b", "api", {"app": "api"}, {"prometheus.io/port": "8080"})
	rule := {"from": [{"source": {"notNamespaces": ["monitoring"]}}], "to": [{"operation": {"ports": ["8080"], "paths": ["/metrics"]}}]}
	exposed([shared, guard({"rules": [rule]}), allow([{"from": from_a}])]) == "15020, 15090"
	other_path := json.patch(rule, [{"op": "replace", "path": "/to/0/operation/paths", "value": ["/other"]}])
	exposed([shared, guard({"rules": [other_path]}), allow([{"from": from_a}])]) == "8080, 15020, 15090"
}

test_deny_policies_that_do_not_guard if {
	allowed := allow([{"from": from_a}])
	rules := [
		# lets namespace a through
		{"from": [{"source": {"notNamespaces": ["monitoring", "a"]}}], "to": [{"operation": {"ports": ["15020", "15090"]}}]},
		# narrowed by method
		{"from": [{"source": {"notNamespaces": ["monitoring"]}}], "to": [{"operation": {"ports": ["15020", "15090"], "methods": ["POST"]}}]},
		# narrowed by another source field
		{"from": [{"source": {"notNamespaces": ["monitoring"], "ipBlocks": ["10.0.0.0/8"]}}], "to": [{"operation": {"ports": ["15020", "15090"]}}]},
		# narrowed by a condition
		{"from": [{"source": {"notNamespaces": ["monitoring"]}}], "to": [{"operation": {"ports": ["15020", "15090"]}}], "when": [{"key": "request.headers[x]", "values": ["y"]}]},
		# empty notNamespaces
		{"from": [{"source": {"notNamespaces": []}}], "to": [{"operation": {"ports": ["15020", "15090"]}}]},
	]
	every rule in rules {
		exposed([plain, guard({"rules": [rule]}), allowed]) == "15020, 15090"
	}

	# An ALLOW policy is no guard, and is itself a finding.
	count(messages([plain, guard({"action": "ALLOW", "rules": [deny_outsiders(["15020", "15090"])]}), allowed])) == 2
	exposed([plain, guard({"selector": {"matchLabels": {"app": "other"}}, "rules": [deny_outsiders(["15020", "15090"])]}), allowed]) == "15020, 15090"
}

test_deny_policy_that_selects_the_workload if {
	guarded := guard({"selector": {"matchLabels": {"app": "plain"}}, "rules": [deny_outsiders(["15020", "15090"])]})
	count(messages([plain, guarded, allow([{"from": from_a}])])) == 0
}

test_mesh_wide_deny_policy if {
	guarded := fixtures.authz("istio-system", "guard", {"action": "DENY", "rules": [deny_outsiders(["15020", "15090"])]})
	count(messages([plain, guarded, allow([{"from": from_a}])])) == 0
}

test_allow_policy_that_selects_no_workload if {
	selective := fixtures.authz("b", "p", {"selector": {"matchLabels": {"app": "other"}}, "rules": [{"from": from_a}]})
	count(messages([api, selective])) == 0
	count(messages([allow([{"from": from_a}])])) == 0
}

test_allow_policy_that_selects_the_workload if {
	selective := fixtures.authz("b", "p", {"selector": {"matchLabels": {"app": "api"}}, "rules": [{"from": from_a}]})
	exposed([api, plain, selective]) == "9102, 15020, 15090"
}

test_mesh_wide_allow_policy if {
	mesh_wide := fixtures.authz("istio-system", "p", {"rules": [{"from": from_a}]})
	msgs := messages([api, fixtures.deployment("c", "web"), mesh_wide])
	count(msgs) == 1
	some m in msgs
	contains(m, "of Deployment b/api and 1 other workloads;")
}

test_allow_nothing_and_targeted_policies if {
	count(messages([api, fixtures.authz("b", "allow-nothing", {})])) == 0
	targeted := fixtures.authz("b", "p", {"targetRefs": [{"kind": "Service", "group": "", "name": "api"}], "rules": [{"from": from_a}]})
	count(messages([api, targeted])) == 0
}

test_one_finding_per_rule if {
	msgs := messages([api, allow([{"from": from_a, "to": [{"operation": {"ports": ["8080"]}}]}, {"from": from_a}])])
	count(msgs) == 1
	some m in msgs
	contains(m, "rule 1 lets")
}
