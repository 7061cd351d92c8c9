package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/promote-dev/promote/internal/actions"
	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/gate"
	"github.com/promote-dev/promote/internal/gateserver"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/manifest"
)

type gateServeOptions struct {
	manifest, repository, listen, db string
	secretFile, keyFile, logFormat   string
	policyDirs                       listFlag
	reconcileEvery                   time.Duration
	maxBody                          int64
}

func (c *Command) parseGateServe(rt *actions.Runtime, args []string) (gateServeOptions, error) {
	var o gateServeOptions
	fs := c.flags("gate serve", "gate serve [--listen ADDR] [--db PATH] [--manifest PATH] [--repository OWNER/REPO] [--policy DIR]\n\n"+
		"Serves a GitHub App's custom deployment protection rule: verifies each\n"+
		"deployment_protection_rule delivery, decides with the gate's policies and\n"+
		"answers GitHub as the App. The App: PROMOTE_APP_ID and PROMOTE_APP_PRIVATE_KEY\n"+
		"(or --app-private-key-file), optionally PROMOTE_APP_INSTALLATION_ID; the webhook\n"+
		"secret: PROMOTE_WEBHOOK_SECRET or --webhook-secret-file; GITHUB_API_URL on GHES.")
	fs.StringVar(&o.manifest, "manifest", manifest.DefaultFile, "the promotion manifest of the repository the server gates")
	fs.StringVar(&o.repository, "repository", c.Getenv("GITHUB_REPOSITORY"), "the repository the manifest describes, owner/repo (default $GITHUB_REPOSITORY)")
	fs.StringVar(&o.listen, "listen", ":8080", "the address to serve the webhook, /healthz, /readyz and /metrics on")
	fs.StringVar(&o.db, "db", "promote-gate.db", "the database of pending decisions (bbolt); keep it on a persistent volume")
	fs.StringVar(&o.secretFile, "webhook-secret-file", "", "a file holding the App's webhook secret (default: $PROMOTE_WEBHOOK_SECRET)")
	fs.StringVar(&o.keyFile, "app-private-key-file", "", "the App's private key, PEM (default: $PROMOTE_APP_PRIVATE_KEY)")
	fs.Var(&o.policyDirs, "policy", "a directory of your own gate policies (package promote.gates.<name>); repeatable")
	fs.DurationVar(&o.reconcileEvery, "reconcile-every", 5*time.Minute, "how often to look for waiting runs whose delivery was lost (0: never)")
	fs.Int64Var(&o.maxBody, "max-body-bytes", 1<<20, "the largest delivery accepted")
	fs.StringVar(&o.logFormat, "log-format", "json", "the log format on stderr: json or text")
	if err := parse(fs, rt, args); err != nil {
		return o, err
	}
	if o.logFormat != "json" && o.logFormat != "text" {
		return o, badInput(fmt.Errorf("--log-format %q: use json or text", o.logFormat))
	}
	return o, nil
}

// runGateServe runs the protection rule server until ctx ends (SIGINT or
// SIGTERM), then shuts down gracefully.
func (c *Command) runGateServe(ctx context.Context, rt *actions.Runtime, args []string) error {
	o, err := c.parseGateServe(rt, args)
	if err != nil {
		return err
	}
	secret, err := c.secret(o.secretFile)
	if err != nil {
		return badInput(err)
	}
	ghCfg, err := c.appConfig(o)
	if err != nil {
		return badInput(err)
	}
	_, m, err := c.loadManifest(rt, o.manifest, false)
	if err != nil {
		return err
	}
	client, err := github.New(ctx, ghCfg)
	if err != nil {
		return err
	}
	gcfg := gate.Config{Manifest: m, GitHub: client, ServerURL: c.Getenv("GITHUB_SERVER_URL"), PolicyDirs: o.policyDirs}
	if m.Evidence != nil {
		l, err := c.openLedger(ctx, rt, m)
		if err != nil {
			return err
		}
		var sealing sync.Mutex // one chain: one append at a time
		gcfg.Evidence, gcfg.Keys = l.store, l.keys
		gcfg.Seal = func(ctx context.Context, records []evidence.Record, blobs map[string][]byte) error {
			sealing.Lock()
			defer sealing.Unlock()
			_, err := c.seal(ctx, rt, l, records, blobs)
			return err
		}
	}
	g, err := gate.New(ctx, gcfg)
	if err != nil {
		return badInput(err)
	}
	handler := slog.Handler(slog.NewJSONHandler(c.Stderr, nil))
	if o.logFormat == "text" {
		handler = slog.NewTextHandler(c.Stderr, nil)
	}
	srv, err := gateserver.Open(o.db, gateserver.Config{
		Secret:         secret,
		Decider:        gateserver.GateDecider{Gate: g, Manifest: m, Repository: ghCfg.Owner + "/" + ghCfg.Repo},
		GitHub:         ghCfg,
		Repositories:   map[string]int64{ghCfg.Owner + "/" + ghCfg.Repo: ghCfg.InstallationID},
		Logger:         slog.New(handler),
		MaxBodyBytes:   o.maxBody,
		ReconcileEvery: cmpDuration(o.reconcileEvery),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return badInput(fmt.Errorf("--listen %q: %w", o.listen, err))
	}
	return srv.Serve(ctx, ln)
}

// cmpDuration maps the flag's "0: never" to the server's negative.
func cmpDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// secret reads the webhook secret from a file or PROMOTE_WEBHOOK_SECRET;
// it is never printed.
func (c *Command) secret(file string) ([]byte, error) {
	s := c.Getenv("PROMOTE_WEBHOOK_SECRET")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file: %w", err)
		}
		s = string(b)
	}
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return nil, errors.New("no webhook secret: set PROMOTE_WEBHOOK_SECRET or --webhook-secret-file to the secret in the App's webhook settings")
	}
	return []byte(s), nil
}

// appConfig reads the App's credentials as every command does
// (github.ConfigFromEnv), with the repository and key file from the flags.
func (c *Command) appConfig(o gateServeOptions) (github.Config, error) {
	if strings.TrimSpace(c.Getenv("PROMOTE_APP_ID")) == "" {
		return github.Config{}, errAppNeeded
	}
	var key string
	if o.keyFile != "" {
		b, err := os.ReadFile(o.keyFile)
		if err != nil {
			return github.Config{}, fmt.Errorf("--app-private-key-file: %w", err)
		}
		key = string(b)
	}
	cfg, err := github.ConfigFromEnv(func(name string) string {
		switch {
		case name == "GITHUB_REPOSITORY":
			return o.repository
		case name == "PROMOTE_APP_PRIVATE_KEY" && key != "":
			return key
		case name == "GITHUB_TOKEN":
			return "" // only the App may answer its rule
		}
		return c.Getenv(name)
	})
	if err != nil {
		return github.Config{}, err
	}
	if cfg.AppID == 0 {
		return github.Config{}, errAppNeeded
	}
	return cfg, nil
}

var errAppNeeded = errors.New("gate serve answers as a GitHub App, which alone may answer its protection rule: set PROMOTE_APP_ID and PROMOTE_APP_PRIVATE_KEY (or --app-private-key-file)")
