package cli

import (
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/gate"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/policy"
)

const gateUsage = "usage: promote gate check --service S --environment E [flags], promote gate replay [--seq N] [flags], promote gate test-policies [-v] [DIR ...], or promote gate serve [flags] (see promote gate check -h, promote gate serve -h)"

func runGate(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	if len(args) == 0 {
		return badInput(errors.New(gateUsage))
	}
	switch args[0] {
	case "check":
		return c.gateCheck(ctx, rt, args[1:])
	case "replay":
		return c.gateReplay(ctx, rt, args[1:])
	case "serve":
		return c.runGateServe(ctx, rt, args[1:])
	case "test-policies":
		return c.testPolicies(ctx, args[1:], "gate", gate.PolicyRoot, "data.promote.gates.lib")
	case "-h", "--help", "help":
		fmt.Fprintln(c.Stderr, gateUsage)
		return flag.ErrHelp
	}
	return badInput(errors.New(gateUsage))
}

func (c *Command) gateCheck(ctx context.Context, rt *actions.Runtime, args []string) error {
	var t gate.Target
	var cfg gate.Config
	var manifestPath, output string
	var runID, reviewRun string
	var dirs listFlag
	seal := true
	fs := c.flags("gate check", "gate check --service S --environment E [--commit SHA] [--review-run RUN_ID] [--break-glass REASON] [--policy DIR] [--output text|json]\n\n"+
		"Decides whether the commit of the service may enter the environment, from the gate policies\n"+
		"(policies/gates and --policy) over the manifest, GitHub and the evidence chain, and seals the\n"+
		"decision when the manifest configures evidence. Exit 0: allow or warn; 1: deny.")
	fs.StringVar(&manifestPath, "manifest", manifest.DefaultFile, "the promotion manifest")
	fs.StringVar(&t.Service, "service", "", "the service to decide on (required)")
	fs.StringVar(&t.Environment, "environment", "", "the environment it enters, as the manifest names it (required)")
	fs.StringVar(&t.Commit, "commit", "", "the full 40-hex commit SHA (default: PROMOTE_COMMIT, then GITHUB_SHA, then the checkout's HEAD)")
	fs.StringVar(&runID, "run-id", "", "the workflow run waiting on the environment, for the run's facts (default: --review-run, else GITHUB_RUN_ID)")
	fs.StringVar(&reviewRun, "review-run", "", "approve (allow, warn) or reject (deny) this run's pending deployment to the environment, with the reasons as comment; needs a required reviewer's token, never GITHUB_TOKEN")
	fs.StringVar(&t.Actor, "actor", "", "who asks (default: GITHUB_ACTOR, else the run's triggering actor)")
	fs.StringVar(&t.BreakGlass, "break-glass", "", "a reason to override change-freeze windows; it is sealed with the decision")
	fs.Var(&dirs, "policy", "a directory of your own gate policies (package promote.gates.<name>, see docs/gates.md); repeatable")
	fs.BoolVar(&seal, "seal", true, "seal the decision in the evidence chain when the manifest configures evidence")
	fs.BoolVar(&cfg.CheckEverySignature, "check-every-signature", false, "verify every record's signature, as promote evidence verify does, not the records a good checkpoint covers through it")
	fs.StringVar(&output, "output", "text", "what to print: text or json")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	switch {
	case t.Service == "" || t.Environment == "":
		return badInput(errors.New("--service and --environment are required (see promote gate check -h)"))
	case output != "text" && output != "json":
		return badInput(fmt.Errorf("--output %q: use text or json", output))
	}
	review, err := runIDFlag("--review-run", reviewRun)
	if err != nil {
		return err
	}
	if t.RunID, err = runIDFlag("--run-id", cmp.Or(runID, reviewRun, c.Getenv("GITHUB_RUN_ID"))); err != nil {
		return err
	}
	t.Actor = cmp.Or(t.Actor, c.Getenv("GITHUB_ACTOR"))
	if t.Commit, err = c.commitOf(ctx, selection{manifest: manifestPath, commit: t.Commit}); err != nil {
		return err
	}
	if t.Commit == "" {
		return badInput(errors.New("no commit to decide on: pass --commit SHA, or run in a git checkout or a workflow (GITHUB_SHA)"))
	}
	_, m, err := c.loadManifest(rt, manifestPath, false)
	if err != nil {
		return err
	}
	cfg.Manifest, cfg.ServerURL, cfg.PolicyDirs = m, c.Getenv("GITHUB_SERVER_URL"), dirs
	if err := c.gateGitHub(ctx, rt, &cfg, &t, review != 0); err != nil {
		return err
	}
	if err := c.gateEvidence(ctx, rt, &cfg, seal); err != nil {
		return err
	}
	g, err := gate.New(ctx, cfg)
	if err != nil {
		return gateFailure(err)
	}
	d, err := g.Decide(ctx, t)
	if err != nil {
		return gateFailure(err)
	}

	var rv *gate.Review
	var reviewErr error
	if review != 0 {
		t.RunID = review
		r, err := g.Review(ctx, t, d)
		rv, reviewErr = &r, err
	}
	if output == "json" {
		out := struct {
			Result     string          `json:"result"`
			Reasons    []gate.Reason   `json:"reasons"`
			RetryAt    string          `json:"retry_at,omitempty"`
			BreakGlass string          `json:"break_glass,omitempty"`
			Sealed     bool            `json:"sealed"`
			Review     *gate.Review    `json:"review,omitempty"`
			Input      json.RawMessage `json:"input"`
		}{Result: d.Result, Reasons: d.Reasons, BreakGlass: d.BreakGlass, Sealed: d.Sealed != nil, Input: d.Input}
		if !d.RetryAt.IsZero() {
			out.RetryAt = d.RetryAt.UTC().Format(time.RFC3339)
		}
		if reviewErr == nil {
			out.Review = rv
		}
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if err := gate.WriteText(c.Stdout, t, d); err != nil {
			return err
		}
		if d.Sealed != nil {
			fmt.Fprintf(c.Stdout, "Sealed the decision as a gate record (%s) with its input.\n", d.Sealed.Outcome)
		}
		if rv != nil && reviewErr == nil {
			fmt.Fprintf(c.Stdout, "Reviewed run %d: %s its deployment to %s.\n", rv.RunID, rv.State, rv.Environment)
		}
	}
	if rt.Enabled() {
		rt.AddSummary(gate.Markdown(t, d))
		for _, r := range d.Reasons {
			if r.Result != gate.Allow {
				level := map[string]actions.Level{gate.Deny: actions.Error, gate.Warn: actions.Warning}[r.Result]
				_ = rt.Annotate(actions.Annotation{Level: level, Title: "Gate " + r.Policy, Message: r.Message})
			}
		}
		for name, value := range map[string]string{"result": d.Result, "retry_at": stampOrEmpty(d.RetryAt)} {
			if err := rt.SetOutput(name, value); err != nil {
				return err
			}
		}
	}
	if reviewErr != nil {
		var re *gate.ReviewError
		if errors.As(reviewErr, &re) && re.Status != 0 && re.Status != 403 && re.Status != 404 && re.Status != 422 {
			return reviewErr
		}
		return badInput(reviewErr)
	}
	if d.Result == gate.Deny {
		return &exitError{ExitFindings, fmt.Errorf("the gate denies %s at %.12s", t.Node(), t.Commit)}
	}
	return nil
}

func runIDFlag(name, value string) (int64, error) {
	if value == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(value, 10, 64)
	if err != nil || id <= 0 {
		return 0, badInput(fmt.Errorf("%s %q: want a workflow run id, a positive number", name, value))
	}
	return id, nil
}

func stampOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// gateGitHub connects the gate to GitHub when the environment names a
// token or App; without one the gate decides from the manifest and the
// evidence, unless a review needs GitHub.
func (c *Command) gateGitHub(ctx context.Context, rt *actions.Runtime, cfg *gate.Config, t *gate.Target, required bool) error {
	ghc, err := github.ConfigFromEnv(c.Getenv)
	if err != nil {
		if required {
			return badInput(fmt.Errorf("--review-run: %w", err))
		}
		return nil
	}
	_ = rt.Mask(ghc.Token)
	_ = rt.Mask(string(ghc.AppPrivateKey))
	client, err := github.New(ctx, ghc)
	if err != nil {
		return githubFailure(err)
	}
	cfg.GitHub = client
	t.Repository = ghc.Owner + "/" + ghc.Repo
	return nil
}

// gateEvidence gives the gate the manifest's evidence store and keys, and
// a sealer when seal is set. A store that cannot be reached is recorded in
// the input (the chain-verified policy denies); sealing falls back to the
// spool as for every record.
func (c *Command) gateEvidence(ctx context.Context, rt *actions.Runtime, cfg *gate.Config, seal bool) error {
	m := cfg.Manifest
	if m.Evidence == nil {
		return nil
	}
	var store evidence.Store
	var keys map[string]crypto.PublicKey
	if seal {
		l, err := c.openLedger(ctx, rt, m)
		if err != nil {
			return err
		}
		store, keys = l.store, l.keys
		if store == nil {
			store = unreachable{l.storeErr}
		}
		cfg.Seal = func(ctx context.Context, records []evidence.Record, blobs map[string][]byte) error {
			_, err := c.seal(ctx, rt, l, records, blobs)
			return err
		}
	} else {
		var err error
		if store, _, err = c.evidenceStore(ctx, m); err != nil {
			return err
		}
		// Without the signer's keys nothing in the chain can be believed:
		// the input says why, and the chain-verified policy denies.
		if keys, err = c.trustedKeys(ctx, rt, m, nil); err != nil {
			store = unreachable{err}
		}
	}
	cfg.Evidence, cfg.Keys = store, keys
	cfg.EvidenceURL = func(key string) string {
		if ls, ok := store.(*evidence.LocalStore); ok {
			return "file://" + ls.Dir() + "/" + key
		}
		return strings.TrimSuffix(m.Evidence.Store, "/") + "/" + key
	}
	return nil
}

// unreachable is an evidence store that could not be opened: every read
// says why, so the gate input records it.
type unreachable struct{ err error }

func (u unreachable) Create(context.Context, string, []byte) (string, error) { return "", u.err }
func (u unreachable) Read(context.Context, string) ([]byte, error)           { return nil, u.err }
func (u unreachable) List(context.Context, string) ([]string, error)         { return nil, u.err }

// gateFailure maps the gate's errors to exit codes: an unknown target or
// broken policies are the user's to fix.
func gateFailure(err error) error {
	var ut *gate.UnknownTargetError
	var bt *gate.BadTargetError
	var ce *policy.CompileError
	if errors.As(err, &ut) || errors.As(err, &bt) || errors.As(err, &ce) {
		return badInput(err)
	}
	return err
}

func (c *Command) gateReplay(ctx context.Context, rt *actions.Runtime, args []string) error {
	var manifestPath string
	var seq uint64
	var dirs listFlag
	var keys keyFiles
	fs := c.flags("gate replay", "gate replay [--seq N] [--policy DIR] [--key PUBLIC.pem] [--manifest PATH]\n\n"+
		"Verifies the evidence chain and decides again on the input each sealed gate decision covers\n"+
		"(gate-input.json), with the shipped policies and --policy. Exit 0 when every decision is the\n"+
		"same; 1 when one differs.")
	fs.StringVar(&manifestPath, "manifest", manifest.DefaultFile, "the promotion manifest, whose evidence section names the store and signer")
	fs.Uint64Var(&seq, "seq", 0, "replay only the gate record with this sequence number (default: every gate record)")
	fs.Var(&dirs, "policy", "a directory of gate policies that were in force, as for gate check; repeatable")
	fs.Var(&keys, "key", "a PEM public key to trust (repeatable); default: the signer's keys")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	ev, err := c.openEvidence(ctx, rt, manifestPath, keys)
	if err != nil {
		return err
	}
	store, trusted := ev.store, ev.trusted
	engine, err := gate.LoadPolicies(ctx, dirs)
	if err != nil {
		return badInput(err)
	}
	replayed, err := gate.Replay(ctx, engine, store, trusted, seq)
	var unverified *evidence.UnverifiedError
	switch {
	case errors.As(err, &unverified) || errors.Is(err, gate.ErrInputMismatch):
		return &exitError{ExitFindings, err}
	case err != nil && seq != 0:
		return badInput(err) // no such record, or none with a decision
	case err != nil:
		return err
	}
	differ := 0
	for _, r := range replayed {
		verdict := "same"
		if !r.Same {
			verdict, differ = "DIFFERS", differ+1
		}
		fmt.Fprintf(c.Stdout, "record %d %s at %.12s: sealed %s, replayed %s: %s\n", r.Seq, r.Node, r.Commit, r.Sealed.Result, r.Replayed.Result, verdict)
		if !r.Same {
			for _, x := range r.Sealed.Reasons {
				fmt.Fprintf(c.Stdout, "  sealed   %-5s %s: %s\n", x.Result, x.Policy, x.Message)
			}
			for _, x := range r.Replayed.Reasons {
				fmt.Fprintf(c.Stdout, "  replayed %-5s %s: %s\n", x.Result, x.Policy, x.Message)
			}
		}
	}
	fmt.Fprintf(c.Stdout, "%d decisions replayed, %d differ\n", len(replayed), differ)
	if differ > 0 {
		return &exitError{ExitFindings, fmt.Errorf("%d of %d replayed gate decisions differ from the sealed ones", differ, len(replayed))}
	}
	return nil
}
