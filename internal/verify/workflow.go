package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
)

// WorkflowRunner dispatches a workflow and waits for its run's conclusion;
// *deploy.GitHub is one.
type WorkflowRunner interface {
	RunWorkflow(ctx context.Context, file, ref string, inputs map[string]any) (conclusion, runURL string, err error)
}

// workflowProbe dispatches the verification workflow with inputs service,
// environment and ref; its run concluding success passes.
func (v *Verifier) workflowProbe(n *plan.Node, w *manifest.WorkflowCheck) (probe, error) {
	if v.Workflows == nil {
		return nil, errors.New("a workflow check needs GitHub: run promote where GITHUB_REPOSITORY and a token are set")
	}
	ref := w.Ref
	if ref == "" {
		ref = v.DispatchRef
	}
	if ref == "" {
		return nil, fmt.Errorf("no branch or tag to dispatch %s on: set the check's ref or pass --dispatch-ref", w.File)
	}
	return func(ctx context.Context) (string, error) {
		inputs := map[string]any{"service": n.Service, "environment": n.GitHubEnvironment, "ref": v.Commit}
		for k, val := range w.Inputs {
			inputs[k] = val
		}
		conclusion, url, err := v.Workflows.RunWorkflow(ctx, w.File, ref, inputs)
		if err != nil {
			return "no run", err
		}
		if conclusion != "success" {
			return conclusion, fmt.Errorf("%s concluded %s: %s", w.File, conclusion, url)
		}
		return conclusion, nil
	}, nil
}
