// Package cli is the promote command line: it parses arguments (and, in
// GitHub Actions, inputs), runs a subcommand and maps its result to an exit
// code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/promote-dev/promote/internal/actions"
)

// Exit codes, the same for every subcommand.
const (
	ExitOK       = 0 // clean
	ExitFindings = 1 // findings, a policy violation or a failed promotion
	ExitBadInput = 2 // bad usage or bad input, such as a manifest error
	ExitInternal = 3 // an internal or infrastructure failure
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = ""

// Command runs promote with injected streams and environment, so tests run it
// end to end in-process.
type Command struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// exitError carries an exit code to Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as the user's to fix: exit code 2.
func badInput(err error) error { return &exitError{ExitBadInput, err} }

// errReported is an error whose details were already written out.
var errReported = errors.New("errReported")

type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error
}

func subcommands() []subcommand {
	return []subcommand{
		{"plan", "compute the promotion plan of a manifest and show it", runPlan},
		{"run", "promote: deploy the plan's nodes in dependency order, in parallel", runRun},
		{"mesh", "check Istio YAML (schema, Istio's rules, analysis, Rego policies); test your policies", runMesh},
		{"evidence", "verify the evidence chain, print its public keys, check its S3 bucket", runEvidence},
		{"kpi", "compute promotion, DORA, evidence and mesh KPIs from the evidence; serve them to Prometheus", runKPI},
		{"schema", "print the JSON Schema of promotion.yaml", runSchema},
		{"version", "print promote's version", runVersion},
	}
}

// Main runs promote with args (without the program name) and returns the exit
// code.
func (c *Command) Main(ctx context.Context, args []string) int {
	rt := actions.New(actions.WithGetenv(c.Getenv), actions.WithStdout(c.Stdout))
	if len(args) == 0 {
		c.usage(c.Stderr)
		return ExitBadInput
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		c.usage(c.Stdout)
		return ExitOK
	}
	for _, sc := range subcommands() {
		if sc.name != args[0] {
			continue
		}
		err := sc.run(ctx, c, rt, args[1:])
		if ferr := rt.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("write the step summary: %w", ferr)
		}
		return c.exit(rt, err)
	}
	fmt.Fprintf(c.Stderr, "promote: unknown command %q\n\n", args[0])
	c.usage(c.Stderr)
	return ExitBadInput
}

func (c *Command) exit(rt *actions.Runtime, err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	code := ExitInternal
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintf(c.Stderr, "promote: %s\n", rt.Redact(err.Error()))
		if code != ExitFindings {
			_ = rt.Annotate(actions.Annotation{Level: actions.Error, Message: err.Error()})
		}
	}
	return code
}

func (c *Command) usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("promote promotes a repository's services across environments through GitHub.\n\nUsage:\n  promote <command> [flags]\n\nCommands:\n")
	for _, sc := range subcommands() {
		fmt.Fprintf(&b, "  %-9s %s\n", sc.name, sc.summary)
	}
	b.WriteString("\nRun 'promote <command> -h' for a command's flags.\n\n" + exitCodes)
	io.WriteString(w, b.String())
}

const exitCodes = `Exit codes:
  0  clean
  1  findings, a policy violation or a failed promotion
  2  bad usage or bad input (manifest errors, unknown environment, ...)
  3  internal or infrastructure failure
`

// flags makes a subcommand's flag set, writing help and errors to stderr.
func (c *Command) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.Stderr, "Usage: promote %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
		fmt.Fprintf(c.Stderr, "\nIn GitHub Actions every flag can also be given as input INPUT_<FLAG> (e.g. --changed-since as changed_since).\n\n%s", exitCodes)
	}
	return fs
}

// parse parses args and then, in GitHub Actions, the inputs for flags that
// were not given.
func parse(fs *flag.FlagSet, rt *actions.Runtime, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{ExitBadInput, fmt.Errorf("%w (see promote %s -h)", err, fs.Name())}
	}
	if fs.NArg() > 0 {
		return badInput(fmt.Errorf("unexpected argument %q; promote %s takes only flags (see promote %s -h)", fs.Arg(0), fs.Name(), fs.Name()))
	}
	if err := rt.ApplyInputs(fs); err != nil {
		return badInput(err)
	}
	return nil
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "devel-" + s.Value
			}
		}
	}
	return "devel"
}

func runVersion(_ context.Context, c *Command, rt *actions.Runtime, args []string) error {
	fs := c.flags("version", "version")
	if err := parse(fs, rt, args); err != nil {
		return err
	}
	fmt.Fprintln(c.Stdout, version())
	return nil
}
