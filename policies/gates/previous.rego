# METADATA
# title: The previous environment succeeded for the same commit
# description: |
#   A commit enters an environment only after the same service succeeded
#   with the same commit in the environment before it, as GitHub's
#   Deployments (a `success` status) or the evidence chain (a `succeeded`
#   promotion record) show, and did not fail there since (a Deployment whose
#   latest status is `failure` or `error`, a `failed` promotion record).
#   The first environment has no previous one.
#
#   To fix a finding, promote the commit through the previous environment
#   first (`promote run --to PREVIOUS`).
# custom:
#   rule: previous-succeeded
#   severity: error
package promote.gates.previous

import data.promote.gates.lib

findings contains f if {
	p := input.previous
	p != null
	not p.succeeded
	f := {
		"rule": "previous-succeeded",
		"severity": "error",
		"resource": "previous",
		"message": sprintf("%s has not succeeded in %s for commit %s%s; promote it there first", [input.target.service, p.environment, lib.short_commit, seen(p)]),
	}
}

# seen(p) says what was looked at, so a reviewer knows why nothing counted.
seen(p) := sprintf(" (GitHub could not be read: %s)", [input.github.error]) if {
	input.github.error != ""
} else := sprintf(" (%d deployments to %s, the newest %s)", [count(p.deployments), p.github_environment, state(p.deployments[0])]) if {
	count(p.deployments) > 0
} else := sprintf(" (its last promotion record, %d, %s)", [last.seq, last.outcome]) if {
	count(p.promotions) > 0
	last := p.promotions[count(p.promotions) - 1]
} else := ""

# state(d) says how GitHub's deployment d stands.
state(d) := d.state if d.state != ""

else := "without a status"
