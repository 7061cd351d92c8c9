// Package policies holds the organisation policies that ship inside Promote,
// written in Rego. The policy engine (internal/policy) evaluates them in
// process together with the policies a repository adds with --policy.
//
// mesh/ holds the policies of `promote mesh check`: one package
// promote.mesh.<name> per rule, each with its OPA tests in a *_test.rego file
// beside it, and the shared library promote.mesh.istio. See docs/policies.md.
package policies

import "embed"

// FS holds every file of mesh/, tests included, so that the tests can run
// from the binary's own copy; the engine skips *_test.rego when it evaluates.
//
//go:embed mesh/*.rego
var FS embed.FS
