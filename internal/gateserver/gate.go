package gateserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/promote-dev/promote/internal/gate"
	"github.com/promote-dev/promote/internal/manifest"
)

// GateDecider decides with Promote's gate (its Rego policies over the
// manifest, GitHub and the evidence chain) for the one repository whose
// manifest it holds.
type GateDecider struct {
	Gate       *gate.Gate
	Manifest   *manifest.Manifest
	Repository string // "owner/repo" of the manifest
}

// serverPolicy names the reasons the server itself gives.
const serverPolicy = "gate-server"

// Decide maps the GitHub environment the run waits on to the manifest's
// service and environment and asks the gate. What no retry can fix (a
// repository or an environment this manifest does not describe) is a deny
// with the reason, so that no run waits for an answer that cannot come.
func (g GateDecider) Decide(ctx context.Context, t Target) (Decision, error) {
	if !strings.EqualFold(t.Repository, g.Repository) {
		return denied("this gate serves %s, not %s: install the App only on repositories whose manifest the server is given", g.Repository, t.Repository), nil
	}
	svc, env, err := resolve(g.Manifest, t.Service, t.Environment)
	if err != nil {
		return denied("%v", err), nil
	}
	d, err := g.Gate.Decide(ctx, gate.Target{
		Repository: t.Repository, Service: svc, Environment: env,
		Commit: t.Commit, RunID: t.RunID, Actor: t.Actor,
	})
	var unknown *gate.UnknownTargetError
	if errors.As(err, &unknown) {
		return denied("%v", err), nil
	}
	if err != nil {
		return Decision{}, err
	}
	out := Decision{Result: d.Result, RetryAt: d.RetryAt, BreakGlass: d.BreakGlass}
	for _, r := range d.Reasons {
		out.Reasons = append(out.Reasons, Reason{Policy: r.Policy, Result: r.Result, Message: r.Message, Link: r.Link})
	}
	return out, nil
}

func denied(format string, args ...any) Decision {
	return Decision{Result: ResultDeny, Reasons: []Reason{{Policy: serverPolicy, Result: ResultDeny, Message: fmt.Sprintf(format, args...)}}}
}

// resolve finds the manifest's service and environment whose GitHub
// environment is ghEnv; service, when known, narrows the search.
func resolve(m *manifest.Manifest, service, ghEnv string) (svc, env string, err error) {
	var matches [][2]string
	for _, s := range m.Services {
		if service != "" && s.Name != service {
			continue
		}
		for _, e := range m.Environments {
			if strings.EqualFold(e.GitHubName(s.Name), ghEnv) {
				matches = append(matches, [2]string{s.Name, e.Name})
			}
		}
	}
	switch {
	case len(matches) == 1:
		return matches[0][0], matches[0][1], nil
	case len(matches) == 0 && service != "":
		return "", "", fmt.Errorf("no environment of service %q in %s deploys to the GitHub environment %q: check the manifest's github_environment", service, m.File, ghEnv)
	case len(matches) == 0:
		return "", "", fmt.Errorf("no service of %s deploys to the GitHub environment %q: check the manifest's github_environment", m.File, ghEnv)
	}
	return "", "", fmt.Errorf("several services of %s deploy to the GitHub environment %q and the run does not say which: give the deploy workflow Promote's run-name, \"deploy ${{ inputs.service }} to ${{ inputs.environment }} #${{ inputs.deployment_id }}\"", m.File, ghEnv)
}

// serviceFromTitle reads the service from the display title Promote's
// deploy workflows give their runs: "deploy SERVICE to ENVIRONMENT #ID".
func serviceFromTitle(title string) string {
	rest, ok := strings.CutPrefix(title, "deploy ")
	if !ok {
		return ""
	}
	svc, _, ok := strings.Cut(rest, " to ")
	if !ok || strings.ContainsAny(svc, " \t") {
		return ""
	}
	return svc
}
