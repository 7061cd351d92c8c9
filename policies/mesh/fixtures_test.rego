# Builders of input documents for the policies' tests.
package promote.mesh.fixtures

config := {
	"root_namespace": "istio-system",
	"monitoring_namespaces": ["monitoring"],
	"trust_domain": "cluster.local",
}

# mesh(resources) is an input document without a manifest.
mesh(resources) := {"resources": resources, "services": {}, "config": config}

# mesh_with(resources, services) is an input document with manifest services.
mesh_with(resources, services) := {"resources": resources, "services": services, "config": config}

api_versions := {
	"AuthorizationPolicy": "security.istio.io/v1",
	"PeerAuthentication": "security.istio.io/v1",
	"Deployment": "apps/v1",
	"StatefulSet": "apps/v1",
	"Service": "v1",
}

# resource builds a resource whose id is "Kind/namespace/name".
resource(kind, ns, name, spec) := {
	"id": sprintf("%s/%s/%s", [kind, ns, name]),
	"apiVersion": api_versions[kind],
	"kind": kind,
	"metadata": {"name": name, "namespace": ns, "labels": {}, "annotations": {}},
	"spec": spec,
	"file": sprintf("services/%s/mesh/%s.yaml", [ns, name]),
	"service": ns,
}

# workload is a Deployment whose pod template has labels and annotations.
workload(ns, name, labels, annotations) := resource("Deployment", ns, name, {
	"selector": {"matchLabels": labels},
	"template": {"metadata": {"labels": labels, "annotations": annotations}},
})

# deployment is a Deployment labelled app: name.
deployment(ns, name) := workload(ns, name, {"app": name}, {})

authz(ns, name, spec) := resource("AuthorizationPolicy", ns, name, spec)

peer(ns, name, spec) := resource("PeerAuthentication", ns, name, spec)

# service(compliance, namespaces) is a manifest service.
service(compliance, namespaces) := {"compliance": compliance, "mesh": "services/x/mesh", "namespaces": namespaces}
