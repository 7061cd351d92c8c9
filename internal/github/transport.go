package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"
)

const (
	// Server errors and dropped connections are retried after a random wait
	// of up to backoffBase·2ⁿ, at most backoffCap ("full jitter"), so that
	// concurrent promotions do not retry in step.
	backoffBase = time.Second
	backoffCap  = 30 * time.Second

	// A secondary rate limit without Retry-After is waited out for a minute,
	// then twice as long each time it refuses again (GitHub's advice).
	secondaryWait = time.Minute
	secondaryCap  = 15 * time.Minute

	// maxErrorBody bounds how much of an error answer is read.
	maxErrorBody = 1 << 20
)

// retryTransport sends each request until GitHub answers it for good: it
// waits out rate limits, retries what is safe to retry, delays writes to stay
// under GitHub's limit on content-creating requests, counts every attempt in
// stats, and turns final refusals into *APIError and writes of unknown
// outcome into *AmbiguousError. It is safe for concurrent use.
type retryTransport struct {
	next           http.RoundTripper
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error
	maxRetries     int
	attemptTimeout time.Duration
	writes         *writeWindow // nil: writes are not throttled
	basePath       string
	auth           authKind
	stats          *stats
	// jitter returns a random duration in [0, max]; tests fix it.
	jitter func(max time.Duration) time.Duration

	mu sync.Mutex
	// pausedUntil holds back every request but GET /rate_limit, because
	// GitHub's rate limits apply to the credentials, not to one request.
	pausedUntil time.Time
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	byApp := signedWithJWT(ctx)
	route := routeOf(req.Method, req.URL.EscapedPath(), t.basePath)
	auth := t.auth
	if byApp {
		auth = authJWT
	}
	// Minting a second installation token is harmless, so the App's own
	// requests are retried like idempotent ones, and are not throttled.
	idempotent := byApp || isIdempotent(req.Method)
	throttled := t.writes != nil && !byApp && isWrite(req.Method)
	canReplay := replayable(req)

	body := req.Body
	secondary := 0     // secondary-limit refusals so far
	var last *APIError // the refusal being waited out
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var err error
			if body, err = freshBody(req); err != nil {
				return nil, err
			}
		}
		if err := t.waitToSend(ctx, route, throttled); err != nil {
			closeBody(body)
			return nil, waitFailed(last, err)
		}
		if err := ctx.Err(); err != nil {
			closeBody(body)
			return nil, waitFailed(last, err) // not sent: not ambiguous
		}

		resp, err := t.attempt(req, body)
		if ae := (*authError)(nil); errors.As(err, &ae) {
			return nil, ae.err // never sent, and the token source retried
		}
		t.stats.add(route, func(s *RouteStats) {
			s.Total++
			if attempt > 0 {
				s.Retries++
			}
			if err != nil {
				s.NoResponse++
			}
		})
		if err != nil {
			sent := !notSent(err)
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			if !idempotent && sent {
				return nil, &AmbiguousError{Method: req.Method, URL: req.URL.Redacted(), Err: err}
			}
			if ctx.Err() != nil {
				return nil, err
			}
			if attempt >= t.maxRetries || !canReplay {
				return nil, fmt.Errorf("no answer from GitHub after %d attempts: %w", attempt+1, err)
			}
			if werr := t.sleep(ctx, t.backoff(attempt)); werr != nil {
				return nil, fmt.Errorf("no answer from GitHub (%v); stopped waiting to retry: %w", err, werr)
			}
			continue
		}

		if resp.StatusCode == http.StatusNotModified {
			t.stats.add(route, func(s *RouteStats) { s.NotModified++ })
		}
		countCall(ctx, route, resp.StatusCode)
		t.notePrimaryLimit(resp)
		switch code := resp.StatusCode; {
		case code < 400:
			return resp, nil

		case code == http.StatusForbidden || code == http.StatusTooManyRequests:
			wait, kind := t.rateLimitWait(resp, secondary)
			apiErr := newAPIError(req, route, resp, attempt+1, kind, auth)
			if kind == refused {
				return nil, apiErr
			}
			if kind == secondaryHit {
				secondary++
			}
			// A rate limit is a reason to slow down, not to give up: the
			// request is sent again, however often, until ctx ends. Only a
			// Client told never to retry gives up.
			if t.maxRetries == 0 || !canReplay {
				return nil, apiErr
			}
			// GitHub refused before acting, so even a write is sent again:
			// after the pause that waitForPause observes.
			t.pause(t.now().Add(wait))
			last = apiErr

		case code == http.StatusInternalServerError || code == http.StatusBadGateway ||
			code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
			apiErr := newAPIError(req, route, resp, attempt+1, serverFailing, auth)
			if !idempotent {
				return nil, &AmbiguousError{Method: req.Method, URL: req.URL.Redacted(), Err: apiErr}
			}
			if attempt >= t.maxRetries || !canReplay {
				return nil, apiErr
			}
			if err := t.sleep(ctx, t.backoff(attempt)); err != nil {
				return nil, waitFailed(apiErr, err)
			}
			last = nil

		default:
			return nil, newAPIError(req, route, resp, attempt+1, refused, auth)
		}
	}
}

// attempt sends the request once, bounded by the attempt timeout.
func (t *retryTransport) attempt(req *http.Request, body io.ReadCloser) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.attemptTimeout)
	r := req.Clone(ctx)
	r.Body = body
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		cancel()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil {
			err = fmt.Errorf("no answer within %v: %w", t.attemptTimeout, err)
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends an attempt's context once its body has been read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// notePrimaryLimit pauses every request until the reset when an answer says
// the primary limit is used up, rather than spending requests on certain
// refusals. It also hides such an answer's rate from go-github, which would
// otherwise refuse further calls on its own, without waiting, until the reset:
// X-From-Cache is the header go-github skips rate bookkeeping for.
func (t *retryTransport) notePrimaryLimit(resp *http.Response) {
	if resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	if reset, ok := unixTime(resp.Header.Get("X-RateLimit-Reset")); ok {
		t.pause(reset)
	}
	if resp.StatusCode < 400 {
		resp.Header.Set("X-From-Cache", "1")
	}
}

// rateLimitWait tells whether a 403 or 429 is a rate limit, which kind, and
// how long to wait before trying again. It reads the body, and leaves a copy
// in its place.
func (t *retryTransport) rateLimitWait(resp *http.Response, secondary int) (time.Duration, failure) {
	h := resp.Header
	body := readBody(resp)
	kind := secondaryHit
	if h.Get("X-RateLimit-Remaining") == "0" {
		kind = rateLimited
	}
	if d, ok := retryAfter(h.Get("Retry-After"), t.now()); ok {
		return d, kind
	}
	if kind == rateLimited {
		if reset, ok := unixTime(h.Get("X-RateLimit-Reset")); ok {
			return max(reset.Sub(t.now()), time.Second), kind
		}
		return secondaryDelay(secondary), kind
	}
	if resp.StatusCode == http.StatusTooManyRequests || isSecondaryLimit(body) {
		return secondaryDelay(secondary), secondaryHit
	}
	return 0, refused
}

func secondaryDelay(n int) time.Duration {
	if n >= 10 {
		return secondaryCap
	}
	return min(secondaryWait<<n, secondaryCap)
}

// isSecondaryLimit recognises GitHub's secondary-limit refusal by its body,
// as a 403 without rate-limit headers otherwise means missing permissions.
func isSecondaryLimit(body []byte) bool {
	var e struct {
		Message          string `json:"message"`
		DocumentationURL string `json:"documentation_url"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	msg, doc := strings.ToLower(e.Message), strings.ToLower(e.DocumentationURL)
	return strings.Contains(msg, "secondary rate limit") || strings.Contains(msg, "abuse detection") ||
		strings.Contains(doc, "secondary-rate-limits") || strings.HasSuffix(doc, "#abuse-rate-limits")
}

func (t *retryTransport) pause(until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.After(t.pausedUntil) {
		t.pausedUntil = until
	}
}

// waitForPause waits out a pause for a rate limit. GET /rate_limit is free
// and answers during one.
func (t *retryTransport) waitForPause(ctx context.Context, route string) error {
	if route == rateLimitRoute {
		return nil
	}
	// A pause may be extended while it is waited out (another request was
	// refused meanwhile): look again after each wait.
	for counted := false; ; counted = true {
		t.mu.Lock()
		until := t.pausedUntil
		t.mu.Unlock()
		d := until.Sub(t.now())
		if d <= 0 {
			return nil
		}
		if !counted {
			t.stats.add(route, func(s *RouteStats) { s.RateLimited++ })
		}
		if err := t.sleep(ctx, d); err != nil {
			return fmt.Errorf("waiting %v for GitHub's rate limit to reset: %w", d.Round(time.Second), err)
		}
	}
}

// waitToSend waits out a rate-limit pause and, for a throttled write, its
// turn under the write limits. A pause may begin while a write waits for its
// turn (another request was refused meanwhile): after that wait it looks at
// the pause again, and if one holds, gives its turn back, waits the pause
// out and books a new turn.
func (t *retryTransport) waitToSend(ctx context.Context, route string, throttled bool) error {
	for {
		if err := t.waitForPause(ctx, route); err != nil {
			return err
		}
		if !throttled {
			return nil
		}
		now := t.now()
		start, ok := t.writes.bookedStart(ctx, now)
		if !ok {
			start = t.writes.reserve(now)
		}
		d := start.Sub(now)
		if d <= 0 {
			return nil
		}
		t.stats.add(route, func(s *RouteStats) { s.Throttled++ })
		if err := t.sleep(ctx, d); err != nil {
			t.writes.release(start)
			return fmt.Errorf("waiting %v to stay under GitHub's %v: %w", d.Round(time.Millisecond), t.writes, err)
		}
		if !t.paused() {
			return nil
		}
		t.writes.release(start)
	}
}

// paused reports whether a rate-limit pause holds requests back now.
func (t *retryTransport) paused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pausedUntil.After(t.now())
}

// backoff returns the wait before retry n+1 after a server error or a lost
// connection.
func (t *retryTransport) backoff(n int) time.Duration {
	ceiling := backoffCap
	if n < 5 {
		ceiling = min(backoffBase<<n, backoffCap)
	}
	return t.jitter(ceiling)
}

func fullJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max + 1)
}

// waitFailed returns the refusal being waited out, with the reason the wait
// ended, or that reason alone.
func waitFailed(last *APIError, err error) error {
	if last == nil {
		return err
	}
	last.Wait = err
	return last
}

// newAPIError describes GitHub's refusal and closes the response.
func newAPIError(req *http.Request, route string, resp *http.Response, attempts int, kind failure, auth authKind) *APIError {
	readBody(resp)
	ghErr := gh.CheckResponse(resp)
	var msg string
	var reset time.Time
	switch e := ghErr.(type) {
	case *gh.ErrorResponse:
		msg = e.Message
		var details []string
		for _, d := range e.Errors {
			if d.Message != "" {
				details = append(details, d.Message)
			} else {
				details = append(details, strings.TrimSpace(fmt.Sprintf("%s %s %s", d.Resource, d.Field, d.Code)))
			}
		}
		if len(details) > 0 {
			msg += " (" + strings.Join(details, "; ") + ")"
		}
	case *gh.RateLimitError:
		msg, reset = e.Message, e.Rate.Reset.Time
	case *gh.AbuseRateLimitError:
		msg = e.Message
	case *gh.TwoFactorAuthError:
		msg = e.Message
	}
	if kind == rateLimited && reset.IsZero() {
		reset, _ = unixTime(resp.Header.Get("X-RateLimit-Reset"))
	}
	return &APIError{
		Method:     req.Method,
		Route:      route,
		URL:        req.URL.Redacted(),
		StatusCode: resp.StatusCode,
		Message:    strings.TrimSpace(msg),
		RequestID:  resp.Header.Get("X-GitHub-Request-Id"),
		Attempts:   attempts,
		Hint:       hint(kind, resp.StatusCode, auth, req.Method, route, req.URL.Path, resp.Header, reset),
		Err:        ghErr,
		RateLimit:  kind == rateLimited || kind == secondaryHit,
	}
}

// readBody replaces a response's body with an in-memory copy of at most
// maxErrorBody bytes, closing the original, and returns the copy.
func readBody(resp *http.Response) []byte {
	if r, ok := resp.Body.(*memBody); ok {
		return r.data
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = &memBody{Reader: bytes.NewReader(b), data: b}
	return b
}

type memBody struct {
	*bytes.Reader
	data []byte
}

func (*memBody) Close() error { return nil }

func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func unixTime(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// isIdempotent tells the methods that may be sent twice whatever happened
// to the first attempt.
func isIdempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// notSent reports errors that prove the request never reached GitHub: a
// failed name lookup or connection. Such a write is safe to send again.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

var errNoBody = errors.New("the request's body cannot be sent twice (it has no GetBody)")

// freshBody returns a new copy of the request's body for another attempt.
func freshBody(req *http.Request) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, nil
	}
	if req.GetBody == nil {
		return nil, errNoBody
	}
	return req.GetBody()
}

func closeBody(body io.ReadCloser) {
	if body != nil {
		body.Close()
	}
}

// discard drains a little of a body, so that the connection can be reused,
// and closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
