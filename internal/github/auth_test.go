package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v60/github"
)

const testAppID = 12345

// checkJWT fails the test unless r carries a valid JWT of the test App,
// issued a minute before now and expiring within ten minutes, and returns
// the JWT.
func checkJWT(t *testing.T, r *http.Request, now time.Time) string {
	t.Helper()
	signed, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Errorf("%s %s: Authorization = %q, want a bearer JWT", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		return ""
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(signed, &claims, func(*jwt.Token) (any, error) { return &testKey().PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithIssuer("12345"))
	if err != nil {
		t.Errorf("%s %s: JWT: %v", r.Method, r.URL.Path, err)
		return signed
	}
	if got, want := claims.IssuedAt.Time, now.Add(-time.Minute); !got.Equal(want) {
		t.Errorf("JWT iat = %v, want %v (a minute early, against clock drift)", got, want)
	}
	if exp := claims.ExpiresAt.Time; exp.Sub(now) > 10*time.Minute || !exp.After(now) {
		t.Errorf("JWT exp = %v, want within 10 minutes of %v", exp, now)
	}
	return signed
}

// appServer is a GitHub that knows the test App, installed as installation
// 777 on the test repository, and mints tokens ghs_1, ghs_2, … that expire
// an hour after they are minted.
type appServer struct {
	*server
	clock *fakeClock

	mu     sync.Mutex
	minted int
	jwts   []string
	// reject makes the repository route answer 401 to these tokens.
	reject map[string]bool
}

func newAppServer(t *testing.T, clock *fakeClock, prefix string) *appServer {
	a := &appServer{clock: clock, reject: map[string]bool{}}
	a.server = newServer(t, map[string]http.HandlerFunc{
		"GET " + prefix + repoPath("installation"): func(w http.ResponseWriter, r *http.Request) {
			a.noteJWT(checkJWT(t, r, clock.Now()))
			jsonReply(t, 200, map[string]any{"id": 777, "app_id": testAppID})(w, r)
		},
		"POST " + prefix + "/app/installations/777/access_tokens": func(w http.ResponseWriter, r *http.Request) {
			a.noteJWT(checkJWT(t, r, clock.Now()))
			a.mu.Lock()
			a.minted++
			tok := fmt.Sprintf("ghs_%d", a.minted)
			a.mu.Unlock()
			jsonReply(t, 201, map[string]any{"token": tok, "expires_at": clock.Now().Add(time.Hour).Format(time.RFC3339)})(w, r)
		},
		"GET " + prefix + repoPath("deployments"): func(w http.ResponseWriter, r *http.Request) {
			a.mu.Lock()
			rejected := a.reject[r.Header.Get("Authorization")]
			a.mu.Unlock()
			if rejected {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`[]`))
		},
	})
	return a
}

func (a *appServer) noteJWT(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jwts = append(a.jwts, s)
}

func newAppClient(t *testing.T, srv *appServer, apiURL string, installationID int64) *Client {
	t.Helper()
	c, err := New(context.Background(), Config{
		APIURL:         apiURL,
		AppID:          testAppID,
		AppPrivateKey:  testKeyPEM(),
		InstallationID: installationID,
		Owner:          testOwner,
		Repo:           testRepo,
		HTTPClient:     srv.Client(),
		Sleep:          srv.clock.Sleep,
		Now:            srv.clock.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// authorizations returns the Authorization headers the repository route saw.
func authorizations(s *server, path string) []string {
	var out []string
	for _, r := range s.seen() {
		if r.Path == path {
			out = append(out, r.Header.Get("Authorization"))
		}
	}
	return out
}

func TestAppAuth(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// GHES, to check that the App's own requests honour the base path too.
	srv := newAppServer(t, clock, "/api/v3")
	c := newAppClient(t, srv, srv.URL+"/api/v3", 0)
	ctx := context.Background()

	if got := srv.calls("GET /api/v3" + repoPath("installation")); got != 1 {
		t.Errorf("installation lookups = %d, want 1, by New", got)
	}
	// Concurrent first requests mint one token between them.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := c.GH.Repositories.ListDeployments(ctx, testOwner, testRepo, nil); err != nil {
				t.Errorf("ListDeployments: %v", err)
			}
		})
	}
	wg.Wait()
	mint := "POST /api/v3/app/installations/777/access_tokens"
	if got := srv.calls(mint); got != 1 {
		t.Errorf("tokens minted = %d, want 1", got)
	}

	// 54 minutes on, the token has 6 minutes left: still used.
	clock.Advance(54 * time.Minute)
	if err := do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil); err != nil {
		t.Fatal(err)
	}
	// 2 minutes later it is within 5 minutes of expiry: replaced.
	clock.Advance(2 * time.Minute)
	if err := do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil); err != nil {
		t.Fatal(err)
	}

	if got := srv.calls(mint); got != 2 {
		t.Errorf("tokens minted = %d, want 2", got)
	}
	want := append(strings.Split(strings.Repeat("Bearer ghs_1,", 9), ",")[:9], "Bearer ghs_2")
	if diff := cmp.Diff(want, authorizations(srv.server, "/api/v3"+repoPath("deployments"))); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
	stats := c.Stats()
	for _, route := range []string{"GET /repos/{owner}/{repo}/installation", "POST /app/installations/{id}/access_tokens"} {
		if _, ok := stats[route]; !ok {
			t.Errorf("Stats() has no %q: %v", route, stats)
		}
	}
}

func TestAppAuthWithInstallationID(t *testing.T) {
	t.Parallel()
	srv := newAppServer(t, newFakeClock(), "")
	c := newAppClient(t, srv, srv.URL, 777)

	if err := do(context.Background(), c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil); err != nil {
		t.Fatal(err)
	}

	if got := srv.calls("GET " + repoPath("installation")); got != 0 {
		t.Errorf("installation lookups = %d, want 0 when the ID is given", got)
	}
	if diff := cmp.Diff([]string{"Bearer ghs_1"}, authorizations(srv.server, repoPath("deployments"))); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

func TestAppTokenRevokedEarly(t *testing.T) {
	t.Parallel()
	srv := newAppServer(t, newFakeClock(), "")
	c := newAppClient(t, srv, srv.URL, 777)
	ctx := context.Background()
	if err := do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.reject["Bearer ghs_1"] = true
	srv.mu.Unlock()

	err := do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil)

	if err != nil {
		t.Fatalf("after revocation: %v, want a new token and success", err)
	}
	want := []string{"Bearer ghs_1", "Bearer ghs_1", "Bearer ghs_2"}
	if diff := cmp.Diff(want, authorizations(srv.server, repoPath("deployments"))); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

func TestAppNotInstalled(t *testing.T) {
	t.Parallel()
	var jwts []string
	var mu sync.Mutex
	clock := newFakeClock()
	srv := newServer(t, map[string]http.HandlerFunc{
		"GET " + repoPath("installation"): func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			jwts = append(jwts, checkJWT(t, r, clock.Now()))
			mu.Unlock()
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		},
	})

	_, err := New(context.Background(), Config{
		APIURL: srv.URL, AppID: testAppID, AppPrivateKey: testKeyPEM(), Owner: testOwner, Repo: testRepo,
		HTTPClient: srv.Client(), Sleep: clock.Sleep, Now: clock.Now,
	})

	if err == nil {
		t.Fatal("New succeeded, want an error")
	}
	for _, want := range []string{"GitHub App 12345", "octo-org/octo-repo", "404", "not installed", "PROMOTE_APP_INSTALLATION_ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	checkNoSecrets(t, err, append(jwts, string(testKeyPEM())))
}

func TestAppJWTRejected(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	srv := newServer(t, map[string]http.HandlerFunc{
		"POST /app/installations/777/access_tokens": script(t, reply{status: 401, body: `{"message":"A JSON web token could not be decoded"}`}),
	})
	c, err := New(context.Background(), Config{
		APIURL: srv.URL, AppID: testAppID, AppPrivateKey: testKeyPEM(), InstallationID: 777, Owner: testOwner, Repo: testRepo,
		HTTPClient: srv.Client(), Sleep: clock.Sleep, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}

	_, _, err = c.GH.Repositories.ListDeployments(context.Background(), testOwner, testRepo, nil)

	for _, want := range []string{"minting a token for installation 777 of GitHub App 12345", "401", "PROMOTE_APP_PRIVATE_KEY", "clock"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
	if got := srv.calls("POST /app/installations/777/access_tokens"); got != 1 {
		t.Errorf("mint calls = %d, want 1: a rejected JWT is not retried", got)
	}
	var seen []string
	for _, r := range srv.seen() {
		seen = append(seen, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}
	checkNoSecrets(t, err, append(seen, string(testKeyPEM())))
}

// checkNoSecrets fails the test if err's message holds any of secrets, or a
// line of a multi-line one.
func checkNoSecrets(t *testing.T, err error, secrets []string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		for _, part := range strings.Split(s, "\n") {
			if len(part) >= 8 && !strings.HasPrefix(part, "-----") && strings.Contains(msg, part) {
				t.Errorf("error %q contains a secret", msg)
			}
		}
	}
}

func TestErrorsHoldNoToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what    string
		method  string
		replies []reply
	}{
		{what: "401", method: http.MethodGet, replies: []reply{{status: 401, body: `{"message":"Bad credentials"}`}}},
		{what: "403", method: http.MethodPost, replies: []reply{{status: 403, body: `{"message":"Resource not accessible by integration"}`}}},
		{what: "ambiguous 502", method: http.MethodPost, replies: []reply{{status: 502}}},
		{what: "dropped connection", method: http.MethodPost, replies: []reply{{hangUp: true}}},
		{what: "retries exhausted", method: http.MethodGet, replies: []reply{{status: 503}}},
		// GitHub does not echo tokens, but a proxy might: the message is
		// GitHub's to tell, so this checks the Client adds none of its own.
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, map[string]http.HandlerFunc{tt.method + " " + repoPath("deployments"): script(t, tt.replies...)})
			c, _ := newTestClient(t, srv, nil)

			err := do(context.Background(), c, tt.method, "repos/octo-org/octo-repo/deployments", nil)

			if err == nil {
				t.Fatal("no error")
			}
			checkNoSecrets(t, err, []string{testToken})
			// Nor does any error value reachable from it print the token.
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(fmt.Sprintf("%+v", e), testToken) {
					t.Errorf("%T prints the token", e)
				}
			}
			var ghErr *gh.ErrorResponse
			if errors.As(err, &ghErr) && ghErr.Response != nil && ghErr.Response.Request != nil {
				if got := ghErr.Response.Request.Header.Get("Authorization"); got != "" {
					t.Errorf("the error's request carries Authorization %q, want none", got)
				}
			}
		})
	}
}
