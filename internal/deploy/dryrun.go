package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

// DryRun deploys nothing: it logs what the real executor would do for each
// node and reports success, so a run shows the order and parallelism a
// promotion would have.
type DryRun struct {
	Ref         string // the commit being promoted
	DispatchRef string // the branch or tag workflows are dispatched on
	Logger      Logger
	// Checks, when set, describes the post-deploy checks of a node, one
	// per entry; a dry run runs none.
	Checks func(n *plan.Node) []string
}

// Deploy logs what deploying n would do.
func (d DryRun) Deploy(ctx context.Context, n *plan.Node, attempt int, report func(run.Update)) error {
	var what string
	if n.Deploy.Workflow != "" {
		ref := n.Deploy.Ref
		if ref == "" {
			ref = d.DispatchRef
		}
		inputs := map[string]string{"service": n.Service, "environment": n.GitHubEnvironment, "ref": d.Ref, "deployment_id": "<new>"}
		maps.Copy(inputs, n.Deploy.Inputs)
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(inputs)) {
			kv = append(kv, k+"="+inputs[k])
		}
		what = fmt.Sprintf("would create a Deployment of %s to environment %q (task deploy:%s) and dispatch workflow %s on %s with %s",
			short(d.Ref), n.GitHubEnvironment, n.Service, n.Deploy.Workflow, ref, strings.Join(kv, " "))
	} else {
		what = fmt.Sprintf("would run %q with PROMOTE_SERVICE=%s PROMOTE_ENVIRONMENT=%s PROMOTE_GITHUB_ENVIRONMENT=%s PROMOTE_REF=%s",
			n.Deploy.Command, n.Service, n.Environment, n.GitHubEnvironment, d.Ref)
	}
	if d.Checks != nil {
		if checks := d.Checks(n); len(checks) > 0 {
			what += ", then verify it with " + strings.Join(checks, ", ")
		}
	}
	if d.Logger != nil {
		d.Logger.Log(n.ID, what)
	}
	report(run.Update{Phase: run.PhaseDeploying, Message: "dry run"})
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "the current commit"
	}
	return sha
}
