package promote.mesh.allow_all_test

import data.promote.mesh.allow_all
import data.promote.mesh.fixtures

# messages are the messages of the findings for one ALLOW policy in
# namespace a with rules.
messages(rules) := msgs if {
	msgs := {f.message |
		some f in allow_all.findings
		f.resource == "AuthorizationPolicy/a/p"
	} with input as fixtures.mesh([fixtures.authz("a", "p", {"rules": rules})])
}

allows_all(rule) if count(messages([rule])) == 1

test_empty_rule if {
	some m in messages([{}])
	contains(m, "AuthorizationPolicy a/p: rule 0 allows every caller (an empty rule)")
}

test_rule_without_from_and_to if {
	allows_all({"from": [], "to": []})
	some m in messages([{"from": []}])
	contains(m, "(no from and no to)")
}

test_wildcard_sources if {
	allows_all({"from": [{"source": {"principals": ["*"]}}]})
	allows_all({"from": [{"source": {"namespaces": ["*"]}}]})
	allows_all({"from": [{"source": {"principals": ["cluster.local/*"]}}]})
	allows_all({"from": [{"source": {"principals": ["cluster.local/ns/*"]}}]})
	allows_all({"from": [{"source": {"principals": ["*"], "namespaces": ["*"]}}]})
	allows_all({"from": [{"source": {}}]})
	allows_all({"from": [{}]})
	allows_all({"from": [{"source": {"namespaces": ["a"]}}, {"source": {"principals": ["*"]}}]})
}

test_wildcard_source_message if {
	some m in messages([{"from": [{"source": {"principals": ["*"]}}]}])
	contains(m, "(a source that matches everyone)")
}

test_open_operations if {
	allows_all({"to": [{"operation": {}}]})
	allows_all({"to": [{"operation": {"paths": ["*"], "methods": ["*"], "hosts": ["*"]}}]})
	allows_all({"to": [{"operation": {"ports": ["8080"]}}, {"operation": {}}]})
}

test_restricted_rules if {
	count(messages([{"from": [{"source": {"principals": ["cluster.local/ns/b/sa/api"]}}]}])) == 0
	count(messages([{"from": [{"source": {"principals": ["*"], "namespaces": ["b"]}}]}])) == 0
	count(messages([{"from": [{"source": {"namespaces": ["*"], "ipBlocks": ["10.0.0.0/8"]}}]}])) == 0
	count(messages([{"from": [{"source": {"notNamespaces": ["b"]}}]}])) == 0
	count(messages([{"from": [{"source": {"requestPrincipals": ["*"]}}]}])) == 0
	count(messages([{"from": [{"source": {"principals": ["other.local/*"]}}]}])) == 0
	count(messages([{"to": [{"operation": {"ports": ["8080"]}}]}])) == 0
	count(messages([{"to": [{"operation": {"methods": ["GET"]}}]}])) == 0
	count(messages([{"to": [{"operation": {"paths": ["*"], "notPaths": ["/admin"]}}]}])) == 0
	count(messages([{"when": [{"key": "request.auth.claims[iss]", "values": ["https://issuer"]}]}])) == 0
}

test_only_the_open_rule_is_reported if {
	msgs := messages([{"from": [{"source": {"namespaces": ["b"]}}]}, {}])
	count(msgs) == 1
	some m in msgs
	contains(m, "rule 1 allows every caller")
}

test_other_actions_are_not_findings if {
	resources := [
		fixtures.authz("a", "deny", {"action": "DENY", "rules": [{}]}),
		fixtures.authz("a", "audit", {"action": "AUDIT", "rules": [{}]}),
		fixtures.authz("a", "allow-nothing", {}),
	]
	count(allow_all.findings) == 0 with input as fixtures.mesh(resources)
}

test_explicit_allow_action if {
	resources := [fixtures.authz("a", "p", {"action": "ALLOW", "rules": [{}]})]
	some f in allow_all.findings with input as fixtures.mesh(resources)
	f == {
		"rule": "no-allow-all",
		"severity": "error",
		"resource": "AuthorizationPolicy/a/p",
		"message": "AuthorizationPolicy a/p: rule 0 allows every caller (an empty rule); name the callers in from.source.principals or from.source.namespaces, or remove the rule",
	}
}

test_trust_domain_from_config if {
	resources := [fixtures.authz("a", "p", {"rules": [{"from": [{"source": {"principals": ["corp.example/*"]}}]}]})]
	doc := object.union(fixtures.mesh(resources), {"config": {"trust_domain": "corp.example"}})
	count(allow_all.findings) == 1 with input as doc
}
