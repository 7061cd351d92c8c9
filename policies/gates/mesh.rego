# METADATA
# title: The mesh check passed for this commit
# description: |
#   A service with Istio YAML (`mesh:` in promotion.yaml) enters an
#   environment only when the evidence chain holds a `passed` mesh-check
#   record of the service for this commit (`promote mesh check --evidence
#   ENV`). Without an evidence store there is nothing to check: the
#   chain-verified policy warns about that.
#
#   To fix a finding, run `promote mesh check --evidence ENV` on the commit
#   and fix what it reports.
# custom:
#   rule: mesh-check
#   severity: error
package promote.gates.mesh

import data.promote.gates.lib

findings contains f if {
	input.service.mesh != ""
	input.evidence.verified
	input.evidence.mesh_check == null
	f := {
		"rule": "mesh-check",
		"severity": "error",
		"resource": "commit",
		"message": sprintf("no mesh check of %s is sealed for commit %s; run promote mesh check --evidence on it", [input.target.service, lib.short_commit]),
	}
}

findings contains f if {
	input.service.mesh != ""
	input.evidence.verified
	m := input.evidence.mesh_check
	m != null
	m.outcome != "passed"
	f := {
		"rule": "mesh-check",
		"severity": "error",
		"resource": "mesh_check",
		"message": sprintf("the mesh check of %s for commit %s %s (record %d); fix its findings and check again", [input.target.service, lib.short_commit, m.outcome, m.seq]),
	}
}

findings contains f if {
	input.service.mesh != ""
	not input.evidence.verified
	f := {
		"rule": "mesh-check",
		"severity": "note",
		"resource": "target",
		"message": sprintf("not judged: no verified evidence chain to find the mesh check of %s in", [input.target.service]),
	}
}
