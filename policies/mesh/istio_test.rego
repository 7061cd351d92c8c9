package promote.mesh.istio_test

import data.promote.mesh.fixtures
import data.promote.mesh.istio

test_string_match if {
	istio.string_match("*", "anything")
	istio.string_match("a", "a")
	istio.string_match("prod-*", "prod-eu")
	istio.string_match("*-eu", "prod-eu")
	not istio.string_match("a", "b")
	not istio.string_match("prod-*", "dev-eu")
	not istio.string_match("*-eu", "prod-us")
}

test_principal_namespace if {
	istio.principal_namespace("cluster.local/ns/a/sa/api") == "a"
	istio.principal_namespace("*/ns/a/sa/api") == "a"
	istio.principal_namespace("cluster.local/ns/ns/sa/sa") == "ns"
	istio.principal_namespace("cluster.local/ns/prod-*") == "prod-*"
	not istio.principal_namespace("*")
	not istio.principal_namespace("cluster.local/*")
	not istio.principal_namespace("*/sa/api")
}

test_principal_in if {
	istio.principal_in("cluster.local/ns/a/sa/api", "a")
	istio.principal_in("*", "a")
	istio.principal_in("cluster.local/*", "a")
	istio.principal_in("*/sa/api", "a")
	istio.principal_in("cluster.local/ns/*", "a")
	istio.principal_in("cluster.local/ns/a*", "ab")
	not istio.principal_in("cluster.local/ns/a/sa/api", "b")
	not istio.principal_in("not-a-spiffe-id", "a")
}

test_principal_matches_all if {
	istio.principal_matches_all("*")
	istio.principal_matches_all("cluster.local/*")
	istio.principal_matches_all("cluster.local/ns/*")
	istio.principal_matches_all("clu*")
	not istio.principal_matches_all("cluster.local/ns/a/*")
	not istio.principal_matches_all("other.local/*")
	not istio.principal_matches_all("*/sa/api")
}

test_rule_admits if {
	istio.rule_admits({}, "a")
	istio.rule_admits({"from": []}, "a")
	istio.rule_admits({"from": [{"source": {"namespaces": ["a"]}}]}, "a")
	not istio.rule_admits({"from": [{"source": {"namespaces": ["a"]}}]}, "b")
	not istio.rule_admits({"from": [{"source": {"notNamespaces": ["a"]}}]}, "a")
	istio.rule_admits({"from": [{"source": {"notNamespaces": ["a"]}}]}, "b")
	not istio.rule_admits({"from": [{"source": {"namespaces": ["a"], "principals": ["cluster.local/ns/b/sa/x"]}}]}, "a")
	istio.rule_admits({"from": [{"source": {"requestPrincipals": ["issuer/subject"]}}]}, "a")
	not istio.rule_admits({"when": [{"key": "source.namespace", "values": ["b"]}]}, "a")
	not istio.rule_admits({"when": [{"key": "source.namespace", "notValues": ["a"]}]}, "a")
	istio.rule_admits({"when": [{"key": "request.headers[x]", "values": ["y"]}]}, "a")
}

test_admits_outside if {
	istio.admits_outside({}, {"monitoring"})
	not istio.admits_outside({"from": [{"source": {"namespaces": ["monitoring"]}}]}, {"monitoring"})
	istio.admits_outside({"from": [{"source": {"namespaces": ["mon*"]}}]}, {"monitoring"})
	istio.admits_outside({"from": [{"source": {"namespaces": ["*ing"]}}]}, {"monitoring"})
	not istio.admits_outside({"from": [{"source": {"namespaces": ["mon*"], "notNamespaces": ["mon*"]}}]}, {"monitoring"})
}

test_admitted if {
	namespaces := {"a", "ab", "b"}
	istio.admitted({}, namespaces) == namespaces
	istio.admitted({"from": [{"source": {"namespaces": ["a*"]}}]}, namespaces) == {"a", "ab"}
	istio.admitted({"from": [{"source": {"namespaces": ["b", "c"]}}]}, namespaces) == {"b"}
	istio.admitted({"from": [{"source": {"notNamespaces": ["a"]}}]}, namespaces) == {"ab", "b"}
	istio.admitted({"from": [{"source": {"namespaces": ["c"]}}]}, namespaces) == set()
}

test_operation_reaches if {
	istio.operation_reaches({}, "15090", "/stats/prometheus")
	istio.operation_reaches({"ports": ["15090"]}, "15090", "/x")
	istio.operation_reaches({"ports": [15090]}, "15090", "/x")
	not istio.operation_reaches({"ports": ["8080"]}, "15090", "/x")
	not istio.operation_reaches({"notPorts": ["15090"]}, "15090", "/x")
	not istio.operation_reaches({"paths": ["/api/*"]}, "15090", "/stats/prometheus")
	istio.operation_reaches({"paths": ["/stats/*"]}, "15090", "/stats/prometheus")
	istio.operation_reaches({"paths": ["/{**}"]}, "15090", "/stats/prometheus")
	not istio.operation_reaches({"notPaths": ["/stats*"]}, "15090", "/stats/prometheus")
	istio.operation_reaches({"methods": ["POST"]}, "15090", "/x")
}

test_scopes if {
	ns_wide := fixtures.authz("a", "p", {})
	selective := fixtures.authz("a", "p", {"selector": {"matchLabels": {"app": "api"}}})
	targeted := fixtures.authz("a", "p", {"targetRef": {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}})
	mesh := fixtures.authz("istio-system", "p", {})
	istio.namespace_wide(ns_wide)
	istio.namespace_wide(fixtures.authz("a", "p", {"selector": {}}))
	not istio.namespace_wide(selective)
	not istio.namespace_wide(targeted)
	istio.mesh_wide(mesh) with input as fixtures.mesh([])
	not istio.mesh_wide(ns_wide) with input as fixtures.mesh([])
}

test_applies_to if {
	api := fixtures.deployment("a", "api")
	istio.applies_to(fixtures.authz("a", "p", {}), api) with input as fixtures.mesh([])
	istio.applies_to(fixtures.authz("a", "p", {"selector": {"matchLabels": {"app": "api"}}}), api) with input as fixtures.mesh([])
	istio.applies_to(fixtures.authz("istio-system", "p", {}), api) with input as fixtures.mesh([])
	istio.applies_to(fixtures.authz("istio-system", "p", {"selector": {"matchLabels": {"app": "api"}}}), api) with input as fixtures.mesh([])
	not istio.applies_to(fixtures.authz("b", "p", {}), api) with input as fixtures.mesh([])
	not istio.applies_to(fixtures.authz("a", "p", {"selector": {"matchLabels": {"app": "web"}}}), api) with input as fixtures.mesh([])
	not istio.applies_to(fixtures.authz("a", "p", {"selector": {"matchLabels": {"app": "api", "tier": "x"}}}), api) with input as fixtures.mesh([])
}

test_policy_workloads if {
	resources := [
		fixtures.deployment("a", "api"),
		fixtures.deployment("a", "web"),
		fixtures.deployment("b", "api"),
	]
	ids(istio.policy_workloads(fixtures.authz("a", "p", {}))) == {"Deployment/a/api", "Deployment/a/web"} with input as fixtures.mesh(resources)
	ids(istio.policy_workloads(fixtures.authz("istio-system", "p", {"selector": {"matchLabels": {"app": "api"}}}))) == {"Deployment/a/api", "Deployment/b/api"} with input as fixtures.mesh(resources)
	ids(istio.policy_workloads(fixtures.authz("c", "p", {}))) == set() with input as fixtures.mesh(resources)
}

ids(resources) := {r.id | some r in resources}

test_indexes if {
	resources := [
		fixtures.deployment("a", "api"),
		fixtures.resource("StatefulSet", "a", "db", {}),
		fixtures.resource("Service", "c", "api", {}),
		fixtures.authz("b", "p", {}),
	]
	istio.workload_namespaces == {"a"} with input as fixtures.mesh(resources)
	ids(istio.workloads_by_namespace.a) == {"Deployment/a/api", "StatefulSet/a/db"} with input as fixtures.mesh(resources)
	istio.namespace_anchor == {"a": "Deployment/a/api"} with input as fixtures.mesh(resources)
	ids(istio.authorization_policies_by_namespace.b) == {"AuthorizationPolicy/b/p"} with input as fixtures.mesh(resources)
}

test_config_defaults if {
	istio.root_namespace == "istio-system" with input as {"resources": []}
	istio.trust_domain == "cluster.local" with input as {"resources": []}
	istio.monitoring_namespaces == set() with input as {"resources": []}
}

test_spec_and_list_defaults if {
	istio.spec({}) == {}
	istio.spec({"spec": null}) == {}
	istio.list({}, "rules") == []
	istio.list({"rules": null}, "rules") == []
	istio.list({"rules": [1]}, "rules") == [1]
	istio.action({"spec": {}}) == "ALLOW"
	istio.action({"spec": {"action": "DENY"}}) == "DENY"
}
