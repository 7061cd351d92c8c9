package promote.gates.mainonly_test

import data.promote.gates.mainonly

run(branch) := {"target": {"environment": "production"}, "github": {"run": {"id": 7, "head_branch": branch}}}

test_main_allows if {
	count(mainonly.findings) == 0 with input as run("main")
}

test_feature_branch_denies if {
	some f in mainonly.findings with input as run("feature")
	f.message == "run 7 is on feature; promote to production from main"
}
