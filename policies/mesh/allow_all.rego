# METADATA
# title: No policy allows every caller
# description: |
#   An ALLOW AuthorizationPolicy must name who may call: a rule that matches
#   every source and every operation undoes deny-by-default for everything
#   the policy applies to. Such a rule is an empty rule (`- {}`), a rule
#   without `from` and without `to`, or one whose source is only
#   `principals: ["*"]` (or `cluster.local/*`) or `namespaces: ["*"]`. A rule
#   with a `when` condition, with `notPrincipals` or `notNamespaces`, or
#   whose `to` restricts ports, methods, paths or hosts is not a finding.
#
#   To fix a finding, name the callers in `from.source.principals`
#   (`cluster.local/ns/NAMESPACE/sa/SERVICE_ACCOUNT`) or
#   `from.source.namespaces`, or remove the rule.
# custom:
#   rule: no-allow-all
#   severity: error
package promote.mesh.allow_all

import data.promote.mesh.istio

findings contains f if {
	some p in istio.authorization_policies
	istio.action(p) == "ALLOW"
	some i, rule in istio.list(istio.spec(p), "rules")
	is_object(rule)
	every_source(rule)
	every_operation(rule)
	count(istio.list(rule, "when")) == 0
	f := {
		"rule": "no-allow-all",
		"severity": "error",
		"resource": p.id,
		"message": sprintf(
			"%s: rule %d allows every caller (%s); name the callers in from.source.principals or from.source.namespaces, or remove the rule",
			[istio.name(p), i, why(rule)],
		),
	}
}

every_source(rule) if count(istio.list(rule, "from")) == 0

every_source(rule) if {
	some f in istio.list(rule, "from")
	src := object.get(f, "source", {})
	every key, value in src {
		open_source_field(key, value)
	}
}

# open_source_field: a source field that does not narrow the callers.
open_source_field(_, value) if value == []

open_source_field("principals", value) if {
	some p in value
	istio.principal_matches_all(p)
}

open_source_field("namespaces", value) if "*" in value

every_operation(rule) if count(istio.list(rule, "to")) == 0

every_operation(rule) if {
	some t in istio.list(rule, "to")
	op := object.get(t, "operation", {})
	every key, value in op {
		open_operation_field(key, value)
	}
}

# open_operation_field: an operation field that does not narrow the
# requests.
open_operation_field(_, value) if value == []

open_operation_field(key, value) if {
	key in {"hosts", "methods", "paths"}
	"*" in value
}

why(rule) := "an empty rule" if {
	rule == {}
} else := "no from and no to" if {
	count(istio.list(rule, "from")) == 0
	count(istio.list(rule, "to")) == 0
} else := "no from" if {
	count(istio.list(rule, "from")) == 0
} else := "a source that matches everyone"
