package cli

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/git"
	"github.com/promote-dev/promote/internal/manifest"
	"github.com/promote-dev/promote/internal/mesh"
	"github.com/promote-dev/promote/internal/policy"
	"github.com/promote-dev/promote/internal/report"
	"github.com/promote-dev/promote/policies"
)

// meshGCPercent is the GOGC of promote mesh check when GOGC is not set.
const meshGCPercent = 200

const meshUsage = "usage: promote mesh check [flags] [PATH ...], or promote mesh test-policies [-v] [DIR ...] (see promote mesh check -h)"

func runMesh(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	if len(args) > 0 && args[0] == "test-policies" {
		return c.meshTestPolicies(ctx, args[1:])
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(c.Stderr, meshUsage)
			return flag.ErrHelp
		}
		return badInput(errors.New(meshUsage))
	}
	o, err := c.parseMeshCheck(rt, args[1:])
	if err != nil {
		return err
	}
	return c.meshCheck(ctx, rt, o)
}

type meshOptions struct {
	manifest    string
	manifestSet bool
	checks      []mesh.Layer
	failOn      string
	output      string
	sarifFile   string
	policyDirs  []string
	namespace   string
	root        string
	monitoring  listFlag
	trustDomain string
	evidenceEnv string
	paths       []string
	repoRoot    string
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func (c *Command) parseMeshCheck(rt *actions.Runtime, args []string) (meshOptions, error) {
	var o meshOptions
	var checks string
	var dirs listFlag
	fs := c.flags("mesh check", "mesh check [--checks schema,istio,analysis,policy] [--fail-on error|warning|never] [--output text|json|sarif] [--sarif-file PATH] [--policy DIR] [--manifest PATH] [PATH ... | -]\n\n"+
		"Checks Istio YAML: PATHs are files, directories (searched for .yaml, .yml and .json)\n"+
		"or - for standard input. Without PATHs, every service's mesh directory in the manifest.")
	fs.StringVar(&o.manifest, "manifest", manifest.DefaultFile, "the promotion manifest: its services' mesh directories are the default PATHs, and their compliance modes feed the policies (optional)")
	fs.StringVar(&checks, "checks", "all", "the layers to run, comma-separated: schema, istio, analysis, policy (schema,istio is what istioctl validate checks)")
	fs.StringVar(&o.failOn, "fail-on", "error", "exit 1 when a finding is at least this severe: error, warning or never")
	fs.StringVar(&o.output, "output", "text", "what to print: text, json or sarif")
	fs.StringVar(&o.sarifFile, "sarif-file", "", "also write SARIF 2.1.0 to this file, for GitHub code scanning")
	fs.Var(&dirs, "policy", "a directory of your own Rego policies (package promote.mesh.<name>, see docs/policies.md); repeatable")
	fs.StringVar(&o.namespace, "namespace", "default", "the namespace of resources that name none")
	fs.StringVar(&o.root, "root-namespace", "", "Istio's root namespace, where resources without a selector apply to the whole mesh (default: the manifest's mesh.root_namespace, else istio-system)")
	fs.Var(&o.monitoring, "monitoring-namespaces", "namespaces allowed to reach metrics ports, comma-separated (default: the manifest's mesh.monitoring_namespaces, else monitoring)")
	fs.StringVar(&o.trustDomain, "trust-domain", "cluster.local", "the mesh's trust domain, for the policies")
	fs.StringVar(&o.evidenceEnv, "evidence", "", "seal the result as signed evidence for this environment of the manifest: one mesh-check record per service, covering the JSON report (needs the manifest's evidence section)")
	// Flags may follow the paths (promote mesh check dir --fail-on warning);
	// after "--" everything is a path.
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, err
			}
			return o, &exitError{ExitBadInput, fmt.Errorf("%w (see promote mesh check -h)", err)}
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if consumed := len(rest) - len(left); consumed > 0 && rest[consumed-1] == "--" {
			o.paths = append(o.paths, left...)
			break
		}
		o.paths, rest = append(o.paths, left[0]), left[1:]
	}
	// Only a manifest named on the command line must exist; the action's
	// input always holds the default.
	fs.Visit(func(f *flag.Flag) { o.manifestSet = o.manifestSet || f.Name == "manifest" })
	if err := rt.ApplyInputs(fs); err != nil {
		return o, badInput(err)
	}
	if len(o.paths) == 0 {
		// In a workflow the action passes paths as an input, one per line
		// or separated by spaces.
		o.paths = strings.Fields(rt.Input("paths"))
	}
	o.policyDirs = dirs
	var err error
	if o.checks, err = mesh.ParseChecks(checks); err != nil {
		return o, badInput(fmt.Errorf("--checks: %w", err))
	}
	if !slices.Contains([]string{"error", "warning", "never"}, o.failOn) {
		return o, badInput(fmt.Errorf("--fail-on: unknown value %q (expected error, warning or never)", o.failOn))
	}
	if !slices.Contains([]string{"text", "json", "sarif"}, o.output) {
		return o, badInput(fmt.Errorf("--output: unknown format %q (expected text, json or sarif)", o.output))
	}
	o.repoRoot = c.Getenv("GITHUB_WORKSPACE")
	if o.repoRoot == "" {
		if wd, err := os.Getwd(); err == nil {
			o.repoRoot = wd
		}
	}
	return o, nil
}

func (c *Command) meshCheck(ctx context.Context, rt *actions.Runtime, o meshOptions) error {
	opts := mesh.Options{Checks: o.checks, RootNamespace: o.root, MonitoringNamespaces: o.monitoring, TrustDomain: o.trustDomain}
	m, err := c.meshManifest(rt, o)
	if err != nil {
		return err
	}
	if o.evidenceEnv != "" {
		if m == nil || m.Evidence == nil {
			return badInput(errors.New("--evidence needs a manifest with an evidence section (see docs/manifest.md)"))
		}
		if _, ok := m.Environment(o.evidenceEnv); !ok {
			return badInput(fmt.Errorf("--evidence: unknown environment %q (expected one of %s)", o.evidenceEnv, strings.Join(m.EnvironmentNames(), ", ")))
		}
	}
	started := time.Now()
	var owner mesh.Owner
	paths := o.paths
	if m != nil {
		repo, err := mesh.FromManifest(m)
		if err != nil {
			return badInput(err)
		}
		repo.Apply(&opts)
		owner = repo.Owner
		if len(paths) == 0 {
			paths = repo.Paths
		}
	}
	if len(paths) == 0 {
		return badInput(errors.New("nothing to check: name files or directories (or - for standard input), or give services a mesh: directory in the manifest"))
	}
	if opts.Runs(mesh.LayerPolicy) {
		engine, err := policy.Load(ctx, policies.FS, "mesh", o.policyDirs)
		if err != nil {
			return badInput(err)
		}
		opts.Policies = engine
	}
	if c.Getenv("GOGC") == "" {
		// A check keeps most of what it allocates (the parsed YAML, the
		// decoded specs) until it ends, so at Go's default (GOGC=100) the
		// collector scans the growing heap again and again (a sixth of a
		// large check's CPU time). Unless the user chose, let the heap
		// grow to three times what is live between collections.
		defer debug.SetGCPercent(debug.SetGCPercent(meshGCPercent))
	}
	set, err := mesh.Load(paths, mesh.LoadOptions{DefaultNamespace: o.namespace, Owner: owner, Stdin: c.Stdin})
	if err != nil {
		return badInput(err)
	}
	rep, err := mesh.Check(ctx, set, opts)
	if err != nil {
		return err
	}
	var sarif bytes.Buffer
	if o.output == "sarif" || o.sarifFile != "" {
		opts := report.SARIFOptions{Root: o.repoRoot, ToolVersion: version(), InformationURI: "https://github.com/promote-dev/promote"}
		if err := report.SARIF(&sarif, rep, opts); err != nil {
			return err
		}
	}
	switch o.output {
	case "json":
		err = report.JSON(c.Stdout, rep)
	case "sarif":
		_, err = c.Stdout.Write(sarif.Bytes())
	default:
		err = report.Text(c.Stdout, rep)
	}
	if err != nil {
		return err
	}
	if o.sarifFile != "" {
		if err := os.MkdirAll(filepath.Dir(o.sarifFile), 0o755); err != nil {
			return fmt.Errorf("write the SARIF file: %w", err)
		}
		if err := os.WriteFile(o.sarifFile, sarif.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write the SARIF file: %w", err)
		}
	}
	if o.evidenceEnv != "" {
		if err := c.sealMeshCheck(ctx, rt, o, m, set, rep, started); err != nil {
			return err
		}
	}
	errs, warns, _ := rep.Counts()
	failed := false
	for _, f := range rep.Findings {
		failed = failed || o.failOn != "never" && o.fails(f.Severity)
	}
	if rt.Enabled() {
		// Annotations name files relative to the repository (SARIF
		// already does).
		for i, f := range rep.Findings {
			rep.Findings[i].File = workspaceRelative(o.repoRoot, f.File)
		}
		if err := report.Annotate(rt, rep); err != nil {
			return err
		}
		rt.AddSummary(report.Markdown(rep))
		for name, v := range map[string]string{"errors": strconv.Itoa(errs), "warnings": strconv.Itoa(warns), "sarif_file": o.sarifFile} {
			if err := rt.SetOutput(name, v); err != nil {
				return err
			}
		}
	}
	if failed {
		return &exitError{ExitFindings, errReported}
	}
	return nil
}

// fails reports whether a finding of severity s fails the check: errors
// always, warnings with --fail-on warning. (--fail-on never keeps the exit
// code at 0; sealed evidence still records errors as a failed check.)
func (o meshOptions) fails(s mesh.Severity) bool {
	return s == mesh.Error || o.failOn == "warning" && s == mesh.Warning
}

// sealMeshCheck records the check as evidence: one mesh-check record per
// manifest service with a mesh directory, passed or failed by --fail-on
// over the findings in its files, each covering the JSON report, which is
// stored beside the records as reports/<sha256>.json.
func (c *Command) sealMeshCheck(ctx context.Context, rt *actions.Runtime, o meshOptions, m *manifest.Manifest, set *mesh.Set, rep *mesh.Report, started time.Time) error {
	commit := c.Getenv("GITHUB_SHA")
	if commit == "" {
		commit, _ = git.Head(ctx, filepath.Dir(m.File))
	}
	if len(commit) != 40 {
		return badInput(errors.New("--evidence: no commit to seal the check for: run in a git checkout, or set GITHUB_SHA"))
	}
	var buf bytes.Buffer
	if err := report.JSON(&buf, rep); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	digest := hex.EncodeToString(sum[:])
	failing := map[string]bool{}
	serviceOf, fileService := map[string]string{}, map[string]string{}
	for _, r := range set.Resources {
		serviceOf[r.Ref()] = r.Service
		fileService[r.Pos.File] = r.Service
	}
	for _, f := range rep.Findings {
		if o.fails(f.Severity) {
			failing[cmp.Or(serviceOf[f.Resource], fileService[f.File])] = true
		}
	}
	repo := ""
	if r := c.Getenv("GITHUB_REPOSITORY"); r != "" {
		repo = strings.TrimSuffix(cmp.Or(c.Getenv("GITHUB_SERVER_URL"), "https://github.com"), "/") + "/" + r
	}
	var records []evidence.Record
	for _, s := range m.Services {
		if s.Mesh == "" {
			continue
		}
		outcome := "passed"
		if failing[s.Name] {
			outcome = "failed"
		}
		records = append(records, evidence.Record{
			Kind:             evidence.KindMeshCheck,
			Repository:       repo,
			Commit:           commit,
			Service:          s.Name,
			Environment:      o.evidenceEnv,
			Node:             s.Name + "@" + o.evidenceEnv,
			WorkflowRunURL:   rt.RunURL(),
			Actor:            cmp.Or(c.Getenv("GITHUB_ACTOR"), c.Getenv("USER"), "unknown"),
			Approvers:        []string{},
			StartedAt:        started,
			FinishedAt:       time.Now(),
			Outcome:          outcome,
			MeshReportSHA256: digest,
			Mesh:             mesh.Summary(set, rep, o.root, s.Name),
		})
	}
	if len(records) == 0 {
		return badInput(errors.New("--evidence: no service of the manifest has a mesh directory to seal a check for"))
	}
	n, err := c.sealRecords(ctx, rt, m, records, map[string][]byte{evidence.ReportsPrefix + digest + ".json": buf.Bytes()})
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(c.Stderr, "Sealed %d mesh-check records in %s (report sha256:%s)\n", n, m.Evidence.Store, digest)
	}
	return nil
}

// workspaceRelative returns file relative to root when it lies inside it,
// else file unchanged.
func workspaceRelative(root, file string) string {
	abs, err := filepath.Abs(file)
	if err != nil || root == "" {
		return file
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return file
	}
	return filepath.ToSlash(rel)
}

// meshManifest reads the manifest when there is one: a --manifest that was
// given must exist, the default may not.
func (c *Command) meshManifest(rt *actions.Runtime, o meshOptions) (*manifest.Manifest, error) {
	if !o.manifestSet {
		if _, err := os.Stat(o.manifest); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	_, m, err := c.loadManifest(rt, o.manifest, o.output == "json")
	return m, err
}

// meshTestPolicies runs the OPA tests (*_test.rego) of the policies in dirs
// together with the shipped policies and their library, with the OPA that
// mesh check uses, as `opa test` would without a copy of the library.
func (c *Command) meshTestPolicies(ctx context.Context, args []string) error {
	usage := "mesh test-policies [-v] [DIR ...]\n\n" +
		"Runs the Rego tests (*_test.rego) of the policies in each DIR, with Promote's shipped\n" +
		"policies and their library (data.promote.mesh.istio) loaded, as mesh check loads them.\n" +
		"Without DIRs it runs the shipped policies' own tests."
	fs := c.flags("mesh test-policies", usage)
	verbose := fs.Bool("v", false, "also list the tests that pass, and what each printed")
	fs.Usage = func() { // not an action: no inputs
		fmt.Fprintf(c.Stderr, "Usage: promote %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
		fmt.Fprintf(c.Stderr, "\n%s", exitCodes)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return badInput(fmt.Errorf("%w (see promote mesh test-policies -h)", err))
	}
	dirs := fs.Args()
	results, err := policy.Test(ctx, policies.FS, "mesh", dirs)
	if err != nil {
		return badInput(err)
	}
	var passed, failed, skipped int
	for _, r := range results {
		// With DIRs, the shipped tests are run but only reported when
		// they fail: then a policy of DIRs broke the library (it defines
		// a rule in one of its packages).
		if len(dirs) > 0 && strings.HasPrefix(r.File, "promote:") && (r.Passed() || r.Skip) {
			continue
		}
		switch {
		case r.Skip:
			skipped++
		case r.Passed():
			passed++
		default:
			failed++
		}
		if !r.Passed() && !r.Skip || *verbose {
			fmt.Fprintln(c.Stdout, r)
			if r.Output != "" && (*verbose || !r.Passed()) {
				fmt.Fprintln(c.Stdout, "\t"+strings.ReplaceAll(strings.TrimRight(r.Output, "\n"), "\n", "\n\t"))
			}
		}
	}
	fmt.Fprintf(c.Stdout, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		return &exitError{ExitFindings, errReported}
	}
	return nil
}
