// Package gate decides whether a commit of a service may enter an
// environment, from Rego policies over facts: the manifest and the plan,
// GitHub's Deployments of the previous environment and the workflow run,
// and the evidence chain.
//
// Decide assembles the gate input (Input, published as the JSON Schema
// schema/gate-input.schema.json), evaluates the shipped policies
// (policies/gates) and the user's with OPA, and returns a Decision: allow,
// warn or deny, with every policy's reason. A policy is a Rego package
// promote.gates.<name> defining findings, as for the mesh (internal/policy);
// a finding's severity says what it does to the decision: "error" denies,
// "warning" warns, "note" only informs. When a sealer is configured the
// decision is sealed in the evidence chain with the input it was made on,
// so that Replay reproduces it.
package gate

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/policy"
	"github.com/promote-dev/promote/policies"
)

// The results of a decision and of each reason.
const (
	Allow = "allow"
	Warn  = "warn"
	Deny  = "deny"
)

// PolicyRoot is the package root of gate policies: promote.gates.<name>.
const PolicyRoot = "gates"

// Target is what a gate decides on: a commit of a service entering an
// environment, optionally inside a workflow run.
type Target struct {
	// Repository is "owner/name"; empty means the configured client's.
	Repository string
	// Service and Environment are names from the manifest.
	Service, Environment string
	// Commit is the full 40-hex SHA.
	Commit string
	// RunID is the workflow run waiting on the environment, or 0.
	RunID int64
	// Actor is who asks; empty means the run's triggering actor.
	Actor string
	// BreakGlass is an explicit reason to override change-freeze windows,
	// or empty. It is recorded in the input, the decision and the
	// evidence.
	BreakGlass string
}

// Node is the target's plan node, "service@environment".
func (t Target) Node() string { return t.Service + "@" + t.Environment }

// Decision is the gate's answer for a Target.
type Decision struct {
	// Result is Allow, Warn or Deny.
	Result string
	// Reasons holds every policy's finding, and one "allow" reason for
	// each policy that found nothing, sorted by policy.
	Reasons []Reason
	// Input is the gate input JSON the decision was made on.
	Input []byte
	// RetryAt is set when every denial is time-bound (a soak still
	// running, a freeze window that ends): deciding again then may allow.
	RetryAt time.Time
	// BreakGlass is the break-glass reason the decision was made with.
	BreakGlass string
	// Sealed is the evidence record of the decision, when a sealer took it.
	Sealed *evidence.Record
}

// Reason is one policy's finding about the target.
type Reason struct {
	// Policy is the policy's rule id, e.g. "soak".
	Policy string `json:"policy"`
	// Result is Allow, Warn or Deny.
	Result  string `json:"result"`
	Message string `json:"message"`
	// Link points at the evidence the reason is about: a Deployment, a
	// run, an evidence record; empty when there is none.
	Link string `json:"link,omitempty"`
}

// Sealer appends records, and the blobs they cover (key → bytes, such as
// reports/<sha256>.json), to an evidence chain. The CLI seals with its
// spool as a fallback; evidence.Append with a store and signer works too.
type Sealer func(ctx context.Context, records []evidence.Record, blobs map[string][]byte) error

// Config is what a Gate reads its facts from. Manifest is required; a nil
// GitHub leaves the GitHub facts out, a nil Evidence the evidence facts.
type Config struct {
	Manifest *manifest.Manifest
	// GitHub is a client for the manifest's repository.
	GitHub *github.Client
	// ServerURL is GitHub's web address for links; default
	// "https://github.com".
	ServerURL string
	// Evidence is the manifest's evidence store, verified with Keys (the
	// signer's public keys by key id) before any record is believed.
	Evidence evidence.Store
	Keys     map[string]crypto.PublicKey
	// EvidenceURL turns a store key (records/…, reports/…) into a link;
	// nil leaves evidence links out.
	EvidenceURL func(key string) string
	// Seal, when set, seals every decision (see Sealer).
	Seal Sealer
	// PolicyDirs are the user's policy directories (--policy), evaluated
	// with the shipped ones.
	PolicyDirs []string
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Gate decides. It is safe for concurrent use.
type Gate struct {
	cfg    Config
	engine *policy.Engine
}

// New compiles the policies. Problems in them come back as a
// *policy.CompileError.
func New(ctx context.Context, cfg Config) (*Gate, error) {
	if cfg.Manifest == nil {
		return nil, errors.New("gate: no manifest; load promotion.yaml first")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ServerURL == "" {
		cfg.ServerURL = "https://github.com"
	}
	cfg.ServerURL = strings.TrimSuffix(cfg.ServerURL, "/")
	engine, err := LoadPolicies(ctx, cfg.PolicyDirs)
	if err != nil {
		return nil, err
	}
	return &Gate{cfg: cfg, engine: engine}, nil
}

// LoadPolicies compiles the shipped gate policies and those of dirs.
func LoadPolicies(ctx context.Context, dirs []string) (*policy.Engine, error) {
	return policy.Load(ctx, policies.FS, PolicyRoot, dirs)
}

// TestPolicies runs the OPA tests of the shipped gate policies and of dirs.
func TestPolicies(ctx context.Context, dirs []string) ([]policy.TestResult, error) {
	return policy.Test(ctx, policies.FS, PolicyRoot, dirs)
}

// Policies describes the policies the gate evaluates.
func (g *Gate) Policies() []policy.Info { return g.engine.Rules() }

// Decide assembles the input for t, evaluates the policies and, when a
// sealer is configured, seals the decision. Facts that cannot be read (a
// GitHub or evidence error) are recorded in the input for the policies to
// judge, not returned: a gate that cannot see the evidence denies. Decide
// returns an error for a target the manifest does not know, for policies
// that break their contract, and for a decision that could not be sealed.
func (g *Gate) Decide(ctx context.Context, t Target) (Decision, error) {
	in, err := g.Input(ctx, t)
	if err != nil {
		return Decision{}, err
	}
	input, err := in.JSON()
	if err != nil {
		return Decision{}, fmt.Errorf("encode the gate input: %w", err)
	}
	d, err := Evaluate(ctx, g.engine, input)
	if err != nil {
		return Decision{}, err
	}
	if g.cfg.Seal != nil {
		rec, blobs := g.record(in, d)
		if err := g.cfg.Seal(ctx, []evidence.Record{rec}, blobs); err != nil {
			return d, fmt.Errorf("seal the gate decision for %s: %w", t.Node(), err)
		}
		d.Sealed = &rec
	}
	return d, nil
}

// UnknownTargetError is a target the manifest does not know: bad input.
type UnknownTargetError struct {
	What, Name string
	Valid      []string
}

func (e *UnknownTargetError) Error() string {
	return fmt.Sprintf("unknown %s %q; the manifest's %ss are %s", e.What, e.Name, e.What, strings.Join(e.Valid, ", "))
}
