package gate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/promote-dev/promote/internal/github"
)

// maxComment bounds a review comment; the reasons beyond it are counted.
const maxComment = 4000

// Review is what Review did to a run's pending deployment.
type Review struct {
	RunID       int64
	Environment string
	// State is "approved" (allow, warn) or "rejected" (deny).
	State   string
	Comment string
}

// ReviewError is a review GitHub would not take, or that the token may not
// make; it says what to do instead.
type ReviewError struct {
	RunID       int64
	Environment string
	// Status is GitHub's HTTP status, or 0 when Promote refused before
	// asking (the token may not approve).
	Status int
	Msg    string
	Err    error
}

func (e *ReviewError) Error() string {
	s := fmt.Sprintf("review run %d's deployment to %q: %s", e.RunID, e.Environment, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ReviewError) Unwrap() error { return e.Err }

// whoMayReview is the advice every refusal ends with.
const whoMayReview = "only a required reviewer of the environment may review it, with a token of their own (classic: repo scope; fine-grained: read access to contents and deployments); " +
	"GITHUB_TOKEN never may, as it cannot approve its own run: pass a reviewer's token from a secret, or let a GitHub App decide as a custom protection rule (promote gate serve)"

// Review approves (allow, warn) or rejects (deny) the pending deployment
// of run t.RunID to t's GitHub environment, through the
// pending-deployments API, with a comment listing the reasons. It checks
// first that the run waits on the environment and that the token may
// review it; a refusal, Promote's or GitHub's (403, 422), is a
// *ReviewError that says what to do.
func (g *Gate) Review(ctx context.Context, t Target, d Decision) (Review, error) {
	c := g.cfg.GitHub
	if c == nil {
		return Review{}, errors.New("review: no GitHub client; set GITHUB_TOKEN and GITHUB_REPOSITORY")
	}
	if t.RunID <= 0 {
		return Review{}, &BadTargetError{fmt.Sprintf("review: run id %d: give the id of the run that waits on the environment", t.RunID)}
	}
	env, err := g.GitHubEnvironment(t)
	if err != nil {
		return Review{}, err
	}
	runID := t.RunID
	rv := Review{RunID: runID, Environment: env, State: "approved", Comment: Comment(d)}
	if d.Result == Deny {
		rv.State = "rejected"
	}
	pending, err := c.PendingDeployments(ctx, runID)
	if err != nil {
		return rv, reviewError(runID, env, err)
	}
	var envID int64
	var waiting []string
	for _, p := range pending {
		waiting = append(waiting, p.Environment.Name)
		if strings.EqualFold(p.Environment.Name, env) {
			envID = p.Environment.ID
			if !p.CurrentUserCanApprove {
				return rv, &ReviewError{RunID: runID, Environment: env, Msg: "GitHub says this token may not review it (current_user_can_approve is false); " + whoMayReview}
			}
		}
	}
	if envID == 0 {
		what := "no environment"
		if len(waiting) > 0 {
			what = strings.Join(waiting, ", ")
		}
		return rv, &ReviewError{RunID: runID, Environment: env, Msg: fmt.Sprintf("the run waits on %s, not on %q; check --review-run and that the job names the environment (it may have been reviewed already)", what, env)}
	}
	_, _, err = c.GH.Actions.PendingDeployments(ctx, c.Owner, c.Repo, runID, &gh.PendingDeploymentsRequest{
		EnvironmentIDs: []int64{envID}, State: rv.State, Comment: rv.Comment,
	})
	if err != nil {
		return rv, reviewError(runID, env, err)
	}
	return rv, nil
}

// reviewError says what GitHub's refusal means for a reviewer.
func reviewError(runID int64, env string, err error) error {
	status := github.StatusCode(err)
	e := &ReviewError{RunID: runID, Environment: env, Status: status, Err: err}
	switch status {
	case http.StatusForbidden:
		e.Msg = "GitHub refused the token (403): it lacks the permission to review deployments; " + whoMayReview
	case http.StatusUnprocessableEntity:
		e.Msg = "GitHub refused the review (422): the token's user is not a required reviewer, is the run's own actor where self-review is prevented, or the run no longer waits; " + whoMayReview
	case http.StatusNotFound:
		e.Msg = fmt.Sprintf("GitHub knows no run %d here (404); check --review-run and GITHUB_REPOSITORY", runID)
	default:
		e.Msg = "GitHub could not be asked"
	}
	return e
}

// Comment is the review comment of a decision: the result and every reason
// that is not a plain allow, within maxComment bytes.
func Comment(d Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "promote gate: %s", d.Result)
	if d.BreakGlass != "" {
		fmt.Fprintf(&b, " (break-glass: %s)", d.BreakGlass)
	}
	shown, passed := 0, 0
	for _, r := range d.Reasons {
		if r.Result == Allow {
			passed++
			continue
		}
		line := fmt.Sprintf("\n- %s %s: %s", r.Result, r.Policy, r.Message)
		if r.Link != "" {
			line += " (" + r.Link + ")"
		}
		if b.Len()+len(line) > maxComment-100 {
			break
		}
		b.WriteString(line)
		shown++
	}
	if rest := countNotAllow(d) - shown; rest > 0 {
		fmt.Fprintf(&b, "\n- and %d more findings", rest)
	}
	if passed > 0 {
		fmt.Fprintf(&b, "\n%d policies passed.", passed)
	}
	return b.String()
}

func countNotAllow(d Decision) int {
	n := 0
	for _, r := range d.Reasons {
		if r.Result != Allow {
			n++
		}
	}
	return n
}
