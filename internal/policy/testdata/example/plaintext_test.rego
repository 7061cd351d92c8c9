package promote.mesh.plaintext_test

import data.promote.mesh.plaintext

rule(mode) := {
	"id": "7",
	"kind": "DestinationRule",
	"metadata": {"name": "db", "namespace": "shop"},
	"spec": {"host": "db.shop.svc.cluster.local", "trafficPolicy": {"tls": {"mode": mode}}},
}

test_disable_is_a_finding if {
	some f in plaintext.findings with input as {"resources": [rule("DISABLE")]}
	f.resource == "7"
	f.rule == "no-plaintext-upstream"
}

test_mutual_tls_is_fine if {
	count(plaintext.findings) == 0 with input as {"resources": [rule("ISTIO_MUTUAL")]}
}
