package promote.gates.freeze_test

import data.promote.gates.fixtures
import data.promote.gates.freeze

window(active) := {
	"name": "year-end",
	"reason": "holidays",
	"timezone": "Europe/Berlin",
	"weekly": false,
	"active": active,
	"start": "2026-12-19T23:00:00Z",
	"end": "2027-01-03T23:00:00Z",
}

test_no_window_allows if {
	count(freeze.findings) == 0 with input as fixtures.base
}

test_closed_window_allows if {
	count(freeze.findings) == 0 with input as fixtures.patched("/freeze", [window(false)])
}

test_open_window_denies if {
	freeze.findings == {{
		"rule": "freeze",
		"severity": "error",
		"resource": "target",
		"message": "change freeze \"year-end\" (holidays) is open until 2027-01-03T23:00:00Z (Europe/Berlin); wait, or break glass with a recorded reason",
	}} with input as fixtures.patched("/freeze", [window(true)])
}

test_break_glass_warns if {
	doc := json.patch(fixtures.base, [
		{"op": "add", "path": "/freeze", "value": [window(true)]},
		{"op": "add", "path": "/break_glass", "value": "INC-1234: payment outage fix"},
	])
	freeze.findings == {{
		"rule": "freeze",
		"severity": "warning",
		"resource": "target",
		"message": "change freeze \"year-end\" is open until 2027-01-03T23:00:00Z, overridden by break-glass: INC-1234: payment outage fix",
	}} with input as doc
}

test_break_glass_outside_a_window_is_silent if {
	count(freeze.findings) == 0 with input as fixtures.patched("/break_glass", "not needed")
}
