# METADATA
# title: The commit soaked long enough in the previous environment
# description: |
#   After the commit succeeded in the previous environment, it must stay
#   there for the environment's `gate.soak` (promotion.yaml) before it
#   enters this one. A denial ends by itself at `soak.ready_at`: a
#   protection-rule server decides again then.
#
#   To fix a finding, wait; or lower `gate.soak` in the manifest.
# custom:
#   rule: soak
#   severity: error
package promote.gates.soak

import data.promote.gates.lib

findings contains f if {
	p := input.previous
	p != null
	p.succeeded
	input.soak.elapsed_seconds < input.soak.required_seconds
	f := {
		"rule": "soak",
		"severity": "error",
		"resource": "previous",
		"message": sprintf("%s has soaked in %s for %s of %s; it may enter %s at %s", [
			input.target.service, p.environment,
			lib.duration(input.soak.elapsed_seconds), lib.duration(input.soak.required_seconds),
			input.target.environment, input.soak.ready_at,
		]),
	}
}

findings contains f if {
	p := input.previous
	p != null
	not p.succeeded
	input.soak.required_seconds > 0
	f := {
		"rule": "soak",
		"severity": "note",
		"resource": "previous",
		"message": sprintf("not judged: the %s soak in %s starts once %s succeeds there", [lib.duration(input.soak.required_seconds), p.environment, input.target.service]),
	}
}
