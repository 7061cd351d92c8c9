package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
)

// InputVersion is the version of the gate input document; policies may
// check input.version.
const InputVersion = 1

// Input is the document the gate policies judge, as
// schema/gate-input.schema.json describes it. Times are RFC 3339 in UTC;
// durations are whole seconds.
type Input struct {
	Version int    `json:"version"`
	Now     string `json:"now"`
	Target  struct {
		Repository        string `json:"repository"`
		Service           string `json:"service"`
		Environment       string `json:"environment"`
		GitHubEnvironment string `json:"github_environment"`
		Node              string `json:"node"`
		Commit            string `json:"commit"`
		RunID             int64  `json:"run_id"`
		Actor             string `json:"actor"`
	} `json:"target"`
	Service struct {
		Name       string   `json:"name"`
		Compliance string   `json:"compliance"`
		DependsOn  []string `json:"depends_on"`
		// Mesh is the service's Istio YAML directory, "" for none.
		Mesh string `json:"mesh"`
	} `json:"service"`
	Environment struct {
		Name      string   `json:"name"`
		Protected bool     `json:"protected"`
		Previous  string   `json:"previous"`
		Order     []string `json:"order"`
	} `json:"environment"`
	Plan     PlanFacts     `json:"plan"`
	Previous *Previous     `json:"previous"`
	Soak     Soak          `json:"soak"`
	Freeze   []FreezeFacts `json:"freeze"`
	GitHub   GitHubFacts   `json:"github"`
	Evidence EvidenceFacts `json:"evidence"`
	// BreakGlass is the explicit break-glass reason, or "".
	BreakGlass string `json:"break_glass"`
	// Links maps a finding's resource to a URL of the evidence it is about.
	Links map[string]string `json:"links"`
}

// PlanFacts is the target's node in the plan the manifest gives.
type PlanFacts struct {
	// Included is false when the plan excludes the node; Excluded says why.
	Included bool     `json:"included"`
	Excluded string   `json:"excluded"`
	Needs    []string `json:"needs"`
	// Requires is the node of the previous environment that must have
	// succeeded for the same commit, or "".
	Requires string `json:"requires"`
}

// Previous is what the previous environment did with the commit.
type Previous struct {
	Environment       string `json:"environment"`
	GitHubEnvironment string `json:"github_environment"`
	Node              string `json:"node"`
	// Succeeded is true when GitHub or the evidence shows a success of the
	// commit there and no failure since; SucceededAt is the first success
	// after the last failure.
	Succeeded   bool   `json:"succeeded"`
	SucceededAt string `json:"succeeded_at"`
	// Source names where a success since then was seen: "github",
	// "evidence".
	Source      map[string]bool   `json:"source"`
	Deployments []DeploymentFacts `json:"deployments"`
	Promotions  []PromotionFacts  `json:"promotions"`

	outcomes []outcome
}

// DeploymentFacts is a GitHub Deployment of the commit to the previous
// environment and its latest status.
type DeploymentFacts struct {
	ID          int64  `json:"id"`
	Environment string `json:"environment"`
	State       string `json:"state"`
	// StateAt is when the latest status was posted.
	StateAt   string `json:"state_at"`
	CreatedAt string `json:"created_at"`
	// SucceededAt is the time of its first success status, or "".
	SucceededAt string `json:"succeeded_at"`
	URL         string `json:"url"`
}

// PromotionFacts is a promotion record of the evidence chain.
type PromotionFacts struct {
	Seq        uint64 `json:"seq"`
	Key        string `json:"key"`
	Outcome    string `json:"outcome"`
	FinishedAt string `json:"finished_at"`
}

// Soak is how long the commit has been in the previous environment.
type Soak struct {
	RequiredSeconds int64 `json:"required_seconds"`
	// ElapsedSeconds counts from previous.succeeded_at to now; 0 without a
	// success. ReadyAt is when the soak is over, "" without a success.
	ElapsedSeconds int64  `json:"elapsed_seconds"`
	ReadyAt        string `json:"ready_at"`
}

// FreezeFacts is a change-freeze window of the target environment, at now.
type FreezeFacts struct {
	Name     string `json:"name"`
	Reason   string `json:"reason"`
	TimeZone string `json:"timezone"`
	Weekly   bool   `json:"weekly"`
	// Active is true when now is inside the window; Start and End are the
	// open occurrence, or the next one (both "" once a one-off window
	// ended long ago they still name it).
	Active bool   `json:"active"`
	Start  string `json:"start"`
	End    string `json:"end"`
}

// GitHubFacts is what GitHub says about the run.
type GitHubFacts struct {
	Checked bool `json:"checked"`
	// Error is why GitHub could not be read, or "".
	Error     string          `json:"error"`
	Run       *RunFacts       `json:"run"`
	Approvals []ApprovalFacts `json:"approvals"`
	Pending   []PendingFacts  `json:"pending"`
}

// RunFacts is the workflow run that waits on the environment.
type RunFacts struct {
	ID         int64  `json:"id"`
	URL        string `json:"url"`
	Event      string `json:"event"`
	Status     string `json:"status"`
	HeadSHA    string `json:"head_sha"`
	HeadBranch string `json:"head_branch"`
	Actor      string `json:"actor"`
	Workflow   string `json:"workflow"`
}

// ApprovalFacts is one review of the run's pending deployments so far.
type ApprovalFacts struct {
	User         string   `json:"user"`
	State        string   `json:"state"`
	Comment      string   `json:"comment"`
	Environments []string `json:"environments"`
}

// PendingFacts is an environment the run waits on.
type PendingFacts struct {
	Environment   string   `json:"environment"`
	EnvironmentID int64    `json:"environment_id"`
	CanApprove    bool     `json:"current_user_can_approve"`
	Reviewers     []string `json:"reviewers"`
}

// EvidenceFacts is what the evidence chain says about the commit.
type EvidenceFacts struct {
	Configured bool `json:"configured"`
	// Verified is true when every signature, link and checkpoint of the
	// whole chain verified; Error says why not.
	Verified bool   `json:"verified"`
	Error    string `json:"error"`
	Records  int    `json:"records"`
	// Commit lists the chain's records about the target commit.
	Commit    []RecordFacts `json:"commit"`
	MeshCheck *RecordFacts  `json:"mesh_check"`
}

// RecordFacts is one record of the chain.
type RecordFacts struct {
	Seq         uint64 `json:"seq"`
	Key         string `json:"key"`
	Kind        string `json:"kind"`
	Node        string `json:"node"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Outcome     string `json:"outcome"`
	FinishedAt  string `json:"finished_at"`
}

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Input assembles the gate input for t.
func (g *Gate) Input(ctx context.Context, t Target) (*Input, error) {
	m := g.cfg.Manifest
	si, ok := m.Service(t.Service)
	if !ok {
		names := make([]string, len(m.Services))
		for i, s := range m.Services {
			names[i] = s.Name
		}
		return nil, &UnknownTargetError{What: "service", Name: t.Service, Valid: names}
	}
	ei, ok := m.Environment(t.Environment)
	if !ok {
		return nil, &UnknownTargetError{What: "environment", Name: t.Environment, Valid: m.EnvironmentNames()}
	}
	if !commitPattern.MatchString(t.Commit) {
		return nil, &BadTargetError{fmt.Sprintf("commit %q: want the full 40-hex-digit lowercase SHA", t.Commit)}
	}
	svc, env := m.Services[si], m.Environments[ei]
	now := g.cfg.Now().UTC()

	in := &Input{Version: InputVersion, Now: stamp(now), BreakGlass: strings.TrimSpace(t.BreakGlass), Links: map[string]string{}}
	in.Target.Repository = t.Repository
	if in.Target.Repository == "" && g.cfg.GitHub != nil {
		in.Target.Repository = g.cfg.GitHub.Owner + "/" + g.cfg.GitHub.Repo
	}
	in.Target.Service, in.Target.Environment, in.Target.Node = svc.Name, env.Name, t.Node()
	in.Target.GitHubEnvironment = env.GitHubName(svc.Name)
	in.Target.Commit, in.Target.RunID, in.Target.Actor = t.Commit, t.RunID, t.Actor
	in.Service.Name, in.Service.Compliance, in.Service.Mesh = svc.Name, string(svc.Compliance), svc.Mesh
	in.Service.DependsOn = []string{}
	for _, dep := range svc.DependsOn {
		in.Service.DependsOn = append(in.Service.DependsOn, dep.Name)
	}
	in.Environment.Name, in.Environment.Protected, in.Environment.Order = env.Name, env.Protected, m.EnvironmentNames()
	if in.Target.Repository != "" {
		in.Links["commit"] = g.cfg.ServerURL + "/" + in.Target.Repository + "/commit/" + t.Commit
		in.Links["target"] = in.Links["commit"]
	}

	in.Plan = planFacts(m, svc.Name, env.Name)
	in.Soak.RequiredSeconds = int64(env.Soak / time.Second)
	in.Freeze = freezeFacts(env.Freeze, now)
	if ei > 0 {
		prev := m.Environments[ei-1]
		in.Environment.Previous = prev.Name
		in.Previous = &Previous{
			Environment: prev.Name, GitHubEnvironment: prev.GitHubName(svc.Name), Node: svc.Name + "@" + prev.Name,
			Deployments: []DeploymentFacts{}, Promotions: []PromotionFacts{}, Source: map[string]bool{},
		}
	}

	in.GitHub.Approvals, in.GitHub.Pending, in.Evidence.Commit = []ApprovalFacts{}, []PendingFacts{}, []RecordFacts{}
	g.githubFacts(ctx, t, in)
	g.evidenceFacts(ctx, t, in)

	if p := in.Previous; p != nil {
		if link := p.settle(); link != "" {
			in.Links["previous"] = link
		}
	}
	if p := in.Previous; p != nil && p.Succeeded {
		at, _ := time.Parse(time.RFC3339, p.SucceededAt)
		in.Soak.ElapsedSeconds = max(int64(now.Sub(at)/time.Second), 0)
		in.Soak.ReadyAt = stamp(at.Add(env.Soak))
	}
	if in.Target.Actor == "" && in.GitHub.Run != nil {
		in.Target.Actor = in.GitHub.Run.Actor
	}
	return in, nil
}

// GitHubEnvironment is the GitHub environment t's node deploys into.
func (g *Gate) GitHubEnvironment(t Target) (string, error) {
	m := g.cfg.Manifest
	ei, ok := m.Environment(t.Environment)
	if !ok {
		return "", &UnknownTargetError{What: "environment", Name: t.Environment, Valid: m.EnvironmentNames()}
	}
	return m.Environments[ei].GitHubName(t.Service), nil
}

// BadTargetError is a target that cannot be decided on as given: bad input.
type BadTargetError struct{ Msg string }

func (e *BadTargetError) Error() string { return e.Msg }

// planFacts plans the one node as `promote plan --from env --to env
// --service svc` would, and reports whether the plan includes it.
func planFacts(m *manifest.Manifest, service, env string) PlanFacts {
	f := PlanFacts{Needs: []string{}}
	p, err := plan.Build(m, dag.Selection{From: env, To: env, Services: []string{service}}, plan.Meta{})
	if err != nil {
		f.Excluded = err.Error()
		return f
	}
	node := service + "@" + env
	for _, n := range p.Nodes {
		if n.ID != node {
			continue
		}
		f.Included = true
		f.Needs = append(f.Needs, n.Needs...)
		if n.Requires != nil {
			f.Requires = n.Requires.ID
		}
	}
	for _, x := range p.Excluded {
		if x.ID == node {
			f.Excluded = x.Reason
		}
	}
	if !f.Included && f.Excluded == "" {
		f.Excluded = "the plan has no node " + node
	}
	return f
}

func freezeFacts(windows []manifest.Freeze, now time.Time) []FreezeFacts {
	out := make([]FreezeFacts, 0, len(windows))
	for _, w := range windows {
		start, end, active := w.At(now)
		out = append(out, FreezeFacts{
			Name: w.Name, Reason: w.Reason, TimeZone: w.TimeZone, Weekly: w.Weekly(),
			Active: active, Start: stamp(start), End: stamp(end),
		})
	}
	return out
}

// stamp formats t as RFC 3339 in UTC, or "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// JSON is the input as the policies and the evidence see it: indented, keys
// in a fixed order.
func (in *Input) JSON() ([]byte, error) {
	return json.MarshalIndent(in, "", "  ")
}

// outcome is one success or failure of the commit in the previous
// environment, as GitHub or the evidence saw it.
type outcome struct {
	at     time.Time
	ok     bool
	source string
	link   string
}

// note records an outcome for settle.
func (p *Previous) note(at time.Time, ok bool, source, link string) {
	p.outcomes = append(p.outcomes, outcome{at, ok, source, link})
}

// settle decides from the outcomes seen whether the commit is healthy in
// the previous environment, and since when: since its first success after
// its last failure. A commit that failed there after it succeeded (a
// failed redeploy, a failed verification) has not succeeded until it
// succeeds again, and its soak starts over then. It returns the link to
// the evidence of that first success.
func (p *Previous) settle() string {
	slices.SortStableFunc(p.outcomes, func(a, b outcome) int { return a.at.Compare(b.at) })
	var since *outcome
	sources := map[string]bool{}
	for i, o := range p.outcomes {
		switch {
		case !o.ok:
			since, sources = nil, map[string]bool{}
		case since == nil:
			since = &p.outcomes[i]
			fallthrough
		default:
			sources[o.source] = true
		}
	}
	if since == nil {
		return ""
	}
	p.Succeeded, p.SucceededAt, p.Source = true, stamp(since.at), sources
	return since.link
}
