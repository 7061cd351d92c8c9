# METADATA
# title: Sandbox services are isolated from production
# description: |
#   A service whose compliance is `sandbox` must not be reachable from the
#   production namespaces: the namespaces of every other service of the
#   manifest (compliance `standard` or `regulated`). An ALLOW
#   AuthorizationPolicy that applies to a sandbox namespace is a finding when
#   one of its rules can match a caller from a production namespace: through
#   `namespaces`, a principal `*/ns/NAMESPACE/sa/*`, a wildcard, or no `from`
#   at all. Policies in the root namespace count for the sandbox workloads
#   they apply to.
#
#   To fix a finding, name only sandbox or non-production namespaces in
#   `from.source.namespaces` or `from.source.principals`, or exclude the
#   production namespaces with `notNamespaces`.
# custom:
#   rule: sandbox-isolation
#   severity: error
package promote.mesh.sandbox

import data.promote.mesh.istio

services := object.get(input, "services", {})

sandbox_namespaces := {ns |
	some s in services
	s.compliance == "sandbox"
	some ns in s.namespaces
}

production_namespaces := {ns |
	some s in services
	s.compliance != "sandbox"
	some ns in s.namespaces
}

# sandbox_services[ns] names the sandbox services of namespace ns.
sandbox_services := {ns: names |
	some ns in sandbox_namespaces
	names := {name |
		some name, s in services
		s.compliance == "sandbox"
		some x in s.namespaces
		ns = x
	}
}

# reaches_sandbox(p) is the set of sandbox namespaces that policy p applies
# to.
reaches_sandbox(p) := {istio.namespace(p)} if {
	istio.namespace(p) in sandbox_namespaces
} else := {ns |
	istio.namespace(p) == istio.root_namespace
	some ns in sandbox_namespaces
	some w in istio.workloads_by_namespace[ns]
	istio.selects(p, w)
}

findings contains f if {
	count(sandbox_namespaces) > 0
	count(production_namespaces) > 0
	some p in istio.authorization_policies
	istio.action(p) == "ALLOW"
	reached := reaches_sandbox(p)
	count(reached) > 0
	some i, rule in istio.list(istio.spec(p), "rules")
	is_object(rule)
	admitted := istio.admitted(rule, production_namespaces)
	count(admitted) > 0
	f := {
		"rule": "sandbox-isolation",
		"severity": "error",
		"resource": p.id,
		"message": sprintf(
			"%s: rule %d lets production namespaces (%s) reach sandbox service %s; name only non-production callers in from.source, or exclude production with notNamespaces",
			[istio.name(p), i, first_names(admitted), concat(", ", sort({s | some ns in reached; some s in sandbox_services[ns]}))],
		),
	}
}

# first_names(s) lists the first three members of s, and how many others
# there are.
first_names(s) := concat(", ", sort(s)) if {
	count(s) <= 3
} else := sprintf("%s and %d more", [concat(", ", array.slice(sort(s), 0, 3)), count(s) - 3])
