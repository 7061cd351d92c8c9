// Package gateserver is the HTTP server behind a GitHub App's custom
// deployment protection rule: `promote gate serve`.
//
// GitHub gives a webhook 10 seconds, never resends a lost one, and holds a
// run whose rule never answers for 30 days. So the server verifies a
// delivery (HMAC-SHA256 of the body with the webhook secret, in constant
// time), writes it to its database (bbolt) and acknowledges it at once; a
// worker then decides (a Decider: in Promote, the gate's Rego policies)
// and answers on the payload's deployment_callback_url as the App's
// installation. A decision that cannot be made yet (Decision.RetryAt: a
// soak still running) is taken up again at that time; a failed answer is
// retried with backoff; an answer whose fate is unknown (a dropped
// connection, a 5xx, a restart) is checked against the run's pending
// deployments before it is sent again, so no wait gets two answers. A
// restart loses nothing: every job is in the database before GitHub hears
// back. A replayed delivery (its X-GitHub-Delivery, or its exact body, seen
// before) is refused and never decided twice. And because a delivery lost
// on its way is never resent, the server reconciles: it lists the waiting
// runs of the repositories it serves and answers any that its App's rule
// holds and it has no record of.
package gateserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promote-dev/promote/internal/github"
	bolt "go.etcd.io/bbolt"
)

// Decider decides whether a run may deploy to an environment. Decide is
// called from several workers at once.
type Decider interface {
	Decide(ctx context.Context, t Target) (Decision, error)
}

// Target is the deployment a run waits to make.
type Target struct {
	Repository  string // "owner/repo"
	Service     string // the Promote service, when the deployment names it
	Environment string // the GitHub environment
	Commit      string
	RunID       int64
	Actor       string
}

// Decision is a Decider's verdict.
type Decision struct {
	Result  string // allow, deny or warn (warn approves)
	Reasons []Reason
	// RetryAt, when set in the future, means no verdict yet: decide again
	// then (a soak still running). Result is then ignored.
	RetryAt    time.Time
	BreakGlass string // the recorded break-glass reason, if one was used
}

// Reason is one policy's say in a Decision.
type Reason struct {
	Policy, Result, Message, Link string
}

// The results a Decision may have.
const (
	ResultAllow = "allow"
	ResultDeny  = "deny"
	ResultWarn  = "warn"
)

const (
	originWebhook   = "webhook"
	originReconcile = "reconcile"
)

// Config configures a Server. Secret, Decider and GitHub are required.
type Config struct {
	// Secret is the App's webhook secret.
	Secret []byte
	// Decider makes the decisions.
	Decider Decider
	// GitHub is how to reach GitHub as the App: APIURL, AppID,
	// AppPrivateKey, HTTPClient and the limits. Owner, Repo and
	// InstallationID are filled in per delivery. A Token instead of an
	// App works against a test server only: GitHub takes the answer from
	// the App's installation alone.
	GitHub github.Config
	// Repositories maps "owner/repo" to the App's installation on it (0:
	// look it up), for the reconciler; repositories that deliveries came
	// from are reconciled too.
	Repositories map[string]int64
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger

	// MaxBodyBytes caps a delivery's body; 0 means 1 MiB (a protection
	// rule payload is a few tens of kilobytes).
	MaxBodyBytes int64
	// Deciders is how many jobs are decided in parallel, Workers how many
	// answered; 0 means 32 and 8. A decision mostly waits (on GitHub, the
	// evidence store, the database's sync), so many run at once.
	Deciders, Workers int
	// DecideTimeout bounds one decision, CallbackTimeout one answer
	// (GitHub's rate-limit waits included); 0 means 30 s and 2 min.
	DecideTimeout, CallbackTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed attempts;
	// 0 means 1 s and 5 min.
	RetryMin, RetryMax time.Duration
	// ReconcileEvery is the reconciler's period (0: 5 min, negative: off);
	// ReconcileGrace how long a run must have waited before the
	// reconciler takes it up, to leave its delivery time to arrive (0: 2
	// min).
	ReconcileEvery, ReconcileGrace time.Duration
	// Retention is how long answered jobs (and so their delivery GUIDs, for
	// replay protection) are kept; 0 means 30 days, as long as GitHub
	// holds a run.
	Retention time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Deciders <= 0 {
		c.Deciders = 32
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	def(&c.DecideTimeout, 30*time.Second)
	def(&c.CallbackTimeout, 2*time.Minute)
	def(&c.RetryMin, time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.ReconcileEvery, 5*time.Minute)
	def(&c.ReconcileGrace, 2*time.Minute)
	def(&c.Retention, 30*24*time.Hour)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server is the protection rule server. Make one with Open, serve its
// Handler, and call Run to decide and answer; Close it when done.
type Server struct {
	cfg     Config
	db      *bolt.DB
	log     *slog.Logger
	metrics *metrics
	apiBase string     // the API's base URL, with a trailing slash
	decideQ *scheduler // jobs to decide
	answerQ *scheduler // decided jobs to answer

	clientsMu sync.Mutex
	clients   map[string]*github.Client // by "owner/repo#installation"

	rulesMu sync.Mutex
	rules   map[string]ruleCheck // whether the App's rule guards "owner/repo\x00env"

	reports sync.WaitGroup // status reports being posted
	running atomic.Bool    // Run is working
	closed  atomic.Bool
	pending atomic.Int64 // jobs not yet answered
}

// Open opens the database at path (creating it) and returns a Server that
// will take up every unanswered job in it once Run starts.
func Open(path string, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	switch {
	case len(cfg.Secret) == 0:
		return nil, errors.New("no webhook secret: set the App's webhook secret (--webhook-secret-file or PROMOTE_WEBHOOK_SECRET)")
	case cfg.Decider == nil:
		return nil, errors.New("no Decider: the server needs one to decide")
	case cfg.GitHub.AppID == 0 && cfg.GitHub.Token == "":
		return nil, errors.New("no GitHub App: set the App's ID and private key (--app-id, --app-private-key-file)")
	}
	base := cfg.GitHub.APIURL
	if base == "" {
		base = github.DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("the GitHub API URL %q is not an http(s) URL: use https://api.github.com/, or https://HOST/api/v3/ on GitHub Enterprise Server", base)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	db, err := openStore(path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		db:      db,
		log:     cfg.Logger,
		metrics: newMetrics(),
		apiBase: base,
		decideQ: newScheduler(),
		answerQ: newScheduler(),
		clients: map[string]*github.Client{},
		rules:   map[string]ruleCheck{},
	}
	s.metrics.pending.Set(0)
	return s, nil
}

// Close closes the database. Call it after Run has returned.
func (s *Server) Close() error {
	s.closed.Store(true)
	s.decideQ.stop()
	s.answerQ.stop()
	return s.db.Close()
}

// Handler serves the webhook at /webhook (and /), /healthz, /readyz and
// /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", s.serveReady)
	mux.Handle("/metrics", s.metrics.handler())
	mux.HandleFunc("/webhook", s.serveWebhook)
	mux.HandleFunc("/{$}", s.serveWebhook)
	return mux
}

// serveReady answers 200 while the database is open and the workers run.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if s.closed.Load() || !s.running.Load() {
		http.Error(w, "not ready: the workers are not running", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// accepted is the body of a 202 answer.
type accepted struct {
	Delivery string `json:"delivery"`
	Job      string `json:"job"`
	Status   string `json:"status"`
}

func (s *Server) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "only POST: this is a GitHub App's webhook", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.refused(w, r, &RefusalError{Status: http.StatusRequestEntityTooLarge, Reason: fmt.Sprintf("the body is over %d bytes", s.cfg.MaxBodyBytes)})
			return
		}
		s.refused(w, r, &RefusalError{Status: http.StatusBadRequest, Reason: "reading the body: " + err.Error()})
		return
	}
	d, err := ParseDelivery(r.Header, body, s.cfg.Secret)
	if err != nil {
		s.refused(w, r, err)
		return
	}
	if d.Event == eventPing {
		s.log.Info("ping", "delivery", d.ID)
		io.WriteString(w, "pong\n")
		return
	}
	if want := s.callbackURL(d.Owner, d.Repo, d.RunID); !strings.EqualFold(d.CallbackURL, want) {
		s.refused(w, r, &RefusalError{Status: http.StatusBadRequest, Reason: fmt.Sprintf(
			"deployment_callback_url %q is not %q: the server answers only the GitHub API it is configured for", truncate(d.CallbackURL, 200), want)})
		return
	}

	now := time.Now()
	j := &job{
		Key: d.ID, Delivery: d.ID, Origin: originWebhook,
		Owner: d.Owner, Repo: d.Repo, InstallationID: d.InstallationID,
		RunID: d.RunID, Environment: d.Environment, Service: d.Service, Commit: d.Commit, Actor: d.Actor,
		ReceivedAt: now, DueAt: now,
	}
	var adm admission
	var prev *job
	// In a batch, the function may run twice (after a failed batch): admit
	// only reads and writes the transaction.
	err = s.db.Batch(func(tx *bolt.Tx) error {
		var err error
		adm, prev, err = admit(tx, j, d.BodySHA256[:], now)
		return err
	})
	if err != nil {
		s.log.Error("storing a delivery failed", "delivery", d.ID, "err", err)
		http.Error(w, "the delivery could not be stored; redeliver it", http.StatusServiceUnavailable)
		return
	}
	switch adm {
	case replayed:
		state := "unknown"
		if prev != nil {
			state = "pending"
			if prev.done() {
				state = prev.Outcome
			}
		}
		s.refused(w, r, &RefusalError{Status: http.StatusConflict, Reason: fmt.Sprintf("delivery %s was received before (its answer is %s): a delivery is decided once", d.ID, state)})
		return
	case duplicate:
		s.log.Info("delivery for a wait already handled", append(prev.logAttrs(), "delivery", d.ID)...)
		writeJSON(w, http.StatusAccepted, accepted{Delivery: d.ID, Job: prev.Key, Status: "already handled"})
		return
	}
	s.pending.Add(1)
	s.metrics.pending.Set(float64(s.pending.Load()))
	s.log.Info("delivery queued", append(j.logAttrs(), "delivery", d.ID, "commit", j.Commit, "actor", j.Actor)...)
	s.schedule(j)
	writeJSON(w, http.StatusAccepted, accepted{Delivery: d.ID, Job: j.Key, Status: "queued"})
}

// refused answers a refused delivery and logs why, without its body.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, err error) {
	var re *RefusalError
	if !errors.As(err, &re) {
		re = &RefusalError{Status: http.StatusBadRequest, Reason: err.Error()}
	}
	s.metrics.refused.WithLabelValues(http.StatusText(re.Status)).Inc()
	s.log.Warn("delivery refused", "status", re.Status, "reason", re.Reason,
		"delivery", truncate(r.Header.Get(headerDelivery), maxDeliveryIDLen), "event", truncate(r.Header.Get(headerEvent), 64), "remote", r.RemoteAddr)
	http.Error(w, re.Reason, re.Status)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// callbackURL is where GitHub's API takes the answer for a run.
func (s *Server) callbackURL(owner, repo string, runID int64) string {
	return fmt.Sprintf("%srepos/%s/%s/actions/runs/%d/deployment_protection_rule", s.apiBase, owner, repo, runID)
}

// client returns the GitHub client acting as the App's installation on a
// repository, making it on first use: its installation token is cached
// until shortly before it expires.
func (s *Server) client(ctx context.Context, owner, repo string, installation int64) (*github.Client, error) {
	key := fmt.Sprintf("%s/%s#%d", strings.ToLower(owner), strings.ToLower(repo), installation)
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	if c := s.clients[key]; c != nil {
		return c, nil
	}
	cfg := s.cfg.GitHub
	cfg.Owner, cfg.Repo, cfg.InstallationID = owner, repo, installation
	c, err := github.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.clients[key] = c
	return c, nil
}
