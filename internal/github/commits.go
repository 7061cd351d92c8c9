package github

import (
	"context"
	"fmt"
	"time"
)

// CommitTime returns the committer date of a commit (a SHA, branch or
// tag), from GET /repos/{owner}/{repo}/commits/{ref}: for a checkout that
// lacks the commit, such as a shallow clone of another ref. Asking again
// costs a 304 through the ETag cache, free of rate limit.
func (c *Client) CommitTime(ctx context.Context, ref string) (time.Time, error) {
	commit, _, err := c.GH.Repositories.GetCommit(ctx, c.Owner, c.Repo, ref, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("get commit %s: %w", ref, err)
	}
	date := commit.GetCommit().GetCommitter().GetDate()
	if date.IsZero() {
		return time.Time{}, fmt.Errorf("get commit %s: GitHub gave no committer date", ref)
	}
	return date.Time, nil
}
