package promote.gates.chain_test

import data.promote.gates.chain
import data.promote.gates.fixtures

test_verified_allows if {
	count(chain.findings) == 0 with input as fixtures.base
}

test_broken_denies if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/evidence/verified", "value": false},
		{"op": "add", "path": "/evidence/error", "value": "the evidence does not verify: records/00000000000000000002.dsse.json (seq 2): bad signature"},
	])
	chain.findings == {{
		"rule": "chain-verified",
		"severity": "error",
		"resource": "chain",
		"message": "the evidence does not verify: records/00000000000000000002.dsse.json (seq 2): bad signature; the gate trusts no record of it",
	}} with input as doc
}

test_unconfigured_warns if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/evidence/configured", "value": false},
		{"op": "add", "path": "/evidence/verified", "value": false},
	])
	some f in chain.findings with input as doc
	f.severity == "warning"
	count(chain.findings) == 1 with input as doc
}
