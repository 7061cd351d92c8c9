package promote.gates.sandbox_test

import data.promote.gates.fixtures
import data.promote.gates.sandbox

test_standard_allows if {
	count(sandbox.findings) == 0 with input as fixtures.base
}

test_sandbox_into_protected_denies if {
	sandbox.findings == {{
		"rule": "sandbox",
		"severity": "error",
		"resource": "target",
		"message": "api is a sandbox service and production is a protected environment; raise its compliance to standard or regulated to promote it there",
	}} with input as fixtures.patched("/service/compliance", "sandbox")
}

test_sandbox_into_unprotected_allows if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/service/compliance", "value": "sandbox"},
		{"op": "add", "path": "/environment/protected", "value": false},
	])
	count(sandbox.findings) == 0 with input as doc
}
