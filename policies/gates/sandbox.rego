# METADATA
# title: Sandbox services never enter protected environments
# description: |
#   A service whose `compliance` is `sandbox` is never promoted into an
#   environment with `protected: true` (promotion.yaml); the plan excludes
#   such nodes, and the gate refuses them wherever they come from.
#
#   To fix a finding, raise the service's compliance to `standard` or
#   `regulated` once it is ready for production.
# custom:
#   rule: sandbox
#   severity: error
package promote.gates.sandbox

findings contains f if {
	input.service.compliance == "sandbox"
	input.environment.protected
	f := {
		"rule": "sandbox",
		"severity": "error",
		"resource": "target",
		"message": sprintf("%s is a sandbox service and %s is a protected environment; raise its compliance to standard or regulated to promote it there", [input.target.service, input.target.environment]),
	}
}
