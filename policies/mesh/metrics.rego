# METADATA
# title: Metrics only from the monitoring namespaces
# description: |
#   Metrics endpoints answer only the monitoring namespaces
#   (`monitoring_namespaces` in the configuration). A workload's metrics
#   endpoints are the sidecar's, ports 15020 and 15090 at /stats/prometheus,
#   and the one its pod template announces with the annotations
#   `prometheus.io/port` and `prometheus.io/path` (default /metrics).
#
#   An ALLOW rule is a finding when it applies to a workload, can match a
#   caller outside the monitoring namespaces, and can match a request to one
#   of that workload's metrics endpoints: its `to` does not restrict ports,
#   or lists a metrics port, and does not restrict paths to exclude the
#   metrics path. A DENY policy that applies to the workload and denies the
#   endpoint to every other namespace clears the finding: a rule whose
#   source is only `notNamespaces` listing monitoring namespaces, without
#   `when`, whose `to` is absent or has only `ports` including the port and
#   `paths` including the metrics path.
#
#   To fix a finding, list the service's own ports in
#   `to.operation.ports`, limit `from` to the monitoring namespaces, or, when
#   the application serves metrics on its service port, add:
#
#   ```yaml
#   apiVersion: security.istio.io/v1
#   kind: AuthorizationPolicy
#   metadata: {name: metrics-only-from-monitoring, namespace: my-namespace}
#   spec:
#     action: DENY
#     rules:
#     - from: [{source: {notNamespaces: [monitoring]}}]
#       to: [{operation: {ports: ["15020", "15090", "8080"]}}]
#   ```
# custom:
#   rule: metrics-from-monitoring
#   severity: error
package promote.mesh.metrics

import data.promote.mesh.istio

sidecar_endpoints := {["15020", "/stats/prometheus"], ["15090", "/stats/prometheus"]}

# endpoints(w) are workload w's metrics endpoints, as [port, path].
endpoints(w) := sidecar_endpoints | {[port, path] |
	annotations := istio.pod_annotations(w)
	port := sprintf("%v", [annotations["prometheus.io/port"]])
	path := object.get(annotations, "prometheus.io/path", "/metrics")
}

deny_policies := [p |
	some p in istio.authorization_policies
	istio.action(p) == "DENY"
	not istio.targeted(p)
]

deny_namespaces := {istio.namespace(p) | some p in deny_policies}

deny_policies_by_namespace := {ns: ps |
	some ns in deny_namespaces
	ps := [p | some p in deny_policies; ns = p.metadata.namespace]
}

# guarded(w, port, path): a DENY policy keeps every caller outside the
# monitoring namespaces away from w's endpoint.
guarded(w, port, path) if {
	some ns in {istio.namespace(w), istio.root_namespace}
	some p in deny_policies_by_namespace[ns]
	istio.selects(p, w)
	some rule in istio.list(istio.spec(p), "rules")
	count(istio.list(rule, "when")) == 0
	denies_outsiders(rule)
	denies_endpoint(rule, port, path)
}

denies_outsiders(rule) if {
	some f in istio.list(rule, "from")
	src := object.get(f, "source", {})
	object.keys(src) == {"notNamespaces"}
	count(src.notNamespaces) > 0
	every ns in src.notNamespaces {
		ns in istio.monitoring_namespaces
	}
}

denies_endpoint(rule, _, _) if count(istio.list(rule, "to")) == 0

denies_endpoint(rule, port, path) if {
	some t in istio.list(rule, "to")
	op := object.get(t, "operation", {})
	every key in object.keys(op) {
		key in {"ports", "paths"}
	}
	istio.ports_admit(istio.list(op, "ports"), port)
	denied_path(istio.list(op, "paths"), path)
}

denied_path(paths, _) if count(paths) == 0

denied_path(paths, path) if istio.any_match(paths, path)

findings contains f if {
	some p in istio.authorization_policies
	istio.action(p) == "ALLOW"
	not istio.targeted(p)
	some i, rule in istio.list(istio.spec(p), "rules")
	is_object(rule)
	istio.admits_outside(rule, istio.monitoring_namespaces)
	exposed := {[istio.name(w), port] |
		some w in istio.policy_workloads(p)
		some [port, path] in endpoints(w)
		istio.rule_reaches(rule, port, path)
		not guarded(w, port, path)
	}
	count(exposed) > 0
	exposed_ports := {port | some [_, port] in exposed}
	exposed_workloads := {w | some [w, _] in exposed}
	f := {
		"rule": "metrics-from-monitoring",
		"severity": "error",
		"resource": p.id,
		"message": sprintf(
			"%s: rule %d lets callers outside the monitoring namespaces (%s) reach metrics ports %s of %s; restrict to.operation.ports to the service ports, admit only the monitoring namespaces in from, or guard the metrics ports with a DENY policy with notNamespaces",
			[istio.name(p), i, names(istio.monitoring_namespaces), port_list(exposed_ports), some_of(exposed_workloads)],
		),
	}
}

# port_list lists ports in numeric order: shorter first, then by digits.
port_list(ports) := concat(", ", [p | some [_, p] in sort({[count(p), p] | some p in ports})])

names(s) := "none configured" if {
	count(s) == 0
} else := concat(", ", sort(s))

# some_of(s) names the first member of s, and how many others there are.
some_of(s) := sorted[0] if {
	sorted := sort(s)
	count(sorted) == 1
} else := sprintf("%s and %d other workloads", [sort(s)[0], count(s) - 1])
