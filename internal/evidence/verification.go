package evidence

import "time"

// Verification is the outcome of one post-deploy check of a promotion: the
// v2 predicate's "verification" entries.
type Verification struct {
	// Name is the check's name in the manifest; a re-run during the next
	// environment's soak is named "soak/<name>".
	Name string `json:"name"`
	// Type is http, prometheus, command or workflow.
	Type string `json:"type"`
	// Outcome is passed or failed.
	Outcome  string `json:"outcome"`
	Attempts int    `json:"attempts"`
	// LastValue is what the last attempt saw: a status code, a query's
	// value, a command's last line, a run's conclusion.
	LastValue string `json:"last_value,omitempty"`
	// Message says why the check failed, or how it passed.
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// The outcomes of a Verification.
const (
	VerificationPassed = "passed"
	VerificationFailed = "failed"
)

// Rollback marks a promotion record as a rollback: its commit is the one it
// returned to, FromCommit the one that failed.
type Rollback struct {
	FromCommit string `json:"from_commit"`
	Reason     string `json:"reason"`
	// Manual is true for promote rollback, false for an automatic one.
	Manual bool `json:"manual"`
}
