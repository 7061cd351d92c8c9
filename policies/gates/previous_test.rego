package promote.gates.previous_test

import data.promote.gates.fixtures
import data.promote.gates.previous

test_succeeded_allows if {
	count(previous.findings) == 0 with input as fixtures.base
}

test_first_environment_allows if {
	count(previous.findings) == 0 with input as fixtures.patched("/previous", null)
}

test_not_succeeded_denies if {
	doc := fixtures.patched("/previous/succeeded", false)
	some f in previous.findings with input as doc
	f.rule == "previous-succeeded"
	f.severity == "error"
	f.resource == "previous"
	f.message == "api has not succeeded in staging for commit 0123456789ab (1 deployments to staging, the newest success); promote it there first"
}

test_no_deployments if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/previous/succeeded", "value": false},
		{"op": "add", "path": "/previous/deployments", "value": []},
	])
	previous.findings == {{
		"rule": "previous-succeeded",
		"severity": "error",
		"resource": "previous",
		"message": "api has not succeeded in staging for commit 0123456789ab; promote it there first",
	}} with input as doc
}

test_github_error_is_named if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/previous/succeeded", "value": false},
		{"op": "add", "path": "/github/error", "value": "401 Bad credentials"},
	])
	some f in previous.findings with input as doc
	contains(f.message, "(GitHub could not be read: 401 Bad credentials)")
}

test_failed_promotion_is_named if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/previous/succeeded", "value": false},
		{"op": "add", "path": "/previous/deployments", "value": []},
		{"op": "add", "path": "/previous/promotions", "value": [{"seq": 4, "key": "records/00000000000000000004.dsse.json", "outcome": "failed", "finished_at": "2026-12-03T10:00:00Z"}]},
	])
	some f in previous.findings with input as doc
	f.message == "api has not succeeded in staging for commit 0123456789ab (its last promotion record, 4, failed); promote it there first"
}

test_deployment_without_status if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/previous/succeeded", "value": false},
		{"op": "add", "path": "/previous/deployments/0/state", "value": ""},
	])
	some f in previous.findings with input as doc
	contains(f.message, "(1 deployments to staging, the newest without a status)")
}
