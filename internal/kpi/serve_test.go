package kpi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/promote-dev/promote/internal/evidence"
	"github.com/promote-dev/promote/internal/github"
	"github.com/promote-dev/promote/internal/githubtest"
)

// flakyStore is an evidence store that can be taken down.
type flakyStore struct {
	evidence.Store
	down bool
}

func (s *flakyStore) List(ctx context.Context, prefix string) ([]string, error) {
	if s.down {
		return nil, errors.New("connection refused")
	}
	return s.Store.List(ctx, prefix)
}

// newGitHub returns a client of an in-memory GitHub that holds two
// Deployments Promote did not make (one succeeded, one failed) and one it
// made.
func newGitHub(t *testing.T) *github.Client {
	t.Helper()
	srv := githubtest.New(githubtest.Options{})
	t.Cleanup(srv.Close)
	c, err := github.New(context.Background(), github.Config{APIURL: srv.URL(), Token: "t", Owner: "acme", Repo: "app", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, d := range []struct {
		task, state string
		payload     any
	}{
		{"deploy:billing", "success", nil},
		{"deploy:billing", "failure", nil},
		{"deploy:api", "success", map[string]any{"promote": map[string]any{"node": "api@production"}}},
	} {
		req := &gh.DeploymentRequest{Ref: gh.String("main"), Task: gh.String(d.task), Environment: gh.String("production"),
			AutoMerge: gh.Bool(false), RequiredContexts: &[]string{}, Payload: d.payload}
		dep, _, err := c.GH.Repositories.CreateDeployment(ctx, "acme", "app", req)
		if err != nil {
			t.Fatalf("deployment %d: %v", i, err)
		}
		if _, _, err := c.GH.Repositories.CreateDeploymentStatus(ctx, "acme", "app", dep.GetID(), &gh.DeploymentStatusRequest{State: gh.String(d.state)}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestExporterRefresh serves the figures, refreshes with nothing changed
// (GitHub answers every request with 304: the same requests each time, none
// counted against the rate limit), and keeps serving the last good figures
// when the evidence store goes down, saying so.
func TestExporterRefresh(t *testing.T) {
	t.Parallel()
	st, keys, _ := testChain(t)
	store := &flakyStore{Store: st}
	client := newGitHub(t)
	e := NewExporter(Sources{StoreName: "file://evidence", Store: store, Keys: keys, GitHub: client}, 30*24*time.Hour, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first refresh = %d, want 503", code)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}

	ctx := context.Background()
	if errs := e.Refresh(ctx); len(errs) > 0 {
		t.Fatalf("Refresh() errors = %v", errs)
	}
	first := client.Stats()
	counted := client.Counted()
	for i := range 3 {
		if errs := e.Refresh(ctx); len(errs) > 0 {
			t.Fatalf("Refresh() errors = %v", errs)
		}
		requests, notModified := 0, 0
		for route, s := range client.Stats() {
			requests += s.Total - first[route].Total
			notModified += s.NotModified - first[route].NotModified
		}
		// One page of deployments and the statuses of the two that are
		// not Promote's: three requests, all 304.
		if requests != 3*(i+1) || notModified != requests || client.Counted() != counted {
			t.Errorf("refresh %d: %d requests, %d answered 304, %d counted (was %d); want 3 a refresh, all 304, none counted", i+2, requests, notModified, client.Counted(), counted)
		}
	}
	if v, ok := e.Snapshot().Value(DORADeployments, "billing", "production", "failed"); !ok || v != 1 {
		t.Errorf("GitHub's failed billing deployment = %v (present %v), want 1", v, ok)
	}
	if _, ok := e.Snapshot().Value(DORADeployments, "api", "production", "succeeded"); !ok {
		t.Errorf("the chain's api deployment is missing")
	}

	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `promote_promotions_total{environment="production",result="failed",service="api"} 2`) ||
		!strings.Contains(body, "promote_kpi_last_refresh_timestamp_seconds") {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}

	store.down = true
	errs := e.Refresh(ctx)
	if errs[SourceEvidence] == nil {
		t.Fatalf("Refresh() with the store down errors = %v, want the evidence source's", errs)
	}
	_, body = get("/metrics")
	for _, want := range []string{
		`promote_kpi_refresh_errors_total{source="evidence"} 1`,
		`promote_promotions_total{environment="production",result="failed",service="api"} 2`,
		`promote_evidence_chain_ok 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics with the store down lacks %s:\n%s", want, body)
		}
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after a refresh = %d, want 200", code)
	}
}
