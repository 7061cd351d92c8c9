// Package policies holds the organisation policies that ship inside Promote,
// written in Rego. The policy engine (internal/policy) evaluates them in
// process together with the policies a repository adds with --policy.
//
// mesh/ holds the policies of `promote mesh check`: one package
// promote.mesh.<name> per rule, each with its OPA tests in a *_test.rego file
// beside it, and the shared library promote.mesh.istio. See docs/policies.md.
//
// gates/ holds the policies of `promote gate check`, packages
// promote.gates.<name> over the gate input (schema/gate-input.schema.json),
// with their tests and the library promote.gates.lib. See docs/gates.md.
package policies

import "embed"

// FS holds every file of mesh/ and gates/, tests included, so that the tests can run
// from the binary's own copy; the engine skips *_test.rego when it evaluates.
//
//go:embed mesh/*.rego gates/*.rego
var FS embed.FS
