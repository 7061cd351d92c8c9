package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testOwner = "octo-org"
	testRepo  = "octo-repo"
	// testToken is what no error may ever contain.
	testToken = "ghp_TESTtoken0123456789abcdefSECRET"
)

// testEpoch is where fake clocks start.
var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a Config.Now and Config.Sleep pair: Sleep records how long it
// was asked to wait and moves the clock on by that much, at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: testEpoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// testKey is one RSA key for every App test: generating one is slow.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func testKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey())})
}

// request is what a test server saw of one request.
type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// server is an httptest server with one handler per route ("METHOD /path"),
// which records every request and fails the test on unexpected ones.
type server struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	requests []request
	handlers map[string]http.HandlerFunc
}

func newServer(t *testing.T, handlers map[string]http.HandlerFunc) *server {
	t.Helper()
	s := &server{t: t, handlers: handlers}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.requests = append(s.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
	s.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	h, ok := s.handlers[r.Method+" "+r.URL.Path]
	if !ok {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	h(w, r)
}

// calls returns how many requests were made to "METHOD /path".
func (s *server) calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Method+" "+r.Path == route {
			n++
		}
	}
	return n
}

func (s *server) seen() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// reply is one scripted answer.
type reply struct {
	status int
	header map[string]string
	body   string
	// hangUp closes the connection without answering.
	hangUp bool
}

// script answers successive requests with replies, repeating the last.
func script(t *testing.T, replies ...reply) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rep := replies[min(n, len(replies)-1)]
		n++
		mu.Unlock()
		if rep.hangUp {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if rep.body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}
}

// jsonReply answers 200 with v.
func jsonReply(t *testing.T, status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if err := json.NewEncoder(w).Encode(v); err != nil {
			t.Errorf("encode: %v", err)
		}
	}
}

// newTestClient returns a Client with a token, on the server's URL, with a
// fake clock and deterministic backoff (always the ceiling). edit, if not
// nil, changes the Config first.
func newTestClient(t *testing.T, srv *server, edit func(*Config)) (*Client, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	cfg := Config{
		APIURL:     srv.URL + "/",
		Token:      testToken,
		Owner:      testOwner,
		Repo:       testRepo,
		HTTPClient: srv.Client(),
		UserAgent:  "promote-test",
		Sleep:      clock.Sleep,
		Now:        clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.transport.jitter = func(d time.Duration) time.Duration { return d }
	return c, clock
}

// do sends method to path (relative to the API URL) through c.GH.
func do(ctx context.Context, c *Client, method, path string, body any) error {
	req, err := c.GH.NewRequest(method, path, body)
	if err != nil {
		return err
	}
	_, err = c.GH.Do(ctx, req, nil)
	return err
}

// repoPath returns the server-side path of a repository route.
func repoPath(more string) string {
	return fmt.Sprintf("/repos/%s/%s/%s", testOwner, testRepo, more)
}
