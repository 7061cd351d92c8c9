package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/kpi"
	"github.com/promote-dev/promote/internal/manifest"
)

type kpiOptions struct {
	manifest string
	keys     keyFiles
	since    time.Duration
	output   string
	file     string
	push     string
	job      string
	github   bool
	everySig bool
	// serve only
	listen   string
	interval time.Duration
}

// days is a flag.Value for durations that also take days, e.g. 30d.
type days struct{ d *time.Duration }

func (v days) String() string {
	if v.d == nil {
		return ""
	}
	if *v.d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", *v.d/(24*time.Hour))
	}
	return v.d.String()
}

func (v days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		i, err := strconv.Atoi(n)
		if err != nil || i <= 0 {
			return fmt.Errorf("invalid duration %q: use e.g. 30d, 12h or 90m", s)
		}
		*v.d = time.Duration(i) * 24 * time.Hour
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("invalid duration %q: use e.g. 30d, 12h or 90m", s)
	}
	*v.d = d
	return nil
}

func (c *Command) parseKPI(rt *actions.Runtime, name string, args []string) (kpiOptions, error) {
	o := kpiOptions{since: 30 * 24 * time.Hour}
	usage := "kpi [--manifest PATH] [--since 30d] [--output openmetrics|prometheus|json|table] [--file PATH] [--push URL] [--include-github-deployments]"
	if name == "kpi serve" {
		usage = "kpi serve [--manifest PATH] [--listen ADDR] [--interval D] [--since 30d] [--include-github-deployments]"
	}
	fs := c.flags(name, usage)
	fs.StringVar(&o.manifest, "manifest", manifest.DefaultFile, "the promotion manifest, whose evidence section names the store and signer")
	fs.Var(&o.keys, "key", "a PEM public key to trust (repeatable); default: the signer's keys")
	fs.Var(days{&o.since}, "since", "the window of the ratios and DORA gauges, e.g. 30d or 12h")
	fs.BoolVar(&o.everySig, "check-every-signature", false, "verify every record's signature, as promote evidence verify does, not the records a good checkpoint covers through it")
	fs.BoolVar(&o.github, "include-github-deployments", false, "count GitHub Deployments that Promote did not make in the DORA figures (needs GITHUB_REPOSITORY and a token)")
	if name == "kpi serve" {
		fs.StringVar(&o.listen, "listen", ":9464", "address to serve /metrics, /healthz and /readyz on")
		fs.DurationVar(&o.interval, "interval", 5*time.Minute, "how often to refresh the figures from the sources")
	} else {
		fs.StringVar(&o.output, "output", "", "what to write: openmetrics, prometheus (text format 0.0.4), json or table (default table on a terminal, else openmetrics)")
		fs.StringVar(&o.file, "file", "", "write to this file instead of standard output")
		fs.StringVar(&o.push, "push", "", "also push to the Pushgateway at this URL, grouped by job and repository")
		fs.StringVar(&o.job, "job", "promote", "the Pushgateway job name")
	}
	if err := parse(fs, rt, args); err != nil {
		return o, err
	}
	switch o.output {
	case "", "openmetrics", "prometheus", "json", "table":
	default:
		return o, badInput(fmt.Errorf("--output %q: use openmetrics, prometheus, json or table", o.output))
	}
	if o.interval < 0 || name == "kpi serve" && o.interval == 0 {
		return o, badInput(fmt.Errorf("--interval %v: want a positive duration, e.g. 5m", o.interval))
	}
	return o, nil
}

// kpiSources opens what the figures are computed from.
func (c *Command) kpiSources(ctx context.Context, rt *actions.Runtime, o kpiOptions) (kpi.Sources, error) {
	ev, err := c.openEvidence(ctx, rt, o.manifest, o.keys)
	if err != nil {
		return kpi.Sources{}, err
	}
	m, st, s3, keys := ev.m, ev.store, ev.s3, ev.trusted
	spool := spoolOf(m)
	src := kpi.Sources{StoreName: m.Evidence.Store, Store: st, Keys: keys, Spool: &spool, Window: o.since, CheckEverySignature: o.everySig, Nodes: kpi.ManifestNodes(m)}
	if s3 != nil {
		src.Bucket = s3
	}
	if o.github {
		cfg, err := github.ConfigFromEnv(c.Getenv)
		if err != nil {
			return kpi.Sources{}, badInput(fmt.Errorf("--include-github-deployments: %w", err))
		}
		if src.GitHub, err = github.New(ctx, cfg); err != nil {
			return kpi.Sources{}, badInput(fmt.Errorf("--include-github-deployments: %w", err))
		}
	}
	return src, nil
}

func runKPI(ctx context.Context, c *Command, rt *actions.Runtime, args []string) error {
	if len(args) > 0 && args[0] == "serve" {
		return c.kpiServe(ctx, rt, args[1:])
	}
	o, err := c.parseKPI(rt, "kpi", args)
	if err != nil {
		return err
	}
	src, err := c.kpiSources(ctx, rt, o)
	if err != nil {
		return err
	}
	g := kpi.Gather(ctx, src)
	s := kpi.Compute(g.Input, kpi.Options{Now: time.Now(), Since: o.since})
	reg := kpi.Registry(s)

	w, closeOut := c.Stdout, func() error { return nil }
	if o.file != "" {
		f, err := os.Create(o.file)
		if err != nil {
			return badInput(fmt.Errorf("--file: %w", err))
		}
		w, closeOut = f, f.Close
	}
	output := o.output
	if output == "" {
		output = "openmetrics"
		if o.file == "" && isTerminal(c.Stdout) {
			output = "table"
		}
	}
	switch output {
	case "openmetrics":
		err = kpi.WriteOpenMetrics(w, reg)
	case "prometheus":
		err = kpi.WritePrometheusText(w, reg)
	case "json":
		err = kpi.WriteJSON(w, s)
	case "table":
		err = kpi.WriteTable(w, s)
	}
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the KPIs: %w", err)
	}
	if rt.Enabled() {
		rt.AddSummary(kpi.Markdown(s, o.since))
		if err := rt.SetOutput("chain_ok", strconv.FormatBool(s.ChainOK)); err != nil {
			return err
		}
	}
	var errs []error
	if o.push != "" {
		if err := kpi.Push(ctx, nil, o.push, o.job, c.Getenv("GITHUB_REPOSITORY"), reg); err != nil {
			errs = append(errs, err)
		}
	}
	for source, err := range g.Errors {
		if source != kpi.SourceEvidence {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	}
	switch {
	case g.Report == nil:
		return fmt.Errorf("read the evidence in %s: %w", src.StoreName, g.ReadErr)
	case !s.ChainOK:
		return &exitError{ExitFindings, fmt.Errorf("the evidence in %s does not verify (%d problems, the first: %s): the KPIs hold the integrity figures only", src.StoreName, len(s.Problems), s.Problems[0])}
	}
	return errors.Join(errs...)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *Command) kpiServe(ctx context.Context, rt *actions.Runtime, args []string) error {
	o, err := c.parseKPI(rt, "kpi serve", args)
	if err != nil {
		return err
	}
	src, err := c.kpiSources(ctx, rt, o)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.Stderr, nil))
	e := kpi.NewExporter(src, o.since, nil, log)
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return badInput(fmt.Errorf("--listen %q: %w", o.listen, err))
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving", "address", l.Addr().String(), "interval", o.interval, "store", src.StoreName)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	go func() {
		e.Refresh(ctx)
		e.Run(ctx, o.interval)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", o.listen, err)
	case <-ctx.Done():
	}
	// Let scrapes in flight finish.
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	log.Info("stopped")
	return nil
}
