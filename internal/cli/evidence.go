package cli

import (
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/run"
	"github.com/promote-dev/promote/internal/sign"
	"github.com/promote-dev/promote/internal/store"
)

// evidenceStore opens the store the manifest's evidence section names:
// file://DIR relative to the manifest's directory, or s3://BUCKET/PREFIX
// with AWS's usual credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
// or the default chain: profiles, OIDC web identity, instance roles).
func (c *Command) evidenceStore(ctx context.Context, m *manifest.Manifest) (evidence.Store, *store.S3, error) {
	ev := m.Evidence
	dir := filepath.Dir(m.File)
	switch {
	case strings.HasPrefix(ev.Store, "file://"):
		path := strings.TrimPrefix(ev.Store, "file://")
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		s, err := evidence.NewLocalStore(path)
		return s, nil, err
	case strings.HasPrefix(ev.Store, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(ev.Store, "s3://"), "/")
		mode := store.ModeCompliance
		if ev.Mode == manifest.LockGovernance {
			mode = store.ModeGovernance
		}
		cfg := store.S3Config{
			Bucket: bucket, Prefix: prefix, Region: ev.Region, Endpoint: ev.Endpoint, UsePathStyle: ev.Endpoint != "",
			Retention: time.Duration(ev.RetentionDays) * 24 * time.Hour, Mode: mode,
		}
		if id := c.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
			cfg.Credentials = credentials.NewStaticCredentialsProvider(id, c.Getenv("AWS_SECRET_ACCESS_KEY"), c.Getenv("AWS_SESSION_TOKEN"))
		}
		s, err := store.NewS3(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	return nil, nil, badInput(fmt.Errorf("evidence.store %q: use file://DIR or s3://BUCKET[/PREFIX]", ev.Store))
}

// evidenceSigner opens the manifest's signer. A local key is created on
// first use when create is set; Vault logs in with VAULT_TOKEN or GitHub's
// OIDC token.
func (c *Command) evidenceSigner(ctx context.Context, rt *actions.Runtime, m *manifest.Manifest, create bool) (sign.Signer, error) {
	s := m.Evidence.Signer
	if s.Local != nil {
		path := s.Local.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(m.File), path)
		}
		if !create {
			if _, err := os.Stat(path); err != nil {
				return nil, badInput(fmt.Errorf("no signing key at %q to take the public key from: pass --key with the PEM public key: %w", path, err))
			}
		}
		l, _, err := sign.LoadOrCreateLocal(path, s.Local.Algorithm)
		if err != nil {
			return nil, badInput(err)
		}
		return l, nil
	}
	v := s.Vault
	address := v.Address
	if address == "" {
		address = c.Getenv("VAULT_ADDR")
	}
	token := c.Getenv("VAULT_TOKEN")
	_ = rt.Mask(token)
	vs, err := sign.NewVault(ctx, sign.VaultConfig{
		Address: address, Mount: v.Mount, Key: v.Key, Auth: v.Auth, Token: token,
		JWTMount: v.JWTMount, Role: v.Role, Audience: v.Audience, IDToken: rt.IDToken,
	})
	if err != nil {
		return nil, fmt.Errorf("vault signer: %w", err)
	}
	return vs, nil
}

// spoolOf is where records wait that could not reach the store: a
// directory beside the manifest, which a workflow can keep between runs with
// actions/cache.
func spoolOf(m *manifest.Manifest) evidence.Spool {
	return evidence.Spool{Dir: filepath.Join(filepath.Dir(m.File), ".promote", "spool")}
}

// ledger is a manifest's evidence opened for sealing: the signer and its
// public keys, the store, and the spool for when the store cannot take the
// records.
type ledger struct {
	m      *manifest.Manifest
	signer sign.Signer
	keys   map[string]crypto.PublicKey
	// store is nil when it could not be reached; storeErr says why.
	store    evidence.Store
	storeErr error
	spool    evidence.Spool
}

// openLedger opens the manifest's signer and store, signing nothing: it
// loads the signer's public keys (creating a local key on first use, or
// reading the Vault key), opens the store and lists its checkpoints. A
// store that cannot be reached is no error as long as the spool can hold
// the records until it can; when neither works, nothing could be
// recorded, and openLedger says so.
func (c *Command) openLedger(ctx context.Context, rt *actions.Runtime, m *manifest.Manifest) (*ledger, error) {
	signer, err := c.evidenceSigner(ctx, rt, m, true)
	if err != nil {
		return nil, err
	}
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the public keys of the evidence signer: %w", err)
	}
	l := &ledger{m: m, signer: signer, keys: keys, spool: spoolOf(m)}
	store, _, err := c.evidenceStore(ctx, m)
	var ee *exitError
	if errors.As(err, &ee) {
		return nil, err // the store is misconfigured, not unreachable
	}
	if err == nil {
		_, err = store.List(ctx, evidence.CheckpointsPrefix)
	}
	if err == nil {
		l.store = store
		return l, nil
	}
	l.storeErr = err
	if serr := l.spool.Check(); serr != nil {
		return nil, fmt.Errorf("the evidence store %s cannot be reached (%w) and the spool cannot hold the records either (%w): make the store reachable or %s writable", m.Evidence.Store, err, serr, l.spool.Dir)
	}
	return l, nil
}

// sealRecords signs and appends records to the manifest's evidence store,
// after what earlier runs spooled; blobs (such as reports the records cover)
// are written to the store first, once. When the store is unavailable the
// records and blobs are signed into the spool instead, and sealRecords
// reports 0.
func (c *Command) sealRecords(ctx context.Context, rt *actions.Runtime, m *manifest.Manifest, records []evidence.Record, blobs map[string][]byte) (int, error) {
	l, err := c.openLedger(ctx, rt, m)
	if err != nil {
		return 0, err
	}
	return c.seal(ctx, rt, l, records, blobs)
}

// seal appends records (and the blobs they cover) to the ledger's store,
// after what earlier runs spooled, in one batch: one signing call however
// many records. When the store cannot take them, they are signed into the
// spool, and the next run or promote evidence flush appends them: nothing
// is lost.
func (c *Command) seal(ctx context.Context, rt *actions.Runtime, l *ledger, records []evidence.Record, blobs map[string][]byte) (int, error) {
	err := l.storeErr
	if err == nil {
		err = c.flushSpool(ctx, l.spool, l.store, l.signer, l.keys)
	}
	if err == nil {
		err = evidence.CreateBlobs(ctx, l.store, blobs)
	}
	if err == nil {
		_, err = evidence.Append(ctx, l.store, l.signer, records)
	}
	if err != nil {
		file, serr := l.spool.Put(ctx, l.signer, records, blobs)
		if serr != nil {
			return 0, fmt.Errorf("seal the evidence of this run: %w; spooling it failed too: %w", err, serr)
		}
		covered := ""
		switch n := len(blobs); {
		case n == 1:
			covered = " with the report they cover"
		case n > 1:
			covered = fmt.Sprintf(" with the %d reports they cover", n)
		}
		msg := fmt.Sprintf("the evidence store %s is unavailable (%v); %d records are signed and spooled%s in %s until the next run or `promote evidence flush` appends them", l.m.Evidence.Store, err, len(records), covered, file)
		fmt.Fprintf(c.Stderr, "promote: %s\n", msg)
		_ = rt.Annotate(actions.Annotation{Level: actions.Warning, Title: "Evidence spooled", Message: msg})
		return 0, nil
	}
	return len(records), nil
}

// flushSpool appends what earlier runs spooled.
func (c *Command) flushSpool(ctx context.Context, spool evidence.Spool, store evidence.Store, signer sign.Signer, keys map[string]crypto.PublicKey) error {
	pending, err := spool.Pending()
	if err != nil || len(pending) == 0 {
		return err
	}
	n, err := spool.Flush(ctx, store, signer, keys)
	if n > 0 {
		fmt.Fprintf(c.Stdout, "Appended %d spooled evidence records\n", n)
	}
	return err
}

// origin names who and what ran a promotion, for its evidence records.
func (c *Command) origin(rt *actions.Runtime) run.Origin {
	o := run.Origin{RunURL: rt.RunURL(), Actor: cmp.Or(c.Getenv("GITHUB_ACTOR"), c.Getenv("USER"))}
	if r := c.Getenv("GITHUB_REPOSITORY"); r != "" {
		o.Repository = strings.TrimSuffix(cmp.Or(c.Getenv("GITHUB_SERVER_URL"), "https://github.com"), "/") + "/" + r
	}
	if id := c.Getenv("GITHUB_RUN_ID"); id != "" {
		o.RunID = id + "-" + cmp.Or(c.Getenv("GITHUB_RUN_ATTEMPT"), "1")
	}
	return o
}

func runEvidence(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return badInput(errors.New("usage: promote evidence verify|public-key|check-bucket|flush [flags] (see promote evidence verify -h)"))
	}
	switch args[0] {
	case "flush":
		return c.evidenceFlush(ctx, rt, args[1:])
	case "verify":
		return c.evidenceVerify(ctx, rt, args[1:])
	case "public-key":
		return c.evidencePublicKey(ctx, rt, args[1:])
	case "check-bucket":
		return c.evidenceCheckBucket(ctx, rt, args[1:])
	}
	return badInput(fmt.Errorf("unknown evidence command %q (expected verify, public-key, check-bucket or flush)", args[0]))
}

func (c *Command) evidenceFlush(ctx context.Context, rt *actions.Runtime, args []string) error {
	var manifestPath string
	fs := c.flags("evidence flush", "evidence flush [--manifest PATH]")
	fs.StringVar(&manifestPath, "manifest", manifest.DefaultFile, "the promotion manifest, whose evidence section names the store and signer")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	m, err := c.evidenceManifest(rt, manifestPath)
	if err != nil {
		return err
	}
	spool := spoolOf(m)
	pending, err := spool.Pending()
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		fmt.Fprintln(c.Stdout, "Nothing spooled.")
		return nil
	}
	store, _, err := c.evidenceStore(ctx, m)
	if err != nil {
		return err
	}
	signer, err := c.evidenceSigner(ctx, rt, m, false)
	if err != nil {
		return err
	}
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		return err
	}
	return c.flushSpool(ctx, spool, store, signer, keys)
}

// openedEvidence is a manifest's evidence, opened for reading: the store,
// its S3 bucket when it is one (nil otherwise), and the keys to trust.
type openedEvidence struct {
	m       *manifest.Manifest
	store   evidence.Store
	s3      *store.S3
	trusted map[string]crypto.PublicKey
}

// openEvidence loads the manifest at path and opens its evidence store with
// the keys to trust: keys, or by default the signer's. evidence verify,
// gate replay and kpi read the chain this way.
func (c *Command) openEvidence(ctx context.Context, rt *actions.Runtime, path string, keys keyFiles) (*openedEvidence, error) {
	m, err := c.evidenceManifest(rt, path)
	if err != nil {
		return nil, err
	}
	trusted, err := c.trustedKeys(ctx, rt, m, keys)
	if err != nil {
		return nil, err
	}
	st, s3, err := c.evidenceStore(ctx, m)
	if err != nil {
		return nil, err
	}
	return &openedEvidence{m: m, store: st, s3: s3, trusted: trusted}, nil
}

// evidenceManifest reads the manifest and insists on an evidence section.
func (c *Command) evidenceManifest(rt *actions.Runtime, path string) (*manifest.Manifest, error) {
	_, m, err := c.loadManifest(rt, path, false)
	if err != nil {
		return nil, err
	}
	if m.Evidence == nil {
		return nil, badInput(fmt.Errorf("%s configures no evidence: add an evidence section (see docs/manifest.md)", path))
	}
	return m, nil
}

// keyFiles collects repeated --key flags.
type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

func (c *Command) evidenceVerify(ctx context.Context, rt *actions.Runtime, args []string) error {
	var manifestPath, output string
	var keys keyFiles
	fs := c.flags("evidence verify", "evidence verify [--manifest PATH] [--key PUBLIC.pem ...] [--output text|json]")
	fs.StringVar(&manifestPath, "manifest", manifest.DefaultFile, "the promotion manifest, whose evidence section names the store and signer")
	fs.Var(&keys, "key", "a PEM public key to trust (repeatable); default: the signer's keys")
	fs.StringVar(&output, "output", "text", "what to print: text or json")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	ev, err := c.openEvidence(ctx, rt, manifestPath, keys)
	if err != nil {
		return err
	}
	m, st, s3, trusted := ev.m, ev.store, ev.s3, ev.trusted
	report, err := evidence.Verify(ctx, st, trusted)
	if err != nil {
		return fmt.Errorf("verify the evidence in %s: %w", m.Evidence.Store, err)
	}
	var audit *store.AuditReport
	if s3 != nil {
		if audit, err = s3.Audit(ctx); err != nil {
			return fmt.Errorf("audit the object versions in %s: %w", m.Evidence.Store, err)
		}
	}
	ok := report.OK() && (audit == nil || audit.OK())
	if output == "json" {
		out := struct {
			OK     bool             `json:"ok"`
			Store  string           `json:"store"`
			Report *evidence.Report `json:"report"`
			Audit  []store.Problem  `json:"object_lock_problems,omitempty"`
			Keys   []string         `json:"keys"`
		}{OK: ok, Store: m.Evidence.Store, Report: report, Keys: sortedKeys(trusted)}
		if audit != nil {
			out.Audit = audit.Problems
		}
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.Stdout, "Evidence in %s: %d records, %d checkpoints, covered up to record %d\n", m.Evidence.Store, report.Records, len(report.Checkpoints), report.TreeSize)
		for _, f := range report.Failures {
			fmt.Fprintf(c.Stdout, "  FAIL %s (seq %d): %s\n", f.Key, f.Seq, f.Reason)
		}
		if audit != nil {
			for _, p := range audit.Problems {
				fmt.Fprintf(c.Stdout, "  FAIL %s\n", p.String())
			}
		}
		if ok {
			fmt.Fprintln(c.Stdout, "OK: every signature, link, sequence number and checkpoint verifies")
		}
	}
	if rt.Enabled() {
		var md strings.Builder
		fmt.Fprintf(&md, "## Evidence %s\n\n`%s`: %d records, %d checkpoints.\n\n", map[bool]string{true: "verified", false: "FAILED"}[ok], m.Evidence.Store, report.Records, len(report.Checkpoints))
		if !ok {
			md.WriteString("| Object | Seq | Problem |\n|---|---:|---|\n")
			for _, f := range report.Failures {
				fmt.Fprintf(&md, "| `%s` | %d | %s |\n", f.Key, f.Seq, strings.ReplaceAll(f.Reason, "|", `\|`))
			}
		}
		rt.AddSummary(md.String())
		if err := rt.SetOutput("ok", fmt.Sprint(ok)); err != nil {
			return err
		}
	}
	if !ok {
		return &exitError{ExitFindings, fmt.Errorf("the evidence does not verify: %d problems", len(report.Failures)+len(auditProblems(audit)))}
	}
	return nil
}

// trustedKeys are the public keys the evidence is verified with: the PEM
// files of --key, or else the manifest's signer's.
func (c *Command) trustedKeys(ctx context.Context, rt *actions.Runtime, m *manifest.Manifest, keys keyFiles) (map[string]crypto.PublicKey, error) {
	if len(keys) == 0 {
		signer, err := c.evidenceSigner(ctx, rt, m, false)
		if err != nil {
			return nil, err
		}
		return signer.PublicKeys(ctx)
	}
	trusted := map[string]crypto.PublicKey{}
	for _, f := range keys {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, badInput(fmt.Errorf("--key: %w", err))
		}
		pub, err := sign.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, badInput(fmt.Errorf("--key %q: %w", f, err))
		}
		id, err := sign.KeyIDOf(pub)
		if err != nil {
			return nil, badInput(err)
		}
		trusted[id] = pub
	}
	return trusted, nil
}

func auditProblems(a *store.AuditReport) []store.Problem {
	if a == nil {
		return nil
	}
	return a.Problems
}

func sortedKeys(m map[string]crypto.PublicKey) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (c *Command) evidencePublicKey(ctx context.Context, rt *actions.Runtime, args []string) error {
	var manifestPath string
	fs := c.flags("evidence public-key", "evidence public-key [--manifest PATH]")
	fs.StringVar(&manifestPath, "manifest", manifest.DefaultFile, "the promotion manifest, whose evidence section names the signer")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	m, err := c.evidenceManifest(rt, manifestPath)
	if err != nil {
		return err
	}
	signer, err := c.evidenceSigner(ctx, rt, m, false)
	if err != nil {
		return err
	}
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		return err
	}
	for _, id := range sortedKeys(keys) {
		pem, err := sign.PublicKeyPEM(keys[id])
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "# %s\n%s", id, pem)
	}
	return nil
}

func (c *Command) evidenceCheckBucket(ctx context.Context, rt *actions.Runtime, args []string) error {
	var manifestPath string
	fs := c.flags("evidence check-bucket", "evidence check-bucket [--manifest PATH]")
	fs.StringVar(&manifestPath, "manifest", manifest.DefaultFile, "the promotion manifest, whose evidence section names the bucket")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	m, err := c.evidenceManifest(rt, manifestPath)
	if err != nil {
		return err
	}
	_, s3, err := c.evidenceStore(ctx, m)
	if err != nil {
		return err
	}
	if s3 == nil {
		return badInput(fmt.Errorf("evidence.store %q is no S3 bucket; check-bucket checks s3:// stores", m.Evidence.Store))
	}
	checks, err := s3.CheckBucket(ctx)
	if err != nil {
		return err
	}
	failed := 0
	for _, ch := range checks {
		mark := "PASS"
		if !ch.OK {
			mark, failed = "FAIL", failed+1
		}
		fmt.Fprintf(c.Stdout, "%s %-20s %s\n", mark, ch.Name, ch.Detail)
		if !ch.OK && ch.Fix != "" {
			fmt.Fprintf(c.Stdout, "     fix: %s\n", ch.Fix)
		}
	}
	for _, w := range s3.Warnings() {
		fmt.Fprintf(c.Stdout, "WARN %s\n", w)
	}
	if failed > 0 {
		return &exitError{ExitFindings, fmt.Errorf("%d of %d bucket checks failed", failed, len(checks))}
	}
	return nil
}
