# METADATA
# title: No plaintext to upstreams
# description: |
#   A DestinationRule must not turn TLS off towards its host. To fix a
#   finding, remove spec.trafficPolicy.tls or set its mode to ISTIO_MUTUAL.
# custom:
#   rule: no-plaintext-upstream
#   severity: error
package promote.mesh.plaintext

findings contains f if {
	some r in input.resources
	r.kind == "DestinationRule"
	r.spec.trafficPolicy.tls.mode == "DISABLE"
	f := {
		"rule": "no-plaintext-upstream",
		"message": sprintf("traffic to %s is plaintext; remove spec.trafficPolicy.tls or set its mode to ISTIO_MUTUAL", [r.spec.host]),
		"resource": r.id,
	}
}
