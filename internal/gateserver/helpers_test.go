package gateserver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
)

const (
	testAppID        = 31337
	testInstallation = 4242
	testSecret       = "It's a Secret to Everybody"
)

// appKey is the test App's key, generated once per test binary.
var appKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func appKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey())})
}

// decideFunc is a Decider from a function.
type decideFunc func(ctx context.Context, t Target) (Decision, error)

func (f decideFunc) Decide(ctx context.Context, t Target) (Decision, error) { return f(ctx, t) }

// allowAll allows every target, naming the commit in its reason.
var allowAll = decideFunc(func(_ context.Context, t Target) (Decision, error) {
	return Decision{Result: ResultAllow, Reasons: []Reason{{Policy: "test", Result: ResultAllow, Message: "commit " + t.Commit + " may go"}}}, nil
})

// rig is a gate server in front of an in-memory GitHub whose "production"
// environment has the App's custom protection rule.
type rig struct {
	t      testing.TB
	gh     *githubtest.Server
	srv    *Server
	dbPath string
	cfg    Config
	api    *http.Client
	stop   context.CancelFunc
	done   chan struct{}
}

type rigOptions struct {
	github  githubtest.Options
	decider Decider
	config  func(*Config)
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	o.github.App = &githubtest.App{ID: testAppID, InstallationID: testInstallation, PublicKey: &appKey().PublicKey}
	if o.github.WritesPerMinute == 0 {
		o.github.WritesPerMinute, o.github.WritesPerHour = -1, -1
	}
	gh := githubtest.New(o.github)
	t.Cleanup(gh.Close)
	gh.AddEnvironment("production", githubtest.Protection{CustomRule: true})
	gh.AddEnvironment("staging", githubtest.Protection{})
	gh.AddWorkflow("deploy.yml", githubtest.Workflow{
		Inputs: []string{"service", "environment"}, Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) githubtest.RunScript { return githubtest.RunScript{Duration: time.Hour} },
	})
	if o.decider == nil {
		o.decider = allowAll
	}
	cfg := Config{
		Secret:  []byte(testSecret),
		Decider: o.decider,
		GitHub: github.Config{
			APIURL: gh.URL(), AppID: testAppID, AppPrivateKey: appKeyPEM(),
			HTTPClient: gh.Client(), WritesPerMinute: -1, WritesPerHour: -1,
		},
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ReconcileEvery: -1,
		RetryMin:       100 * time.Millisecond,
		RetryMax:       2 * time.Second,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	r := &rig{t: t, gh: gh, dbPath: filepath.Join(t.TempDir(), "gate.db"), cfg: cfg}
	r.api = gh.Client()
	r.open()
	t.Cleanup(r.kill)
	return r
}

// open opens the server on the rig's database and starts its workers.
func (r *rig) open() {
	r.t.Helper()
	srv, err := Open(r.dbPath, r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := srv.Run(ctx); err != nil {
			r.t.Errorf("Run: %v", err)
		}
	}()
}

// kill stops the workers wherever they are and closes the database, as a
// crash would leave it: what was committed stays.
func (r *rig) kill() {
	if r.srv == nil {
		return
	}
	r.stop()
	<-r.done
	r.srv.Close()
	r.srv = nil
}

// dispatch starts a deploy run to env and returns its id.
func (r *rig) dispatch(env string) int64 {
	r.t.Helper()
	body := fmt.Sprintf(`{"ref":"main","inputs":{"service":"api","environment":%q},"return_run_details":true}`, env)
	req, _ := http.NewRequest("POST", r.gh.URL()+"repos/acme/app/actions/workflows/deploy.yml/dispatches", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer dispatcher")
	resp, err := r.api.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID int64 `json:"workflow_run_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.ID == 0 {
		r.t.Fatalf("dispatch: %s, %v", resp.Status, err)
	}
	return out.ID
}

// event is the deployment_protection_rule payload of a run.
func (r *rig) event(runID int64) []byte {
	r.t.Helper()
	b, err := r.gh.ProtectionRuleEvent(runID)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// deliver posts a signed delivery to the server's handler and returns the
// answer's status and body.
func (r *rig) deliver(guid string, body []byte) (int, string) {
	r.t.Helper()
	req := signedRequest(guid, body)
	w := httptest.NewRecorder()
	r.srv.Handler().ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func signedRequest(guid string, body []byte) *http.Request {
	req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	req.Header.Set(headerEvent, eventProtectionRule)
	req.Header.Set(headerDelivery, guid)
	req.Header.Set(headerSignature, sign(body))
	return req
}

func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

var guidSeq atomic.Int64

func newGUID() string {
	return fmt.Sprintf("6b0f2c1e-0000-11f0-8000-%012d", guidSeq.Add(1))
}

// reviews returns the state reviews of the App's rule per run.
func (r *rig) reviews() map[int64][]githubtest.ProtectionRuleReview {
	out := map[int64][]githubtest.ProtectionRuleReview{}
	for _, run := range r.gh.Runs() {
		for _, rv := range run.ProtectionRuleReviews {
			if rv.State != "" {
				out[run.ID] = append(out[run.ID], rv)
			}
		}
	}
	return out
}

// waitAnswered polls (in real time, asserting nothing about it) until every
// run in ids has an answer, or fails after a generous deadline.
func (r *rig) waitAnswered(ids []int64, deadline time.Duration) {
	r.t.Helper()
	end := time.Now().Add(deadline)
	for {
		got := r.reviews()
		missing := 0
		for _, id := range ids {
			if len(got[id]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(end) {
			r.t.Fatalf("%d of %d runs still unanswered after %v", missing, len(ids), deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric returns the value of a sample line on /metrics, or "".
func (r *rig) metric(line string) string {
	r.t.Helper()
	w := httptest.NewRecorder()
	r.srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for l := range strings.Lines(w.Body.String()) {
		if name, value, ok := strings.Cut(strings.TrimSpace(l), " "); ok && name == line {
			return value
		}
	}
	return ""
}

// testWriter sends logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// withDeployment adds the deployment GitHub creates for a job that names an
// environment (the fake's jobs create none), in the webhook schema's shape,
// with Promote's payload naming the service.
func withDeployment(t testing.TB, body []byte, sha, service string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	repo := m["repository"].(map[string]any)
	const id = 1000001
	url := fmt.Sprintf("%s/deployments/%d", repo["url"], id)
	m["deployment"] = map[string]any{
		"url": url, "id": id, "node_id": "DE_kwDOAAAB", "sha": sha, "ref": "main", "task": "deploy",
		"payload":     map[string]any{"promote": map[string]any{"service": service}},
		"environment": m["environment"], "description": nil, "creator": m["sender"],
		"created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z",
		"statuses_url": url + "/statuses", "repository_url": repo["url"],
		"original_environment": m["environment"], "transient_environment": false, "production_environment": true,
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
