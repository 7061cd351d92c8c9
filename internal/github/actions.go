package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxDispatchInputs is GitHub's limit on a workflow_dispatch's inputs.
const maxDispatchInputs = 25

// Dispatched identifies the run a workflow dispatch started. RunID is 0 when
// GitHub did not say (GitHub Enterprise Server before run details): find the
// run by listing the workflow's runs with event=workflow_dispatch, the head
// SHA and a created filter, remembering that a run shows up in listings a
// moment after its dispatch.
type Dispatched struct {
	RunID   int64  `json:"workflow_run_id"`
	RunURL  string `json:"run_url"`
	HTMLURL string `json:"html_url"`
}

type dispatchRequest struct {
	Ref              string         `json:"ref"`
	Inputs           map[string]any `json:"inputs,omitempty"`
	ReturnRunDetails *bool          `json:"return_run_details,omitempty"`
}

// Dispatch starts the workflow (its file name, such as "deploy.yml", or its
// numeric ID) on ref with inputs, asking GitHub for the run it started.
//
// A dispatch is not idempotent: each one that GitHub receives starts a run.
// Dispatch is therefore never retried after GitHub may have received it; a
// 5xx answer or a dropped connection gives an *AmbiguousError, and the caller
// lists the workflow's runs before dispatching again. When GitHub answers
// 204, as servers without run details do, the result has RunID 0. When a
// server rejects return_run_details with 422, as an older GitHub Enterprise
// Server may, GitHub did nothing, so Dispatch sends the request once more
// without it and returns RunID 0.
func (c *Client) Dispatch(ctx context.Context, workflow, ref string, inputs map[string]any) (Dispatched, error) {
	switch {
	case workflow == "":
		return Dispatched{}, errors.New("dispatch: no workflow: name its file, such as \"deploy.yml\", or its ID")
	case ref == "":
		return Dispatched{}, fmt.Errorf("dispatch workflow %q: no ref: name the branch or tag to run it on", workflow)
	case len(inputs) > maxDispatchInputs:
		return Dispatched{}, fmt.Errorf("dispatch workflow %q: %d inputs, but GitHub takes at most %d: pass fewer, or combine them into one JSON input", workflow, len(inputs), maxDispatchInputs)
	}
	path := c.repoPath("actions/workflows/" + url.PathEscape(workflow) + "/dispatches")
	details := true
	body := dispatchRequest{Ref: ref, Inputs: inputs, ReturnRunDetails: &details}

	d, err := c.dispatch(ctx, path, body)
	if err != nil && StatusCode(err) == http.StatusUnprocessableEntity && mentions(err, "return_run_details") {
		body.ReturnRunDetails = nil
		d, err = c.dispatch(ctx, path, body)
	}
	if err != nil {
		return Dispatched{}, fmt.Errorf("dispatch workflow %q on %q: %w", workflow, ref, tidy(err))
	}
	return d, nil
}

func (c *Client) dispatch(ctx context.Context, path string, body dispatchRequest) (Dispatched, error) {
	req, err := c.GH.NewRequest(http.MethodPost, path, body)
	if err != nil {
		return Dispatched{}, err
	}
	var d Dispatched
	resp, err := c.GH.Do(ctx, req, &d)
	if err != nil {
		return Dispatched{}, err
	}
	if resp.StatusCode == http.StatusNoContent {
		return Dispatched{}, nil
	}
	return d, nil
}

// mentions reports whether GitHub's refusal carried by err names s.
func mentions(err error, s string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Message, s)
}

// PendingDeployment is an environment a workflow run waits on before a job
// may deploy to it (GET /repos/{owner}/{repo}/actions/runs/{run_id}/pending_deployments).
type PendingDeployment struct {
	Environment           PendingEnvironment `json:"environment"`
	WaitTimer             int                `json:"wait_timer"` // minutes
	WaitTimerStartedAt    *time.Time         `json:"wait_timer_started_at"`
	CurrentUserCanApprove bool               `json:"current_user_can_approve"`
	Reviewers             []Reviewer         `json:"reviewers"`
}

// PendingEnvironment is the environment of a PendingDeployment.
type PendingEnvironment struct {
	ID      int64  `json:"id"`
	NodeID  string `json:"node_id"`
	Name    string `json:"name"`
	URL     string `json:"url"`
	HTMLURL string `json:"html_url"`
}

// Reviewer is a user or team that may approve a PendingDeployment.
type Reviewer struct {
	Type     string          `json:"type"` // "User" or "Team"
	Reviewer ReviewerAccount `json:"reviewer"`
}

// ReviewerAccount is the user (Login) or team (Slug, Name) behind a Reviewer.
type ReviewerAccount struct {
	ID      int64  `json:"id"`
	Login   string `json:"login,omitempty"`
	Slug    string `json:"slug,omitempty"`
	Name    string `json:"name,omitempty"`
	HTMLURL string `json:"html_url"`
}

// PendingDeployments lists the environments the run waits on for approval or
// a wait timer. An empty list means it waits on none, or no longer.
func (c *Client) PendingDeployments(ctx context.Context, runID int64) ([]PendingDeployment, error) {
	req, err := c.GH.NewRequest(http.MethodGet, c.repoPath(fmt.Sprintf("actions/runs/%d/pending_deployments", runID)), nil)
	if err != nil {
		return nil, err
	}
	var out []PendingDeployment
	if _, err := c.GH.Do(ctx, req, &out); err != nil {
		return nil, fmt.Errorf("pending deployments of run %d: %w", runID, tidy(err))
	}
	return out, nil
}

// Approval is one entry of a run's review history: a required reviewer's
// decision on its pending deployments.
type Approval struct {
	Environments []struct {
		Name string `json:"name"`
	} `json:"environments"`
	State string `json:"state"` // approved, rejected, or pending (a comment)
	User  struct {
		Login string `json:"login"`
	} `json:"user"`
	Comment string `json:"comment"`
}

// Approvals returns the review history of a run, oldest first: who approved
// or rejected its deployments to protected environments. go-github v60 has
// no method for it, so it is reached through NewRequest and Do.
func (c *Client) Approvals(ctx context.Context, runID int64) ([]Approval, error) {
	req, err := c.GH.NewRequest(http.MethodGet, c.repoPath(fmt.Sprintf("actions/runs/%d/approvals", runID)), nil)
	if err != nil {
		return nil, err
	}
	var out []Approval
	if _, err := c.GH.Do(ctx, req, &out); err != nil {
		return nil, fmt.Errorf("review history of run %d: %w", runID, tidy(err))
	}
	return out, nil
}

type protectionRuleReview struct {
	EnvironmentName string `json:"environment_name"`
	State           string `json:"state,omitempty"`
	Comment         string `json:"comment,omitempty"`
}

// ReviewProtectionRule answers a custom deployment protection rule for the
// run's deployment to environment: state "approved" or "rejected", or ""
// with a comment to post a status report instead (GitHub keeps at most 10
// per deployment). Only the GitHub App that owns the rule may answer, with
// its installation token: configure the Client with that App.
func (c *Client) ReviewProtectionRule(ctx context.Context, runID int64, environment, state, comment string) error {
	switch {
	case environment == "":
		return fmt.Errorf("review protection rule of run %d: no environment: name the environment the run waits on", runID)
	case state != "approved" && state != "rejected" && state != "":
		return fmt.Errorf("review protection rule of run %d: state %q: use \"approved\", \"rejected\", or \"\" with a comment for a status report", runID, state)
	case state == "" && comment == "":
		return fmt.Errorf("review protection rule of run %d: a status report (no state) needs a comment", runID)
	}
	body := protectionRuleReview{EnvironmentName: environment, State: state, Comment: comment}
	req, err := c.GH.NewRequest(http.MethodPost, c.repoPath(fmt.Sprintf("actions/runs/%d/deployment_protection_rule", runID)), body)
	if err != nil {
		return err
	}
	if _, err := c.GH.Do(ctx, req, nil); err != nil {
		return fmt.Errorf("review protection rule of run %d for environment %q: %w", runID, environment, tidy(err))
	}
	return nil
}

// tidy drops the *url.Error that net/http wraps around this package's
// errors, whose method and URL say less than the operation the callers here
// name.
func tidy(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	var apiErr *APIError
	var ambiguous *AmbiguousError
	if errors.As(ue.Err, &apiErr) || errors.As(ue.Err, &ambiguous) {
		return ue.Err
	}
	return err
}
