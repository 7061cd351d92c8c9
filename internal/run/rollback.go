package run

import (
	"cmp"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
)

// RollbackRecord is the promotion record of a failed node's rollback, when
// one deployed: its commit is the one it returned to, and its rollback
// field names the commit that failed and why.
func RollbackRecord(failed evidence.Record, rb *Rollback) (evidence.Record, bool) {
	if rb == nil || rb.Result == RollbackNotPossible || rb.ToCommit == "" {
		return evidence.Record{}, false
	}
	r := failed
	r.Commit = rb.ToCommit
	r.DeploymentID = rb.DeploymentID
	r.WorkflowRunURL = cmp.Or(failed.WorkflowRunURL, rb.RunURL)
	r.Approvers = []string{}
	r.Outcome = string(Failed)
	if rb.Result == RollbackSucceeded {
		r.Outcome = string(Succeeded)
	}
	r.Attempts = 1
	r.StartedAt, r.FinishedAt = rb.StartedAt, rb.FinishedAt
	r.QueuedAt = rb.StartedAt
	r.ApprovalWait, r.APIRequests = 0, 0
	// The commit time KPIs read is that of the commit promoted; a
	// rollback's is older and unknown here.
	r.CommitTime = time.Time{}
	r.Verification = rb.Verification
	r.Rollback = &evidence.Rollback{FromCommit: failed.Commit, Reason: cmp.Or(rb.Reason, "the promotion failed"), Manual: rb.Manual}
	return r, true
}
