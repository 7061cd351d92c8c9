package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/deploy"
	"github.com/promote-dev/promote/internal/git"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
)

type runOptions struct {
	selection
	planFile    string
	dryRun      bool
	statusFile  string
	maxParallel int
	retries     int
	failFast    bool
	timeout     time.Duration
	dispatchRef string
	lockTimeout time.Duration
	heartbeat   time.Duration
	soak        string
}

func (c *Command) parseRun(rt *actions.Runtime, args []string) (runOptions, error) {
	o := runOptions{retries: -1}
	fs := c.flags("run", "run [--plan plan.json | selection flags of promote plan] [--dry-run] [--status-file PATH] [--max-parallel N] [--fail-fast] [--timeout D]")
	o.selection.register(fs)
	fs.StringVar(&o.planFile, "plan", "", "run this plan (from promote plan --plan-file) instead of planning now; it must come from the same manifest")
	fs.BoolVar(&o.dryRun, "dry-run", false, "deploy nothing: print what each node would do, in the order and parallelism of a real run")
	fs.StringVar(&o.statusFile, "status-file", "", "rewrite the run's status as JSON here after every change (default promote-status.json, in RUNNER_TEMP on GitHub Actions)")
	fs.IntVar(&o.maxParallel, "max-parallel", 0, "most nodes at once (default: the manifest's max_parallel)")
	fs.IntVar(&o.retries, "retries", -1, "retries after a transient failure (default: the manifest's retries)")
	fs.BoolVar(&o.failFast, "fail-fast", false, "cancel everything after the first failure (default: the manifest's on_failure)")
	fs.DurationVar(&o.timeout, "timeout", 0, "most time one node may take, approval included (default: the manifest's timeout)")
	fs.StringVar(&o.dispatchRef, "dispatch-ref", "", "branch or tag deploy workflows are dispatched on (default: GITHUB_REF_NAME, else the checked-out branch)")
	fs.DurationVar(&o.lockTimeout, "lock-timeout", 10*time.Minute, "how long a node waits for another promotion of the same service and environment to end")
	fs.DurationVar(&o.heartbeat, "heartbeat", 30*time.Second, "how often to print what is running; 0 never")
	fs.StringVar(&o.soak, "soak", "", "replace every environment's soak time with this duration, e.g. 0s to rehearse a promotion (default: the manifest's)")
	if err := parse(fs, rt, args); err != nil {
		return o, err
	}
	if o.maxParallel < 0 {
		return o, badInput(fmt.Errorf("--max-parallel: must be at least 1, got %d", o.maxParallel))
	}
	if o.statusFile == "" {
		o.statusFile = "promote-status.json"
		if dir := c.Getenv("RUNNER_TEMP"); rt.Enabled() && dir != "" {
			o.statusFile = filepath.Join(dir, "promote-status.json")
		}
	}
	return o, nil
}

func runRun(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	o, err := c.parseRun(rt, args)
	if err != nil {
		return err
	}
	p, err := c.runPlan(ctx, rt, o)
	if err != nil {
		return err
	}
	if o.soak != "" {
		d, err := time.ParseDuration(o.soak)
		if err != nil || d < 0 {
			return badInput(fmt.Errorf("--soak: invalid duration %q; use e.g. 0s, 90s or 10m", o.soak))
		}
		for i := range p.Nodes {
			p.Nodes[i].SoakSeconds = int64(d / time.Second)
		}
	}
	if len(p.Nodes) == 0 {
		fmt.Fprintln(c.Stdout, "Nothing to promote.")
		return publishRun(rt, &run.Status{Version: run.StatusVersion, Result: run.ResultSuccess, Nodes: []run.NodeStatus{}}, o.statusFile)
	}

	prog := newProgress(c.Stdout, rt, time.Now)
	ex, err := c.executor(ctx, rt, o, p, prog)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "Promoting %s (%s)\n", p.Summary(), mode(o.dryRun))

	writer := run.NewStatusFile(o.statusFile)
	stopBeat := make(chan struct{})
	if o.heartbeat > 0 {
		go func() {
			t := time.NewTicker(o.heartbeat)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					prog.heartbeat()
				case <-stopBeat:
					return
				}
			}
		}()
	}
	retries := o.retries
	if retries == 0 {
		retries = -1 // --retries 0: none; the scheduler's 0 means the plan's
	} else if retries < 0 {
		retries = 0
	}
	st, err := run.Run(ctx, p, ex, run.Options{
		MaxParallel: o.maxParallel,
		Retries:     retries,
		Timeout:     o.timeout,
		FailFast:    o.failFast,
		OnChange: func(st *run.Status) {
			prog.update(st)
			writer.Update(st)
		},
	})
	close(stopBeat)
	if err != nil {
		return badInput(err)
	}
	if err := writer.Close(); err != nil {
		return err
	}
	writeResult(c.Stdout, st)
	if err := publishRun(rt, st, o.statusFile); err != nil {
		return err
	}
	if err := c.seal(ctx, rt, o, p, st); err != nil {
		return err
	}
	if st.Fatal != "" {
		return badInput(fmt.Errorf("promotion stopped: %s", st.Fatal))
	}
	if st.Result != run.ResultSuccess {
		return &exitError{ExitFindings, fmt.Errorf("promotion %s: %d failed, %d skipped, %d cancelled; see %s",
			st.Result, len(st.IDs(run.Failed)), len(st.IDs(run.Skipped)), len(st.IDs(run.Cancelled)), o.statusFile)}
	}
	return nil
}

func mode(dry bool) string {
	if dry {
		return "dry run: nothing is deployed"
	}
	return "live"
}

// runPlan loads --plan, checking that it belongs to the manifest, or plans
// now from the selection flags.
func (c *Command) runPlan(ctx context.Context, rt *actions.Runtime, o runOptions) (*plan.Plan, error) {
	if o.planFile == "" {
		return c.buildPlan(ctx, rt, o.selection, false)
	}
	p, err := plan.Load(o.planFile)
	if err != nil {
		return nil, badInput(err)
	}
	data, err := os.ReadFile(o.manifest)
	if err != nil {
		return nil, badInput(fmt.Errorf("read the manifest the plan must match: %w (pass --manifest)", err))
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != p.ManifestSHA256 {
		return nil, badInput(fmt.Errorf("%s was planned from another manifest than %s (sha256 %.12s, now %.12s); plan again with promote plan --plan-file",
			o.planFile, o.manifest, p.ManifestSHA256, got))
	}
	return p, nil
}

// executor builds what deploys each node: the command executor for command
// services, GitHub for workflow services, or a dry run for all.
func (c *Command) executor(ctx context.Context, rt *actions.Runtime, o runOptions, p *plan.Plan, prog *progress) (run.Executor, error) {
	dispatchRef := o.dispatchRef
	if dispatchRef == "" {
		dispatchRef = c.Getenv("GITHUB_REF_NAME")
	}
	if dispatchRef == "" {
		dispatchRef, _ = git.Branch(ctx, filepath.Dir(o.manifest)) // "" when detached: preflight says what to do
	}
	if o.dryRun {
		if dispatchRef == "" {
			dispatchRef = "the default branch"
		}
		return deploy.DryRun{Ref: p.Commit, DispatchRef: dispatchRef, Logger: prog}, nil
	}
	ex := deploy.ByKind{Command: &deploy.Command{Dir: filepath.Dir(o.manifest), Ref: p.Commit, Logger: prog}}
	for _, n := range p.Nodes {
		if n.Deploy.Workflow == "" {
			continue
		}
		gh, err := c.githubExecutor(ctx, rt, o, p, dispatchRef, prog)
		if err != nil {
			return nil, err
		}
		ex.Workflow = gh
		break
	}
	return ex, nil
}

// publishRun writes a run's outputs and job summary in GitHub Actions.
func publishRun(rt *actions.Runtime, st *run.Status, statusFile string) error {
	if !rt.Enabled() {
		return nil
	}
	rt.AddSummary(summaryMarkdown(st))
	for _, f := range []struct {
		name  string
		state run.State
	}{{"succeeded", run.Succeeded}, {"failed", run.Failed}, {"skipped", run.Skipped}} {
		ids, err := json.Marshal(st.IDs(f.state))
		if err != nil {
			return err
		}
		if err := rt.SetOutput(f.name, string(ids)); err != nil {
			return err
		}
	}
	if err := rt.SetOutput("result", st.Result); err != nil {
		return err
	}
	return rt.SetOutput("status_file", statusFile)
}

// seal records the run's nodes as evidence when the manifest configures it.
// A dry run deploys nothing and so proves nothing: it seals nothing.
func (c *Command) seal(ctx context.Context, rt *actions.Runtime, o runOptions, p *plan.Plan, st *run.Status) error {
	if o.dryRun || !p.Settings.EvidenceEnabled {
		return nil
	}
	_, m, err := c.loadManifest(rt, o.manifest, false)
	if err != nil {
		return err
	}
	if m.Evidence == nil {
		return nil
	}
	if len(p.Commit) != 40 {
		fmt.Fprintf(c.Stderr, "promote: no evidence sealed: the plan names no full commit (%q)\n", p.Commit)
		return nil
	}
	n, err := c.sealRun(ctx, rt, m, p, st)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(c.Stdout, "Sealed %d evidence records in %s\n", n, m.Evidence.Store)
	}
	return nil
}

// githubExecutor connects to GitHub from the environment (GITHUB_API_URL,
// GITHUB_REPOSITORY, GITHUB_TOKEN or a GitHub App) and checks, before
// anything is deployed, that the repository and every deploy workflow exist.
func (c *Command) githubExecutor(ctx context.Context, rt *actions.Runtime, o runOptions, p *plan.Plan, dispatchRef string, prog *progress) (*deploy.GitHub, error) {
	if p.Commit == "" {
		return nil, badInput(errors.New("the plan names no commit to promote: run in a git checkout, or set GITHUB_SHA"))
	}
	cfg, err := github.ConfigFromEnv(c.Getenv)
	if err != nil {
		return nil, badInput(err)
	}
	_ = rt.Mask(cfg.Token)
	_ = rt.Mask(string(cfg.AppPrivateKey))
	client, err := github.New(ctx, cfg)
	if err != nil {
		return nil, githubFailure(err)
	}
	ex := &deploy.GitHub{
		Client:      client,
		Commit:      p.Commit,
		DispatchRef: dispatchRef,
		RunURL:      rt.RunURL(),
		ServerURL:   c.Getenv("GITHUB_SERVER_URL"),
		LockTimeout: o.lockTimeout,
	}
	if err := ex.Preflight(ctx, p); err != nil {
		return nil, githubFailure(err)
	}
	return ex, nil
}

// githubFailure maps a failure to reach GitHub to an exit code: GitHub's
// refusal (a 4xx: bad token, no permission, no such repository or workflow)
// is the user's to fix; anything else is infrastructure.
func githubFailure(err error) error {
	if code := github.StatusCode(err); code >= 400 && code < 500 {
		return badInput(err)
	}
	if errors.Is(err, deploy.ErrNoWorkflow) {
		return badInput(err)
	}
	return err
}
