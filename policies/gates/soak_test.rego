package promote.gates.soak_test

import data.promote.gates.fixtures
import data.promote.gates.soak

test_soaked_allows if {
	count(soak.findings) == 0 with input as fixtures.base
}

test_exactly_soaked_allows if {
	count(soak.findings) == 0 with input as fixtures.patched("/soak/elapsed_seconds", 1800)
}

test_still_soaking_denies if {
	soak.findings == {{
		"rule": "soak",
		"severity": "error",
		"resource": "previous",
		"message": "api has soaked in staging for 29m59s of 30m; it may enter production at 2026-12-03T10:30:00Z",
	}} with input as fixtures.patched("/soak/elapsed_seconds", 1799)
}

test_not_succeeded_is_left_to_previous if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/previous/succeeded", "value": false},
		{"op": "add", "path": "/soak/elapsed_seconds", "value": 0},
	])
	soak.findings == {{
		"rule": "soak",
		"severity": "note",
		"resource": "previous",
		"message": "not judged: the 30m soak in staging starts once api succeeds there",
	}} with input as doc
}

test_no_soak_required if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/soak/required_seconds", "value": 0},
		{"op": "add", "path": "/soak/elapsed_seconds", "value": 0},
	])
	count(soak.findings) == 0 with input as doc
}
