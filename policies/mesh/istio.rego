# METADATA
# title: Istio semantics for mesh policies
# description: |
#   The library the shipped policies share, and that your own policies may
#   import: the configuration with its defaults, the resources indexed by
#   kind and namespace, and how Istio applies a policy to workloads and a
#   rule to callers. It defines no findings, so it is not a rule itself.
package promote.mesh.istio

# Configuration, with the defaults Istio itself uses.

default root_namespace := "istio-system"

root_namespace := input.config.root_namespace

monitoring_namespaces := {ns | some ns in input.config.monitoring_namespaces}

default trust_domain := "cluster.local"

trust_domain := input.config.trust_domain

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Job"}

# Indexes. Every index is a complete rule, so it is built once per
# evaluation. Its inner comprehension selects by equality with the outer
# key, which lets OPA index it (comprehension indexing) and keeps the index
# linear in the number of resources.

kinds := {r.kind | some r in input.resources}

# resources_by_kind[kind] lists the resources of a kind, in input order.
resources_by_kind := {kind: rs |
	some kind in kinds
	rs := [r | some r in input.resources; kind = r.kind]
}

workloads := [w | some kind in workload_kinds; some w in object.get(resources_by_kind, kind, [])]

authorization_policies := object.get(resources_by_kind, "AuthorizationPolicy", [])

peer_authentications := object.get(resources_by_kind, "PeerAuthentication", [])

# workload_namespaces are the namespaces that have at least one workload.
workload_namespaces := {namespace(w) | some w in workloads}

workloads_by_namespace := {ns: ws |
	some ns in workload_namespaces
	ws := [w | some w in workloads; ns = w.metadata.namespace]
}

authorization_namespaces := {namespace(p) | some p in authorization_policies}

authorization_policies_by_namespace := {ns: ps |
	some ns in authorization_namespaces
	ps := [p | some p in authorization_policies; ns = p.metadata.namespace]
}

# namespace_anchor[ns] is the id of the workload that findings about
# namespace ns as a whole are attached to: the first one by file, so that
# the choice does not depend on the order of input.resources.
namespace_anchor := {ns: anchor |
	some ns, ws in workloads_by_namespace
	anchor := min({[object.get(w, "file", ""), w.id] | some w in ws})[1]
}

# Reading resources.

namespace(r) := r.metadata.namespace

# spec(r) is r's spec, {} when absent or null (Istio reads both as empty).
default spec(_) := {}

spec(r) := r.spec if is_object(r.spec)

# list(obj, key) is obj[key] when it is a list, [] otherwise: Istio treats an
# absent list and an empty one alike.
default list(_, _) := []

list(obj, key) := obj[key] if is_array(obj[key])

# name(r) names r in messages: "Kind namespace/name".
name(r) := sprintf("%s %s/%s", [r.kind, namespace(r), r.metadata.name])

# action(p) is an AuthorizationPolicy's action; absent means ALLOW.
action(p) := object.get(spec(p), "action", "ALLOW")

default match_labels(_) := {}

match_labels(r) := labels if {
	labels := spec(r).selector.matchLabels
	is_object(labels)
}

# targeted(r): r attaches to Services or Gateways (targetRef, targetRefs)
# instead of selecting workloads.
targeted(r) if object.get(spec(r), "targetRef", null) != null

targeted(r) if count(list(spec(r), "targetRefs")) > 0

# namespace_wide(r): r applies to every workload of its namespace (no
# selector, or one with no labels, and no target).
namespace_wide(r) if {
	count(match_labels(r)) == 0
	not targeted(r)
}

# mesh_wide(r): r is namespace-wide in the root namespace, so it applies to
# the whole mesh.
mesh_wide(r) if {
	namespace_wide(r)
	namespace(r) == root_namespace
}

default pod_labels(_) := {}

pod_labels(w) := labels if {
	labels := w.spec.template.metadata.labels
	is_object(labels)
}

default pod_annotations(_) := {}

pod_annotations(w) := annotations if {
	annotations := w.spec.template.metadata.annotations
	is_object(annotations)
}

# selects(r, w): policy r selects workload w by labels, or is namespace-wide.
# It does not look at namespaces; applies_to does.
selects(r, _) if namespace_wide(r)

selects(r, w) if {
	labels := match_labels(r)
	count(labels) > 0
	not targeted(r)
	pod := pod_labels(w)
	every k, v in labels {
		pod[k] == v
	}
}

# applies_to(r, w): policy r applies to workload w. A policy in the root
# namespace applies in every namespace, narrowed by its selector.
applies_to(r, w) if {
	namespace(r) in {namespace(w), root_namespace}
	selects(r, w)
}

# policy_workloads(r) lists the workloads that policy r applies to.
policy_workloads(r) := [w | some w in workloads; selects(r, w)] if {
	namespace(r) == root_namespace
} else := [w | some w in workloads_by_namespace[namespace(r)]; selects(r, w)]

# Matching callers.

# string_match(pattern, s) is Istio's string match: exact, "*", a prefix
# ("abc*") or a suffix ("*abc").
string_match("*", _) := true

string_match(pattern, s) if pattern == s

string_match(pattern, s) if {
	endswith(pattern, "*")
	startswith(s, trim_suffix(pattern, "*"))
}

string_match(pattern, s) if {
	startswith(pattern, "*")
	endswith(s, trim_prefix(pattern, "*"))
}

# principal_namespace(p) is the namespace part of principal pattern p
# ("TRUST_DOMAIN/ns/NS/sa/SA"), itself a pattern; undefined when p names no
# namespace ("*", "cluster.local/*", "*/sa/x").
principal_namespace(p) := parts[2] if {
	parts := split(p, "/")
	count(parts) >= 3
	parts[1] == "ns"
}

# principal_in(p, ns): principal pattern p can match an identity of
# namespace ns. A wildcard pattern that names no namespace matches every
# namespace; an exact principal that is not of the SPIFFE form matches none.
principal_in(p, ns) if string_match(principal_namespace(p), ns)

principal_in(p, _) if {
	not principal_namespace(p)
	contains(p, "*")
}

# principal_matches_all(p): p matches every identity of the mesh's trust
# domain ("*", "cluster.local/*", "cluster.local/ns/*", ...).
principal_matches_all("*") := true

principal_matches_all(p) if {
	endswith(p, "*")
	startswith(concat("", [trust_domain, "/ns/"]), trim_suffix(p, "*"))
}

# rule_admits(rule, ns): an AuthorizationPolicy rule can match a request
# from a workload of namespace ns. It reads the sources' namespaces,
# notNamespaces and principals and the when conditions on source.namespace
# and source.principal; every other field (ipBlocks, requestPrincipals,
# notPrincipals, other conditions) is taken to admit the caller, so the
# answer errs on the side of "admits". It assumes STRICT mTLS, under which
# every caller has an identity, so notNamespaces does exclude namespaces.
rule_admits(rule, ns) if {
	sources_admit(list(rule, "from"), ns)
	every c in list(rule, "when") {
		condition_admits(c, ns)
	}
}

sources_admit(from, _) if count(from) == 0

sources_admit(from, ns) if {
	some f in from
	source_admits(object.get(f, "source", {}), ns)
}

source_admits(src, ns) if {
	patterns_admit(list(src, "namespaces"), ns)
	not any_match(list(src, "notNamespaces"), ns)
	principals_admit(list(src, "principals"), ns)
}

patterns_admit(patterns, _) if count(patterns) == 0

patterns_admit(patterns, ns) if any_match(patterns, ns)

any_match(patterns, s) if {
	some p in patterns
	string_match(p, s)
}

principals_admit(principals, _) if count(principals) == 0

principals_admit(principals, ns) if {
	some p in principals
	principal_in(p, ns)
}

condition_admits(c, _) if not object.get(c, "key", "") in {"source.namespace", "source.principal"}

condition_admits(c, ns) if {
	c.key == "source.namespace"
	patterns_admit(list(c, "values"), ns)
	not any_match(list(c, "notValues"), ns)
}

condition_admits(c, ns) if {
	c.key == "source.principal"
	principals_admit(list(c, "values"), ns)
}

# other_namespace stands for a namespace that a rule names nowhere; it is not
# a valid namespace name, so it never equals a real one.
other_namespace := ".other"

# namespace_patterns(rule) are the namespace patterns a rule names in its
# sources and source conditions.
namespace_patterns(rule) := union({namespaces, principals, conditions}) if {
	sources := [object.get(f, "source", {}) | some f in list(rule, "from")]
	namespaces := {p | some src in sources; some p in list(src, "namespaces")}
	principals := {p |
		some src in sources
		some principal in list(src, "principals")
		p := principal_namespace(principal)
	}
	conditions := {p | some c in list(rule, "when"); some p in condition_patterns(c)}
}

condition_patterns(c) := list(c, "values") if c.key == "source.namespace"

condition_patterns(c) := {p |
	some principal in list(c, "values")
	p := principal_namespace(principal)
} if {
	c.key == "source.principal"
}

# witness(pattern) is a namespace that pattern matches, chosen not to equal a
# namespace named elsewhere unless pattern names it exactly.
witness("*") := other_namespace

witness(p) := concat("", [trim_suffix(p, "*"), other_namespace]) if {
	p != "*"
	endswith(p, "*")
}

witness(p) := concat("", [other_namespace, trim_prefix(p, "*")]) if {
	p != "*"
	startswith(p, "*")
	not endswith(p, "*")
}

witness(p) := p if not contains(p, "*")

# admits_outside(rule, namespaces): rule can match a request from a
# namespace that is not in the set namespaces. Only the namespaces a rule
# names, plus one it does not name, need to be tried.
admits_outside(rule, namespaces) if {
	candidates := {other_namespace} | {witness(p) | some p in namespace_patterns(rule)}
	some ns in candidates
	not ns in namespaces
	rule_admits(rule, ns)
}

# admitted(rule, namespaces) is the subset of namespaces that rule can match
# requests from. Only the namespaces the rule names are tried, unless it
# admits one it does not name.
admitted(rule, namespaces) := union({named, matched, others}) if {
	patterns := namespace_patterns(rule)
	named := {p |
		some p in patterns
		not contains(p, "*")
		p in namespaces
		rule_admits(rule, p)
	}
	matched := {ns |
		some p in patterns
		contains(p, "*")
		some ns in namespaces
		string_match(p, ns)
		rule_admits(rule, ns)
	}
	others := {ns |
		rule_admits(rule, other_namespace)
		some ns in namespaces
		rule_admits(rule, ns)
	}
}

# Matching operations.

# ports(list) normalises ports to strings (Istio's form), so that a port
# written as a number still compares.
ports(l) := {sprintf("%v", [p]) | some p in l}

# operation_reaches(op, port, path): an operation can match an HTTP request
# to path on port. Paths with templates ("{*}", "{**}") are taken to match.
operation_reaches(op, port, path) if {
	ports_admit(list(op, "ports"), port)
	not port in ports(list(op, "notPorts"))
	paths_admit(list(op, "paths"), path)
	not any_match(list(op, "notPaths"), path)
}

ports_admit(l, _) if count(l) == 0

ports_admit(l, port) if port in ports(l)

paths_admit(l, _) if count(l) == 0

paths_admit(l, path) if any_match(l, path)

paths_admit(l, _) if {
	some p in l
	contains(p, "{")
}

# rule_reaches(rule, port, path): a rule's operations can match a request to
# path on port.
rule_reaches(rule, _, _) if count(list(rule, "to")) == 0

rule_reaches(rule, port, path) if {
	some t in list(rule, "to")
	operation_reaches(object.get(t, "operation", {}), port, path)
}
