package githubtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"strconv"
	"sync"

	"encoding/json"
	"github.com/golang-jwt/jwt/v5"
	"github.com/promote-dev/promote/internal/clock"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// epoch is where manual clocks start in tests.
var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// newServer starts a server closed at the end of the test.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s
}

// newManual starts a server on a manual clock at epoch.
func newManual(t *testing.T, opts Options) (*Server, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(epoch)
	opts.Clock = clk
	return newServer(t, opts), clk
}

// api sends requests to a server as one client.
type api struct {
	t      *testing.T
	s      *Server
	client *http.Client
	token  string // "" sends no Authorization header
}

func newAPI(t *testing.T, s *Server) *api {
	return &api{t: t, s: s, client: s.Client(), token: "test-token"}
}

// response is a read answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// object decodes the body as a JSON object.
func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// message is the body's "message".
func (r response) message(t *testing.T) string {
	t.Helper()
	m, _ := r.object(t)["message"].(string)
	return m
}

// do sends a request to path, relative to the server's URL. body is nil, a
// string sent as is, or a value sent as JSON. hdr lists header names and
// values.
func (a *api) do(method, path string, body any, hdr ...string) response {
	a.t.Helper()
	r, err := a.try(method, path, body, hdr...)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// try is do that returns transport errors.
func (a *api) try(method, path string, body any, hdr ...string) (response, error) {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.s.URL()+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// want fails the test unless the answer has status.
func (r response) want(t *testing.T, what string, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status = %d, want %d; body %s", what, r.status, status, r.body)
	}
	return r
}

// id is the body's "id".
func (r response) id(t *testing.T) int64 {
	t.Helper()
	var v struct{ ID int64 }
	r.decode(t, &v)
	return v.ID
}

// deploy creates a deployment of main to env and returns its id.
func (a *api) deploy(env string, extra map[string]any) int64 {
	a.t.Helper()
	body := map[string]any{"ref": "main", "environment": env, "auto_merge": false, "required_contexts": []string{}}
	for k, v := range extra {
		body[k] = v
	}
	return a.do("POST", "repos/acme/app/deployments", body).want(a.t, "create deployment", http.StatusCreated).id(a.t)
}

// testKey is an App's RSA key, generated once per test binary.
var testKeyOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := testKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// appJWT signs an App's JWT as internal/github does.
func appJWT(t *testing.T, key *rsa.PrivateKey, appID int64, now time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
