package cli

import (
	"cmp"
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
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/git"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/kpi"
	"github.com/promote-dev/promote/internal/plan"
	"github.com/promote-dev/promote/internal/run"
	"github.com/promote-dev/promote/internal/verify"
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
	force       bool
	metricsPush string
	metricsFile string
}

func (c *Command) parseRun(rt *actions.Runtime, args []string) (runOptions, error) {
	o := runOptions{retries: -1}
	fs := c.flags("run", "run [--plan plan.json | selection flags of promote plan] [--commit SHA] [--dry-run] [--force] [--status-file PATH] [--max-parallel N] [--fail-fast] [--timeout D]")
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
	fs.StringVar(&o.metricsPush, "metrics-push", "", "when the run ends, push the KPIs of the evidence chain to the Pushgateway at this URL (default: the manifest's metrics.push); a Pushgateway that is down is reported, never fails the promotion")
	fs.StringVar(&o.metricsFile, "metrics-file", "", "when the run ends, write the KPIs of the evidence chain to this file in Prometheus's text format, for the node exporter's textfile collector")
	fs.BoolVar(&o.force, "force", false, "deploy every node again, also those that already succeeded for this commit (by default a rerun resumes: it skips them)")
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

	var l *ledger
	var earlier *run.Earlier
	if !o.dryRun {
		if l, earlier, err = c.preflight(ctx, rt, o, p); err != nil {
			return err
		}
	}
	prog := newProgress(c.Stdout, rt, time.Now)
	ex, v, err := c.executor(ctx, rt, o, p, prog, earlier)
	if err != nil {
		return err
	}
	var soak soakWatch
	if v != nil {
		soak = v.Soak
	}
	rollback, err := c.rollbackHook(rt, o, p, ex, v, l)
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
		Force:       o.force,
		Soak:        soak,
		Rollback:    rollback,
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
	if err := c.sealRun(ctx, rt, l, p, st); err != nil {
		return err
	}
	c.exportRunMetrics(ctx, rt, o, l)
	if st.Fatal != "" {
		return badInput(fmt.Errorf("promotion stopped: %s", st.Fatal))
	}
	if st.Result != run.ResultSuccess {
		return &exitError{ExitFindings, fmt.Errorf("promotion %s: %d failed, %d skipped, %d cancelled; see %s",
			st.Result, len(st.IDs(run.Failed)), len(st.IDs(run.Skipped)), len(st.IDs(run.Cancelled)), o.statusFile)}
	}
	return nil
}

// commitTime returns the commit's committer date, for lead time: from git
// when the checkout has the commit, else from GitHub's commits API when the
// environment names a repository (GITHUB_REPOSITORY and a token), else the
// zero time, and the records leave commit_time out.
func (c *Command) commitTime(ctx context.Context, dir, commit string) time.Time {
	if t, err := git.CommitTime(ctx, dir, commit); err == nil {
		return t
	}
	if c.Getenv("GITHUB_REPOSITORY") == "" {
		return time.Time{}
	}
	cfg, err := github.ConfigFromEnv(c.Getenv)
	if err != nil {
		return time.Time{}
	}
	client, err := github.New(ctx, cfg)
	if err != nil {
		return time.Time{}
	}
	t, err := client.CommitTime(ctx, commit)
	if err != nil {
		fmt.Fprintf(c.Stderr, "warning: the commit's time is unknown (%v): the evidence records leave commit_time out, and the commit gives no lead time\n", err)
		return time.Time{}
	}
	return t
}

// exportRunMetrics pushes the KPIs of the evidence chain, this run's
// records included, to a Pushgateway and writes them to a file, as asked.
// Every push carries the whole chain's counters, so they only grow from
// one push to the next although each push replaces the group (see
// docs/kpi.md). Nothing here fails the promotion: problems are warnings.
func (c *Command) exportRunMetrics(ctx context.Context, rt *actions.Runtime, o runOptions, l *ledger) {
	push, job := o.metricsPush, "promote"
	if l != nil {
		push = cmp.Or(push, l.m.Metrics.Push)
		job = cmp.Or(l.m.Metrics.Job, job)
	}
	if push == "" && o.metricsFile == "" {
		return
	}
	warn := func(msg string) {
		fmt.Fprintf(c.Stderr, "warning: %s\n", msg)
		_ = rt.Annotate(actions.Annotation{Level: actions.Warning, Title: "Metrics not exported", Message: msg})
	}
	if l == nil {
		warn("metrics: no KPIs to export without evidence: they are computed from the verified evidence chain, and a dry run or a manifest without an evidence section has none")
		return
	}
	var g kpi.Gathered
	if l.store == nil {
		g.Input = kpi.Input{Store: l.m.Evidence.Store, ReadErr: l.storeErr, Nodes: kpi.ManifestNodes(l.m)}
		g.Spool, g.SpoolErr = l.spool.Records(l.keys)
	} else {
		g = kpi.Gather(ctx, kpi.Sources{StoreName: l.m.Evidence.Store, Store: l.store, Keys: l.keys, Spool: &l.spool, Nodes: kpi.ManifestNodes(l.m)})
	}
	reg := kpi.Registry(kpi.Compute(g.Input, kpi.Options{Now: time.Now(), Since: 30 * 24 * time.Hour}))
	if o.metricsFile != "" {
		if err := kpi.WriteFile(o.metricsFile, reg); err != nil {
			warn(err.Error())
		}
	}
	if push != "" {
		if err := kpi.Push(ctx, nil, push, job, c.Getenv("GITHUB_REPOSITORY"), reg); err != nil {
			warn(fmt.Sprintf("metrics: %v; the promotion itself is not affected", err))
		} else {
			fmt.Fprintf(c.Stdout, "Pushed the KPIs to %s (job %q)\n", push, job)
		}
	}
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
	// A plan made outside git names no commit; the run can still be told.
	if o.commit != "" || p.Commit == "" {
		commit, err := c.commitOf(ctx, o.selection)
		if err != nil {
			return nil, err
		}
		if o.commit != "" && p.Commit != "" && p.Commit != commit {
			return nil, badInput(fmt.Errorf("%s promotes commit %s, not %s (--commit); plan again with promote plan --commit, or leave --commit out", o.planFile, p.Commit, commit))
		}
		p.Commit = cmp.Or(p.Commit, commit)
	}
	return p, nil
}

// executor builds what deploys each node: the command executor for command
// services, GitHub for workflow services, or a dry run for all; each
// verifies its nodes after a deploy. It also returns the verifier, nil
// when nothing is verified.
func (c *Command) executor(ctx context.Context, rt *actions.Runtime, o runOptions, p *plan.Plan, prog *progress, earlier *run.Earlier) (run.Executor, *verify.Verifier, error) {
	dispatchRef := o.dispatchRef
	if dispatchRef == "" {
		dispatchRef = c.Getenv("GITHUB_REF_NAME")
	}
	if dispatchRef == "" {
		dispatchRef, _ = git.Branch(ctx, filepath.Dir(o.manifest)) // "" when detached: preflight says what to do
	}
	if o.dryRun && dispatchRef == "" {
		dispatchRef = "the default branch"
	}
	v, err := c.verifier(rt, o, p, dispatchRef, prog)
	if err != nil {
		return nil, nil, err
	}
	if o.dryRun {
		dry := deploy.DryRun{Ref: p.Commit, DispatchRef: dispatchRef, Logger: prog}
		if v != nil {
			dry.Checks = v.Describe
		}
		return dry, nil, nil
	}
	cmd := &deploy.Command{Dir: filepath.Dir(o.manifest), Ref: p.Commit, Logger: prog}
	if earlier != nil {
		cmd.Earlier = earlier
	}
	ex := deploy.ByKind{Command: cmd}
	for _, n := range p.Nodes {
		if n.Deploy.Workflow == "" {
			continue
		}
		gh, err := c.githubExecutor(ctx, rt, o, p, dispatchRef, prog)
		if err != nil {
			return nil, nil, err
		}
		ex.Workflow = gh
		attach(v, cmd, gh)
		return ex, v, nil
	}
	attach(v, cmd, nil)
	return ex, v, nil
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

// preflight checks, before the first node starts, what the run needs to
// name and record what it deploys: a full commit and, when the manifest
// keeps evidence, a signer that loads and a store it can reach or a spool
// it can write. It then reads the evidence log, verifying it, to learn which
// nodes already succeeded for the commit (unless --force). A log that does
// not verify stops the run: a forged or changed record must not skip a
// deploy.
func (c *Command) preflight(ctx context.Context, rt *actions.Runtime, o runOptions, p *plan.Plan) (*ledger, *run.Earlier, error) {
	if !isCommit(p.Commit) {
		return nil, nil, badInput(fmt.Errorf("nothing deployed: the plan names no commit to promote (%q), so no deploy could say what it shipped and no evidence could record it; run in a git checkout, pass --commit SHA, or set PROMOTE_COMMIT to the full 40-hex SHA the files are from (GITHUB_SHA in Actions)", p.Commit))
	}
	if !p.Settings.EvidenceEnabled {
		return nil, nil, nil
	}
	_, m, err := c.loadManifest(rt, o.manifest, false)
	if err != nil {
		return nil, nil, err
	}
	if m.Evidence == nil {
		return nil, nil, nil
	}
	l, err := c.openLedger(ctx, rt, m)
	if err != nil {
		return nil, nil, fmt.Errorf("nothing deployed: this run could not be recorded: %w", err)
	}
	warn := func(msg string) {
		fmt.Fprintf(c.Stderr, "promote: %s\n", msg)
		_ = rt.Annotate(actions.Annotation{Level: actions.Warning, Title: "Evidence", Message: msg})
	}
	if l.store == nil {
		msg := fmt.Sprintf("the evidence store %s cannot be reached (%v); this run's records will be signed into %s until the next run or `promote evidence flush` appends them", m.Evidence.Store, l.storeErr, l.spool.Dir)
		if !o.force {
			msg += "; which nodes already succeeded for this commit cannot be read, so every node is deployed"
		}
		warn(msg)
		return l, nil, nil
	}
	if o.force {
		return l, nil, nil
	}
	if err := c.flushSpool(ctx, l.spool, l.store, l.signer, l.keys); err != nil {
		warn(fmt.Sprintf("the records spooled by earlier runs could not be appended (%v); nodes whose success only they hold are deployed again", err))
	}
	entries, err := (&evidence.Verifier{Keys: l.keys}).Read(ctx, l.store)
	var ue *evidence.UnverifiedError
	if errors.As(err, &ue) {
		return nil, nil, &exitError{ExitFindings, fmt.Errorf("nothing deployed: %s: %w; evidence that does not verify cannot be trusted to tell which nodes already succeeded: see every problem with promote evidence verify, or pass --force to deploy every node without reading the evidence", m.Evidence.Store, err)}
	}
	if err != nil {
		warn(fmt.Sprintf("the evidence in %s could not be read (%v), so every node is deployed, also those that already succeeded for this commit", m.Evidence.Store, err))
		return l, nil, nil
	}
	earlier := run.NewEarlier(p, entries)
	if ids := earlier.OtherManifest(); len(ids) > 0 {
		fmt.Fprintf(c.Stdout, "Deploying again what succeeded for this commit under another manifest than %s: %s\n", o.manifest, list(ids, 5))
	}
	return l, earlier, nil
}

// sealRun records the run's nodes as evidence when the manifest keeps it
// (l is its ledger; nil when it keeps none or the run was a dry run, which
// deploys nothing and so proves nothing). Nodes resumed from an earlier
// success get no second record.
func (c *Command) sealRun(ctx context.Context, rt *actions.Runtime, l *ledger, p *plan.Plan, st *run.Status) error {
	if l == nil {
		return nil
	}
	o := c.origin(rt)
	o.CommitTime = c.commitTime(ctx, filepath.Dir(l.m.File), p.Commit)
	records, err := run.Records(p, st, o)
	if err != nil {
		return err
	}
	if len(records) == 0 {
		fmt.Fprintf(c.Stdout, "No evidence sealed: every node had already succeeded for this commit, as %s records\n", l.m.Evidence.Store)
		return nil
	}
	n, err := c.seal(ctx, rt, l, records, nil)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(c.Stdout, "Sealed %d evidence records in %s\n", n, l.m.Evidence.Store)
	}
	return nil
}

// githubExecutor connects to GitHub from the environment (GITHUB_API_URL,
// GITHUB_REPOSITORY, GITHUB_TOKEN or a GitHub App) and checks, before
// anything is deployed, that the repository and every deploy workflow exist.
func (c *Command) githubExecutor(ctx context.Context, rt *actions.Runtime, o runOptions, p *plan.Plan, dispatchRef string, prog *progress) (*deploy.GitHub, error) {
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
