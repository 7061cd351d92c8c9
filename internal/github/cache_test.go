package github

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v60/github"
)

// etagServer serves the deployments list with an ETag that changes with
// the content, and answers 304 to a matching If-None-Match.
type etagServer struct {
	mu   sync.Mutex
	etag string
	body string
}

func (e *etagServer) set(etag, body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.etag, e.body = etag, body
}

func (e *etagServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	etag, body := e.etag, e.body
	e.mu.Unlock()
	w.Header().Set("X-RateLimit-Remaining", "4999")
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(body))
}

func TestETagRoundTrip(t *testing.T) {
	t.Parallel()
	list := &etagServer{}
	list.set(`W/"v1"`, `[{"id":1}]`)
	route := "GET " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: list.ServeHTTP})
	c, _ := newTestClient(t, srv, nil)
	ctx := context.Background()
	ids := func() []int64 {
		t.Helper()
		deps, resp, err := c.GH.Repositories.ListDeployments(ctx, testOwner, testRepo, nil)
		if err != nil {
			t.Fatalf("ListDeployments: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("StatusCode = %d, want 200 for go-github", resp.StatusCode)
		}
		var out []int64
		for _, d := range deps {
			out = append(out, d.GetID())
		}
		return out
	}

	first := ids()
	second := ids() // 304: from the cache
	list.set(`W/"v2"`, `[{"id":2},{"id":1}]`)
	third := ids()

	if diff := cmp.Diff([][]int64{{1}, {1}, {2, 1}}, [][]int64{first, second, third}); diff != "" {
		t.Errorf("deployment IDs (-want +got):\n%s", diff)
	}
	var sent []string
	for _, r := range srv.seen() {
		sent = append(sent, r.Header.Get("If-None-Match"))
	}
	if diff := cmp.Diff([]string{"", `W/"v1"`, `W/"v1"`}, sent); diff != "" {
		t.Errorf("If-None-Match sent (-want +got):\n%s", diff)
	}
	want := map[string]RouteStats{"GET /repos/{owner}/{repo}/deployments": {Total: 3, NotModified: 1}}
	if diff := cmp.Diff(want, c.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
	if got := c.Counted(); got != 2 {
		t.Errorf("Counted() = %d, want 2: a 304 is free", got)
	}
}

func TestETagCacheKeys(t *testing.T) {
	t.Parallel()
	list := &etagServer{}
	list.set(`"v1"`, `[]`)
	srv := newServer(t, map[string]http.HandlerFunc{"GET " + repoPath("deployments"): list.ServeHTTP})
	c, _ := newTestClient(t, srv, nil)
	ctx := context.Background()
	get := func(query, accept string) {
		t.Helper()
		req, err := c.GH.NewRequest(http.MethodGet, "repos/octo-org/octo-repo/deployments"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if _, err := c.GH.Do(ctx, req, nil); err != nil {
			t.Fatal(err)
		}
	}

	get("", "")
	get("?environment=production", "")    // another URL
	get("", "application/vnd.github.raw") // another representation
	get("", "")                           // the first again: conditional

	var sent []string
	for _, r := range srv.seen() {
		sent = append(sent, r.Header.Get("If-None-Match"))
	}
	if diff := cmp.Diff([]string{"", "", "", `"v1"`}, sent); diff != "" {
		t.Errorf("If-None-Match sent (-want +got):\n%s", diff)
	}

	// Another identity has its own cache.
	other, _ := newTestClient(t, srv, func(cfg *Config) { cfg.Token = "ghp_other" })
	if _, _, err := other.GH.Repositories.ListDeployments(ctx, testOwner, testRepo, nil); err != nil {
		t.Fatal(err)
	}
	if got := srv.seen()[4].Header.Get("If-None-Match"); got != "" {
		t.Errorf("If-None-Match = %q from another token, want none", got)
	}
}

func TestETagCacheIgnoresWrites(t *testing.T) {
	t.Parallel()
	srv := newServer(t, map[string]http.HandlerFunc{
		"POST " + repoPath("deployments"): func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"w"`)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":3}`))
		},
	})
	c, _ := newTestClient(t, srv, nil)
	ctx := context.Background()
	for range 2 {
		if _, _, err := c.GH.Repositories.CreateDeployment(ctx, testOwner, testRepo, &gh.DeploymentRequest{Ref: gh.String("main")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range srv.seen() {
		if got := r.Header.Get("If-None-Match"); got != "" {
			t.Errorf("POST sent If-None-Match %q, want none", got)
		}
	}
}

func TestETagCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := map[string][]string{} // path → If-None-Match sent
	handlers := map[string]http.HandlerFunc{}
	for _, p := range []string{"a", "b", "c"} {
		handlers["GET /"+p] = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls[p] = append(calls[p], r.Header.Get("If-None-Match"))
			mu.Unlock()
			w.Header().Set("ETag", `"`+p+`"`)
			if r.Header.Get("If-None-Match") == `"`+p+`"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write([]byte("0123456789"))
		}
	}
	srv := newServer(t, handlers)
	c, _ := newTestClient(t, srv, nil)
	cache := c.GH.Client().Transport.(*etagCache)
	cache.maxBytes = 25 // two bodies of 10 bytes
	ctx := context.Background()
	for _, p := range []string{"a", "b", "a", "c", "a", "b"} {
		if err := do(ctx, c, http.MethodGet, p, nil); err != nil {
			t.Fatal(err)
		}
	}

	// c pushed out b, the least recently used; a stayed.
	want := map[string][]string{"a": {"", `"a"`, `"a"`}, "b": {"", ""}, "c": {""}}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("If-None-Match sent (-want +got):\n%s", diff)
	}
}
