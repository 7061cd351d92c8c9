# METADATA
# title: No promotion during a change freeze, except by break-glass
# description: |
#   While one of the environment's `gate.freeze` windows (promotion.yaml) is
#   open, in its own time zone, promotions into the environment are denied.
#   An explicit break-glass reason (`promote gate check --break-glass
#   REASON`) turns the denial into a warning, and the reason is sealed with
#   the decision. A denial ends by itself when the window closes.
#
#   To fix a finding, wait for the window to close, or break glass with a
#   reason an auditor will accept.
# custom:
#   rule: freeze
#   severity: error
package promote.gates.freeze

findings contains f if {
	some w in input.freeze
	w.active
	input.break_glass == ""
	f := {
		"rule": "freeze",
		"severity": "error",
		"resource": "target",
		"message": sprintf("change freeze %q%s is open until %s (%s); wait, or break glass with a recorded reason", [w.name, reason(w), w.end, w.timezone]),
	}
}

findings contains f if {
	some w in input.freeze
	w.active
	input.break_glass != ""
	f := {
		"rule": "freeze",
		"severity": "warning",
		"resource": "target",
		"message": sprintf("change freeze %q is open until %s, overridden by break-glass: %s", [w.name, w.end, input.break_glass]),
	}
}

reason(w) := sprintf(" (%s)", [w.reason]) if w.reason != ""

else := ""
