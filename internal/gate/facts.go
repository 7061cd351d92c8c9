package gate

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	gh "github.com/google/go-github/v60/github"

	"github.com/promote-dev/promote/internal/evidence"
)

// maxDeployments bounds the Deployments of one commit to one environment
// that are read: more are reruns, and the newest say enough.
const maxDeployments = 100

// githubFacts reads the previous environment's Deployments of the commit,
// and the run with its reviews and pending deployments. An error is
// recorded in in.GitHub.Error for the policies; what was read stays.
func (g *Gate) githubFacts(ctx context.Context, t Target, in *Input) {
	c := g.cfg.GitHub
	if c == nil {
		return
	}
	in.GitHub.Checked = true
	var errs []error
	if p := in.Previous; p != nil {
		deps, _, err := c.GH.Repositories.ListDeployments(ctx, c.Owner, c.Repo, &gh.DeploymentsListOptions{
			SHA: t.Commit, Environment: p.GitHubEnvironment, ListOptions: gh.ListOptions{PerPage: maxDeployments},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("deployments of %s to %q: %w", t.Commit[:12], p.GitHubEnvironment, err))
		}
		for _, d := range deps {
			f, err := g.deployment(ctx, d)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.Deployments = append(p.Deployments, f)
			if f.SucceededAt != "" {
				p.note(parseStamp(f.SucceededAt), true, "github", f.URL)
			}
			if f.State == "failure" || f.State == "error" {
				p.note(parseStamp(f.StateAt), false, "github", f.URL)
			}
		}
	}
	if t.RunID != 0 {
		run, _, err := c.GH.Actions.GetWorkflowRunByID(ctx, c.Owner, c.Repo, t.RunID)
		if err != nil {
			errs = append(errs, fmt.Errorf("run %d: %w", t.RunID, err))
		} else {
			in.GitHub.Run = &RunFacts{
				ID: run.GetID(), URL: run.GetHTMLURL(), Event: run.GetEvent(), Status: run.GetStatus(),
				HeadSHA: run.GetHeadSHA(), HeadBranch: run.GetHeadBranch(),
				Actor: cmp.Or(run.GetTriggeringActor().GetLogin(), run.GetActor().GetLogin()), Workflow: run.GetName(),
			}
			in.Links["run"] = run.GetHTMLURL()
		}
		approvals, err := c.Approvals(ctx, t.RunID)
		if err != nil {
			errs = append(errs, err)
		}
		for _, a := range approvals {
			f := ApprovalFacts{User: a.User.Login, State: a.State, Comment: a.Comment, Environments: []string{}}
			for _, e := range a.Environments {
				f.Environments = append(f.Environments, e.Name)
			}
			in.GitHub.Approvals = append(in.GitHub.Approvals, f)
		}
		pending, err := c.PendingDeployments(ctx, t.RunID)
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range pending {
			f := PendingFacts{Environment: p.Environment.Name, EnvironmentID: p.Environment.ID, CanApprove: p.CurrentUserCanApprove, Reviewers: []string{}}
			for _, r := range p.Reviewers {
				f.Reviewers = append(f.Reviewers, cmp.Or(r.Reviewer.Login, r.Reviewer.Slug))
			}
			in.GitHub.Pending = append(in.GitHub.Pending, f)
		}
	}
	if err := errors.Join(errs...); err != nil {
		in.GitHub.Error = err.Error()
	}
}

// deployment reads a Deployment's statuses: its latest state and its first
// success.
func (g *Gate) deployment(ctx context.Context, d *gh.Deployment) (DeploymentFacts, error) {
	c := g.cfg.GitHub
	f := DeploymentFacts{
		ID: d.GetID(), Environment: d.GetEnvironment(), CreatedAt: stamp(d.GetCreatedAt().Time),
		URL: g.cfg.ServerURL + "/" + c.Owner + "/" + c.Repo + "/deployments/" + d.GetEnvironment(),
	}
	statuses, _, err := c.GH.Repositories.ListDeploymentStatuses(ctx, c.Owner, c.Repo, d.GetID(), &gh.ListOptions{PerPage: 100})
	if err != nil {
		return f, fmt.Errorf("statuses of deployment %d: %w", d.GetID(), err)
	}
	// GitHub lists statuses newest first.
	for i, s := range statuses {
		if i == 0 {
			f.State, f.StateAt = s.GetState(), stamp(s.GetCreatedAt().Time)
			if u := s.GetLogURL(); u != "" {
				f.URL = u
			}
		}
		if s.GetState() == "success" {
			f.SucceededAt = stamp(s.GetCreatedAt().Time)
		}
	}
	return f, nil
}

// evidenceFacts reads the verified chain: the records of the commit, the
// latest mesh check of the service, the previous node's promotions.
func (g *Gate) evidenceFacts(ctx context.Context, t Target, in *Input) {
	if g.cfg.Evidence == nil {
		return
	}
	in.Evidence.Configured = true
	entries, err := (&evidence.Verifier{Keys: g.cfg.Keys}).Read(ctx, g.cfg.Evidence)
	if err != nil {
		in.Evidence.Error = err.Error()
		return
	}
	in.Evidence.Verified, in.Evidence.Records = true, len(entries)
	if g.cfg.EvidenceURL != nil && len(entries) > 0 {
		in.Links["chain"] = g.cfg.EvidenceURL(entries[len(entries)-1].Key)
	}
	for _, e := range entries {
		if e.Commit != t.Commit {
			continue
		}
		r := RecordFacts{
			Seq: e.Seq, Key: e.Key, Kind: string(e.Kind), Node: e.Node, Service: e.Service,
			Environment: e.Environment, Outcome: e.Outcome, FinishedAt: stamp(e.Finished()),
		}
		in.Evidence.Commit = append(in.Evidence.Commit, r)
		link := ""
		if g.cfg.EvidenceURL != nil {
			link = g.cfg.EvidenceURL(e.Key)
		}
		switch {
		case e.Kind == evidence.KindMeshCheck && e.Service == t.Service:
			in.Evidence.MeshCheck = &r
			if link != "" {
				in.Links["mesh_check"] = link
			}
		case e.Kind == evidence.KindPromotion && in.Previous != nil && e.Node == in.Previous.Node && e.Attempts > 0:
			p := in.Previous
			p.Promotions = append(p.Promotions, PromotionFacts{Seq: e.Seq, Key: e.Key, Outcome: e.Outcome, FinishedAt: r.FinishedAt})
			if e.Outcome == "succeeded" || e.Outcome == "failed" {
				p.note(e.Finished(), e.Outcome == "succeeded", "evidence", link)
			}
		}
	}
}
