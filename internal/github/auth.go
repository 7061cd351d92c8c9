package github

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenSource supplies the bearer token of every request.
type tokenSource interface {
	token(ctx context.Context) (string, error)
	// invalidate forgets tok after GitHub rejected it and reports whether
	// asking again may give a different one.
	invalidate(tok string) bool
	kind() authKind
	// identity names the credentials without revealing them, to key caches.
	identity() string
}

// staticToken is a token given in the Config.
type staticToken string

func (t staticToken) token(context.Context) (string, error) { return string(t), nil }
func (staticToken) invalidate(string) bool                  { return false }
func (staticToken) kind() authKind                          { return authToken }

func (t staticToken) identity() string {
	sum := sha256.Sum256([]byte(t))
	return "token:" + hex.EncodeToString(sum[:8])
}

// Installation tokens live an hour; one is replaced this long before it
// expires, so that no request starts with a token about to die.
const tokenRefreshMargin = 5 * time.Minute

// appTokens mints installation tokens for a GitHub App and caches the
// current one. It is safe for concurrent use.
type appTokens struct {
	appID          int64
	key            *rsa.PrivateKey
	installationID int64 // set by New before the Client is shared
	owner, repo    string
	base           *url.URL
	userAgent      string
	now            func() time.Time
	// rt sends the App's own requests: the retry transport, which passes
	// requests marked withJWT past the authTransport untouched.
	rt http.RoundTripper

	// refreshing has one slot, so that concurrent requests mint one token
	// between them, and those that wait for it still honour their ctx.
	refreshing chan struct{}

	mu      sync.Mutex
	tok     string
	expires time.Time
}

func (a *appTokens) kind() authKind { return authApp }

func (a *appTokens) identity() string {
	return fmt.Sprintf("app:%d:%s/%s", a.appID, a.owner, a.repo)
}

func (a *appTokens) token(ctx context.Context) (string, error) {
	if tok := a.current(); tok != "" {
		return tok, nil
	}
	select {
	case a.refreshing <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-a.refreshing }()
	if tok := a.current(); tok != "" {
		return tok, nil // minted while this request waited
	}

	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	path := fmt.Sprintf("app/installations/%d/access_tokens", a.installationID)
	if err := a.call(ctx, http.MethodPost, path, http.StatusCreated, &out); err != nil {
		return "", fmt.Errorf("minting a token for installation %d of GitHub App %d: %w", a.installationID, a.appID, err)
	}
	if out.Token == "" {
		return "", fmt.Errorf("minting a token for installation %d of GitHub App %d: GitHub's answer holds no token", a.installationID, a.appID)
	}
	if out.ExpiresAt.IsZero() {
		out.ExpiresAt = a.now().Add(time.Hour)
	}
	a.mu.Lock()
	a.tok, a.expires = out.Token, out.ExpiresAt
	a.mu.Unlock()
	return out.Token, nil
}

// current returns the cached token, or "" if it is missing or due for
// replacement.
func (a *appTokens) current() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != "" && a.now().Before(a.expires.Add(-tokenRefreshMargin)) {
		return a.tok
	}
	return ""
}

func (a *appTokens) invalidate(tok string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok == tok {
		a.tok = ""
	}
	return true
}

// lookupInstallation finds the App's installation on the repository.
func (a *appTokens) lookupInstallation(ctx context.Context) error {
	var out struct {
		ID int64 `json:"id"`
	}
	if err := a.call(ctx, http.MethodGet, "repos/"+url.PathEscape(a.owner)+"/"+url.PathEscape(a.repo)+"/installation", http.StatusOK, &out); err != nil {
		return fmt.Errorf("looking up the installation of GitHub App %d on %s/%s: %w", a.appID, a.owner, a.repo, err)
	}
	if out.ID == 0 {
		return fmt.Errorf("looking up the installation of GitHub App %d on %s/%s: GitHub's answer holds no id: set PROMOTE_APP_INSTALLATION_ID", a.appID, a.owner, a.repo)
	}
	a.installationID = out.ID
	return nil
}

// call sends one of the App's own requests, authenticated with a fresh JWT,
// and decodes the answer into out.
func (a *appTokens) call(ctx context.Context, method, path string, want int, out any) error {
	signed, err := a.jwt()
	if err != nil {
		return fmt.Errorf("signing the App's JWT: %w", err)
	}
	u, err := a.base.Parse(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(withJWT(ctx), method, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+signed)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", a.userAgent)
	resp, err := a.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GitHub answered %s, want %d %s", resp.Status, want, http.StatusText(want))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("decoding GitHub's answer: %w", err)
	}
	return nil
}

// jwt signs the App's JWT. iat lies a minute in the past and exp nine
// minutes ahead, within GitHub's ten, so that a runner's clock that is a
// little off in either direction still gets a valid token.
func (a *appTokens) jwt() (string, error) {
	now := a.now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.appID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
}

// jwtKey marks a request the App authenticates itself, with its JWT.
type jwtKey struct{}

func withJWT(ctx context.Context) context.Context { return context.WithValue(ctx, jwtKey{}, true) }

func signedWithJWT(ctx context.Context) bool {
	v, _ := ctx.Value(jwtKey{}).(bool)
	return v
}

// authError is a failure to get credentials: the request was never sent, and
// retrying it would only repeat the token source's own retries.
type authError struct{ err error }

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// authTransport adds the Authorization header.
type authTransport struct {
	src  tokenSource
	next http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if signedWithJWT(req.Context()) {
		return t.next.RoundTrip(req)
	}
	resp, tok, err := t.send(req, req.Body)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) || !t.src.invalidate(tok) {
		return resp, err
	}
	// An installation token can be revoked before it expires. A 401 means
	// GitHub did nothing, so any request may be sent again with a new token.
	discard(resp)
	body, err := freshBody(req)
	if err != nil {
		return nil, err
	}
	resp, _, err = t.send(req, body)
	return resp, err
}

func (t *authTransport) send(req *http.Request, body io.ReadCloser) (*http.Response, string, error) {
	tok, err := t.src.token(req.Context())
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, "", &authError{err}
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		// Errors keep the response's request: let it be the one without the
		// token.
		resp.Request = req
	}
	return resp, tok, err
}
