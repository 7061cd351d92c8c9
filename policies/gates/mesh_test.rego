package promote.gates.mesh_test

import data.promote.gates.fixtures
import data.promote.gates.mesh

test_passed_allows if {
	count(mesh.findings) == 0 with input as fixtures.base
}

test_missing_denies if {
	mesh.findings == {{
		"rule": "mesh-check",
		"severity": "error",
		"resource": "commit",
		"message": "no mesh check of api is sealed for commit 0123456789ab; run promote mesh check --evidence on it",
	}} with input as fixtures.patched("/evidence/mesh_check", null)
}

test_failed_denies if {
	some f in mesh.findings with input as fixtures.patched("/evidence/mesh_check/outcome", "failed")
	f.resource == "mesh_check"
	f.message == "the mesh check of api for commit 0123456789ab failed (record 2); fix its findings and check again"
}

test_service_without_mesh if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/service/mesh", "value": ""},
		{"op": "add", "path": "/evidence/mesh_check", "value": null},
	])
	count(mesh.findings) == 0 with input as doc
}

test_unverified_chain_is_left_to_chain if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/evidence/verified", "value": false},
		{"op": "add", "path": "/evidence/mesh_check", "value": null},
	])
	mesh.findings == {{
		"rule": "mesh-check",
		"severity": "note",
		"resource": "target",
		"message": "not judged: no verified evidence chain to find the mesh check of api in",
	}} with input as doc
}
