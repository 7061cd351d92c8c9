// Package githubtest runs an in-memory GitHub REST API on loopback (or over
// in-memory connections) for tests, benchmarks and `make demo`. It serves one repository and answers the
// deployment, deployment status, environment, workflow, workflow run, job,
// pending deployment and rate limit endpoints Promote uses, in the shapes of
// GitHub's OpenAPI description (the subset in shared/github-rest), with
// GitHub's error bodies, pagination Link headers, ETags and x-ratelimit-*
// headers.
//
// A dispatched workflow run is simulated, not executed: its status is computed
// from the server's Clock and the run's script, so a test with a manual or
// a scaled clock (package clock) sees the same sequence of states every time, without
// goroutines. A run is queued for RunScript.QueueDelay, then waits while its
// environment's protection rules hold it (required reviewers approve through
// POST …/pending_deployments or the function given to SetApprover, and a wait
// timer runs from the moment the run starts waiting), then is in progress for
// RunScript.Duration and completes with RunScript.Conclusion.
//
// Tests that assert on simulated durations run the server with
// Options.InMemory inside a testing/synctest bubble, on the default real
// clock: requests then travel over in-memory pipes, on which a waiting
// goroutine counts as durably blocked, so the bubble's fake clock advances
// only when the client, the server and the code under test are all waiting,
// and every duration comes out exact on a machine of any speed. The
// scaled clock (simulated minutes in real milliseconds) remains for
// benchmarks and the demo, where a slow scheduler stretches simulated time.
//
// Faults (5xx, secondary rate limits, latency, and connections dropped before
// or after the request was handled) are drawn from Options.Seed, the route and
// the route's call index, so the same seed gives every route the same fault
// sequence.
//
// # Where the fake differs from GitHub
//
//   - Every request needs an Authorization header ("Bearer X" or "token X");
//     without one the answer is 401, where GitHub would serve a public
//     repository anonymously.
//   - Creating a deployment with auto_merge true (GitHub's default) for a ref
//     other than the default branch answers 409 "Conflict merging main into
//     X.": the fake cannot merge, and a client that forgets auto_merge=false
//     should find out in tests. It never answers 202 (merged). A non-empty
//     required_contexts answers 409 because the fake has no commit statuses;
//     an omitted or empty one passes.
//   - A run's job that names an environment creates no Deployment object, as
//     with `environment: {name: X, deployment: false}`; so approving a pending
//     deployment answers 200 with an empty list.
//   - A rejected review completes the run with conclusion "failure" (GitHub:
//     "If a job is rejected, the workflow will fail"). Cancelling completes a
//     run at once, where GitHub passes through a short cancelling phase.
//   - Only a required reviewer of the environment may review a pending
//     deployment (422 otherwise), as on GitHub. An environment with
//     Protection.CustomRule holds a run until Options.App, and only it,
//     answers its rule; the run is then listed by …/pending_deployments
//     like one waiting on reviewers. The fake sends no webhooks:
//     ProtectionRuleEvent builds the deployment_protection_rule payload for
//     the test to deliver. Reviews of a rule on an environment without
//     CustomRule are recorded but gate nothing.
//   - POST /app/installations/{id}/access_tokens checks the App's JWT
//     (RS256, issuer, expiry, at most ten minutes) and mints a token that
//     expires after an hour of the server's clock; GET
//     /repos/{owner}/{repo}/installation is not served.
//   - A wait timer is kept at the precision it was given and rendered in whole
//     minutes, rounded up, where GitHub only accepts minutes.
//   - Error bodies have GitHub's shape (message, documentation_url, status).
//     Messages seen from GitHub are copied: "Not Found", "Requires
//     authentication", "Bad credentials", "Problems parsing JSON",
//     "Invalid request.\n\n\"ref\" wasn't supplied.", "Unexpected inputs
//     provided: [...]", "No ref found for: X", "Cannot cancel a workflow run
//     that is completed." and the two rate limit messages. Others (a refused
//     review, an invalid environment, the enum and type complaints) are
//     modelled on them, and may differ from GitHub's word for word.
//   - Of the secondary limits, only the ones on content-creating requests
//     are enforced: 80 a minute and 500 an hour (Options.WritesPerMinute,
//     WritesPerHour), counted on every write (POST, PATCH, PUT, DELETE) by
//     the time it arrives, refused attempts included, where GitHub documents
//     the numbers but not which writes count. Concurrency and the points per
//     minute are not counted; inject such refusals as faults. Every request
//     that gets past authentication counts against the primary limit, faults
//     and 404s included, except GET /rate_limit and 304 answers.
//   - html_url values point at the fake's own host, which serves no HTML.
package githubtest
