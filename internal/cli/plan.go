package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/git"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/schema"
)

// maxPlanOutput is the largest plan passed as a step output; GitHub allows 1
// MB of outputs per job and the matrix needs room too. Larger plans are only
// written to --plan-file.
const maxPlanOutput = 512 << 10

// selection holds the flags that choose what a plan covers; plan and run
// share them.
type selection struct {
	manifest       string
	to, from       string
	services       string
	changedSince   string
	withDependents bool
	commit         string
}

func (s *selection) register(fs *flag.FlagSet) {
	fs.StringVar(&s.manifest, "manifest", manifest.DefaultFile, "the promotion manifest")
	fs.StringVar(&s.to, "to", "", "promote up to this environment (default: the last)")
	fs.StringVar(&s.from, "from", "", "start at this environment (default: the first); earlier ones must have succeeded for the same commit")
	fs.StringVar(&s.services, "services", "", "comma-separated services to promote (default: all)")
	fs.StringVar(&s.changedSince, "changed-since", "", "keep only services owning a file changed since the merge base with this git ref")
	fs.BoolVar(&s.withDependents, "with-dependents", false, "add every service that depends on a selected one")
	fs.StringVar(&s.commit, "commit", "", "the full 40-hex SHA of the commit being promoted (default: PROMOTE_COMMIT, then GITHUB_SHA, then the checkout's HEAD); needed outside a git checkout, such as in a source archive")
}

// commitOf is the commit a selection promotes: --commit, PROMOTE_COMMIT,
// GITHUB_SHA, or the HEAD of the manifest's git checkout; "" when none
// names one (a plan outside git simply has no commit, and promote run
// refuses to deploy it). A commit given explicitly must be a full SHA.
func (c *Command) commitOf(ctx context.Context, s selection) (string, error) {
	for _, f := range []struct{ name, value string }{{"--commit", s.commit}, {"PROMOTE_COMMIT", c.Getenv("PROMOTE_COMMIT")}} {
		if f.value == "" {
			continue
		}
		if commit := strings.ToLower(f.value); isCommit(commit) {
			return commit, nil
		}
		return "", badInput(fmt.Errorf("%s %q: want the full 40-hex commit SHA (git rev-parse HEAD prints it)", f.name, f.value))
	}
	if commit := c.Getenv("GITHUB_SHA"); commit != "" {
		return commit, nil
	}
	commit, _ := git.Head(ctx, filepath.Dir(s.manifest))
	return commit, nil
}

// isCommit reports whether s is a full commit SHA: 40 lowercase hex digits.
func isCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

type planOptions struct {
	selection
	output   string
	planFile string
}

func (c *Command) parsePlan(rt *actions.Runtime, args []string) (planOptions, error) {
	var o planOptions
	fs := c.flags("plan", "plan [--manifest PATH] [--from ENV] [--to ENV] [--services a,b] [--changed-since REF [--with-dependents]] [--output text|json] [--plan-file PATH]")
	o.selection.register(fs)
	fs.StringVar(&o.output, "output", "text", "what to print: text or json")
	fs.StringVar(&o.planFile, "plan-file", "", "also write the plan as JSON to this file, for promote run")
	if err := parse(fs, rt, args); err != nil {
		return o, err
	}
	if o.output != "text" && o.output != "json" {
		return o, badInput(fmt.Errorf("--output: unknown format %q (expected text or json)", o.output))
	}
	return o, nil
}

// buildPlan reads the manifest and computes the plan of a selection.
func (c *Command) buildPlan(ctx context.Context, rt *actions.Runtime, s selection, jsonErrors bool) (*plan.Plan, error) {
	data, m, err := c.loadManifest(rt, s.manifest, jsonErrors)
	if err != nil {
		return nil, err
	}
	sel := dag.Selection{From: s.from, To: s.to, WithDependents: s.withDependents}
	for _, name := range strings.Split(s.services, ",") {
		if name = strings.TrimSpace(name); name != "" {
			sel.Services = append(sel.Services, name)
		}
	}
	dir := filepath.Dir(s.manifest)
	if s.changedSince != "" {
		files, err := git.ChangedFiles(ctx, dir, s.changedSince)
		var re *git.RefError
		if errors.As(err, &re) {
			return nil, badInput(fmt.Errorf("--changed-since: %w", err))
		}
		if err != nil {
			return nil, err
		}
		sel.FilterChanged, sel.Changed = true, files
	} else if s.withDependents && len(sel.Services) == 0 {
		return nil, badInput(errors.New("--with-dependents widens --services or --changed-since; give one of them"))
	}

	commit, err := c.commitOf(ctx, s)
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(m, sel, plan.Meta{
		ManifestBytes: data,
		Commit:        commit,
		Selection: plan.Selection{
			Services:       sel.Services,
			ChangedSince:   s.changedSince,
			ChangedFiles:   len(sel.Changed),
			WithDependents: s.withDependents,
		},
	})
	var se *dag.SelectionError
	if errors.As(err, &se) {
		return nil, badInput(err)
	}
	return p, err
}

func runPlan(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	o, err := c.parsePlan(rt, args)
	if err != nil {
		return err
	}
	p, err := c.buildPlan(ctx, rt, o.selection, o.output == "json")
	if err != nil {
		return err
	}
	js, err := p.JSON()
	if err != nil {
		return err
	}
	if o.planFile != "" {
		if err := os.WriteFile(o.planFile, js, 0o644); err != nil {
			return fmt.Errorf("write the plan: %w", err)
		}
	}
	if o.output == "json" {
		if _, err := c.Stdout.Write(js); err != nil {
			return err
		}
	} else if err := p.WriteText(c.Stdout); err != nil {
		return err
	}
	return publishPlan(rt, p, js, o.planFile)
}

// publishPlan writes the plan's step outputs and job summary in GitHub Actions.
func publishPlan(rt *actions.Runtime, p *plan.Plan, js []byte, planFile string) error {
	if !rt.Enabled() {
		return nil
	}
	var md strings.Builder
	if err := p.WriteMarkdown(&md); err != nil {
		return err
	}
	rt.AddSummary(md.String())

	matrices := p.Matrices()
	for w, mx := range matrices {
		if len(mx.Include) > plan.MaxMatrixJobs {
			_ = rt.Annotate(actions.Annotation{Level: actions.Warning, Title: "Wave too large for one matrix",
				Message: fmt.Sprintf("wave %d has %d nodes, but a matrix runs at most %d jobs; deploy it with promote run instead", w+1, len(mx.Include), plan.MaxMatrixJobs)})
		}
	}
	matrix, err := json.Marshal(matrices)
	if err != nil {
		return err
	}
	services, err := json.Marshal(p.Services())
	if err != nil {
		return err
	}
	outputs := [][2]string{{"matrix", string(matrix)}, {"services", string(services)}}
	if len(js) <= maxPlanOutput {
		outputs = append(outputs, [2]string{"plan", string(js)})
	} else {
		_ = rt.Annotate(actions.Annotation{Level: actions.Warning, Title: "Plan too large for a step output",
			Message: fmt.Sprintf("the plan is %d bytes, over the %d bytes Promote passes as the plan output; set plan_file and read the plan from that file", len(js), maxPlanOutput)})
	}
	if planFile != "" {
		outputs = append(outputs, [2]string{"plan_file", planFile})
	}
	for _, kv := range outputs {
		if err := rt.SetOutput(kv[0], kv[1]); err != nil {
			return fmt.Errorf("set output %s: %w", kv[0], err)
		}
	}
	return nil
}

// loadManifest reads and parses the manifest. Manifest errors are errReported
// as file:line:col on stderr (or as JSON on stdout), as annotations and in
// the job summary, and returned as bad input.
func (c *Command) loadManifest(rt *actions.Runtime, path string, jsonOut bool) ([]byte, *manifest.Manifest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, badInput(fmt.Errorf("manifest %q not found; create it (see docs/manifest.md) or pass --manifest PATH", path))
	}
	if err != nil {
		return nil, nil, badInput(fmt.Errorf("read the manifest: %w", err))
	}
	m, err := manifest.Parse(path, data)
	var list manifest.ErrorList
	if errors.As(err, &list) {
		c.reportManifestErrors(rt, list, jsonOut)
		return nil, nil, &exitError{ExitBadInput, errReported}
	}
	if err != nil {
		return nil, nil, err
	}
	return data, m, nil
}

func (c *Command) reportManifestErrors(rt *actions.Runtime, list manifest.ErrorList, jsonOut bool) {
	if jsonOut {
		type jsonError struct {
			File    string `json:"file"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Message string `json:"message"`
		}
		out := struct {
			Errors []jsonError `json:"errors"`
		}{}
		for _, e := range list {
			out.Errors = append(out.Errors, jsonError{e.File, e.Pos.Line, e.Pos.Col, e.Msg})
			for _, n := range e.Notes {
				out.Errors = append(out.Errors, jsonError{e.File, n.Pos.Line, n.Pos.Col, n.Msg})
			}
		}
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	}
	fmt.Fprintln(c.Stderr, list.Error())
	fmt.Fprintf(c.Stderr, "promote: %d problem(s) in the manifest; see docs/manifest.md\n", len(list))
	if !rt.Enabled() {
		return
	}
	workspace := c.Getenv("GITHUB_WORKSPACE")
	var md strings.Builder
	md.WriteString("## Manifest errors\n\n| Location | Problem |\n|---|---|\n")
	for _, e := range list {
		file := relativeTo(workspace, e.File)
		msg := e.Msg
		for _, n := range e.Notes {
			msg += fmt.Sprintf("\n%d:%d: %s", n.Pos.Line, n.Pos.Col, n.Msg)
		}
		_ = rt.Annotate(actions.Annotation{Level: actions.Error, File: file, Line: e.Pos.Line, Col: e.Pos.Col, Title: "Manifest error", Message: msg})
		fmt.Fprintf(&md, "| `%s:%d:%d` | %s |\n", file, e.Pos.Line, e.Pos.Col, strings.ReplaceAll(strings.ReplaceAll(msg, "|", `\|`), "\n", "<br>"))
	}
	rt.AddSummary(md.String())
}

// relativeTo makes path relative to the workspace, as annotations want it.
func relativeTo(workspace, path string) string {
	if workspace == "" {
		return filepath.ToSlash(path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	rel, err := filepath.Rel(workspace, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

func runSchema(_ context.Context, c *Command, rt *actions.Runtime, args []string) error {
	fs := c.flags("schema", "schema")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	_, err := c.Stdout.Write(schema.JSON)
	return err
}
