# METADATA
# description: Helpers the gate policies share.
package promote.gates.lib

# short_commit is the target commit's first 12 hex digits.
short_commit := substring(input.target.commit, 0, 12)

# duration(s) writes a number of seconds as 1h2m3s, leaving out zero parts.
duration(s) := "0s" if {
	s <= 0
} else := concat("", [part | some [n, unit] in [[floor(s / 3600), "h"], [floor((s % 3600) / 60), "m"], [s % 60, "s"]]; n > 0; part := sprintf("%d%s", [n, unit])])
