# METADATA
# title: Only main is promoted to production
# custom:
#   rule: main-only
#   severity: error
package promote.gates.mainonly

findings contains f if {
	input.target.environment == "production"
	run := input.github.run
	run != null
	run.head_branch != "main"
	f := {
		"rule": "main-only",
		"severity": "error",
		"resource": "run",
		"message": sprintf("run %d is on %s; promote to production from main", [run.id, run.head_branch]),
	}
}
