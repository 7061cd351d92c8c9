# METADATA
# title: The evidence chain verifies
# description: |
#   The gate believes evidence only from a chain whose every signature,
#   link, sequence number and checkpoint verifies. A chain that does not
#   verify denies; no evidence store configured only warns, since then
#   nothing can be checked.
#
#   To fix a finding, run `promote evidence verify` and repair what it
#   reports, or add an `evidence:` section to promotion.yaml.
# custom:
#   rule: chain-verified
#   severity: error
package promote.gates.chain

findings contains f if {
	input.evidence.configured
	not input.evidence.verified
	f := {
		"rule": "chain-verified",
		"severity": "error",
		"resource": "chain",
		"message": sprintf("%s; the gate trusts no record of it", [input.evidence.error]),
	}
}

findings contains f if {
	not input.evidence.configured
	f := {
		"rule": "chain-verified",
		"severity": "warning",
		"resource": "target",
		"message": "no evidence store is configured, so no evidence was checked; add an evidence section to promotion.yaml",
	}
}
