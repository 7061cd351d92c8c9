package promote.gates.fixtures

# base is a gate input that every shipped policy allows: api, with a mesh
# directory, entering the protected production from staging, 45 minutes
# after it succeeded there, of a 30-minute soak, with a verified chain
# holding a passed mesh check.
base := {
	"version": 1,
	"now": "2026-12-03T10:45:00Z",
	"target": {
		"repository": "acme/app",
		"service": "api",
		"environment": "production",
		"github_environment": "production",
		"node": "api@production",
		"commit": "0123456789abcdef0123456789abcdef01234567",
		"run_id": 7,
		"actor": "alice",
	},
	"service": {"name": "api", "compliance": "standard", "depends_on": [], "mesh": "services/api/mesh"},
	"environment": {"name": "production", "protected": true, "previous": "staging", "order": ["dev", "staging", "production"]},
	"plan": {"included": true, "excluded": "", "needs": [], "requires": "api@staging"},
	"previous": {
		"environment": "staging",
		"github_environment": "staging",
		"node": "api@staging",
		"succeeded": true,
		"succeeded_at": "2026-12-03T10:00:00Z",
		"source": {"github": true},
		"deployments": [{"id": 1, "environment": "staging", "state": "success", "state_at": "2026-12-03T10:00:00Z", "created_at": "2026-12-03T09:55:00Z", "succeeded_at": "2026-12-03T10:00:00Z", "url": "https://github.com/acme/app/deployments/staging"}],
		"promotions": [],
	},
	"soak": {"required_seconds": 1800, "elapsed_seconds": 2700, "ready_at": "2026-12-03T10:30:00Z"},
	"freeze": [],
	"github": {"checked": true, "error": "", "run": null, "approvals": [], "pending": []},
	"evidence": {
		"configured": true,
		"verified": true,
		"error": "",
		"records": 3,
		"commit": [],
		"mesh_check": {"seq": 2, "key": "records/00000000000000000002.dsse.json", "kind": "mesh-check", "node": "api@staging", "service": "api", "environment": "staging", "outcome": "passed", "finished_at": "2026-12-03T09:50:00Z"},
	},
	"break_glass": "",
	"links": {},
}

# patched(path, value) is base with the value at path (an array of keys)
# replaced.
patched(path, value) := json.patch(base, [{"op": "add", "path": path, "value": value}])
