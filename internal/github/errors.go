package github

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// APIError is GitHub's final refusal of a request: a 4xx or 5xx answer that
// was not retried, or the last one when retries ran out. It unwraps to
// go-github's typed error for the answer (*github.ErrorResponse,
// *github.RateLimitError or *github.AbuseRateLimitError) and, when the Client stopped waiting to retry, to
// the reason (such as context.DeadlineExceeded).
type APIError struct {
	Method     string
	Route      string // template, as in Stats
	URL        string // without credentials
	StatusCode int
	// Message is GitHub's message with its validation details, if any.
	Message string
	// RequestID is GitHub's X-GitHub-Request-Id, which GitHub support asks for.
	RequestID string
	// Attempts is how many times the request was sent.
	Attempts int
	// Hint says what the user can do about it, or is empty.
	Hint string
	// Err is go-github's error for the answer.
	Err error
	// Wait is why the Client stopped waiting to retry, or nil.
	Wait error
	// RateLimit marks a refusal for a primary or secondary rate limit. The
	// Client waits those out, so one reaches the caller only when its
	// context ended first or retries are off: a reason to slow down, never
	// a sign that the credentials are wrong.
	RateLimit bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		fmt.Fprintf(&b, ": GitHub says %q", e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	if e.Wait != nil {
		fmt.Fprintf(&b, "; stopped waiting to retry: %v", e.Wait)
	}
	return b.String()
}

// Unwrap returns go-github's error and the reason the Client stopped waiting.
func (e *APIError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Err, e.Wait} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// AmbiguousError reports a write whose outcome is unknown: its connection
// dropped, it timed out, or GitHub answered 5xx, after GitHub may already
// have acted on it. It is never retried automatically. Look (list the
// deployments, statuses or runs) before writing again, or a retry may create
// a duplicate. Err is the *APIError of the 5xx answer or the network error.
//
// When ctx ends while a write is in flight, go-github returns ctx.Err()
// instead of this error: a write that failed with ctx.Err() is ambiguous too.
type AmbiguousError struct {
	Method string
	URL    string // without credentials
	Err    error
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("GitHub may or may not have carried out this %s, so it was not retried: check whether it took effect before repeating it: %v", e.Method, e.Err)
}

func (e *AmbiguousError) Unwrap() error { return e.Err }

// IsRateLimit reports whether err is GitHub's refusal for a rate limit.
func IsRateLimit(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.RateLimit
}

// StatusCode returns the HTTP status of GitHub's answer carried by err, or 0
// when err carries none. With this Client, go-github returns a nil Response
// along with an error, so callers ask StatusCode(err) rather than
// resp.StatusCode.
func StatusCode(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	var ghErr *gh.ErrorResponse
	if errors.As(err, &ghErr) && ghErr.Response != nil {
		return ghErr.Response.StatusCode
	}
	return 0
}

// authKind says how a request was authenticated, for hints.
type authKind int

const (
	authToken authKind = iota // a token given in the Config
	authApp                   // an App installation token minted here
	authJWT                   // the App's own JWT
)

// failure classifies a refusal, for retries and hints.
type failure int

const (
	refused       failure = iota // a 4xx that is not a rate limit
	rateLimited                  // primary limit used up
	secondaryHit                 // secondary limit
	serverFailing                // 5xx
)

// hint says what the user can do about a failed request, or returns "".
func hint(kind failure, status int, auth authKind, method, route, path string, h http.Header, reset time.Time) string {
	switch kind {
	case rateLimited:
		s := "GitHub's rate limit for these credentials is used up"
		if !reset.IsZero() {
			s += " until " + reset.UTC().Format(time.TimeOnly) + " UTC"
		}
		if auth == authToken {
			return s + ": wait for it, or act as a GitHub App (PROMOTE_APP_ID) for a higher limit"
		}
		return s + ": wait for it, or run fewer promotions at once"
	case secondaryHit:
		return "GitHub's secondary rate limit keeps refusing: run fewer promotions at once, or lower the writes per minute"
	case serverFailing:
		return "GitHub is having trouble: see https://www.githubstatus.com"
	}
	switch status {
	case http.StatusUnauthorized:
		switch auth {
		case authJWT:
			return "GitHub rejected the App's JWT: check that PROMOTE_APP_ID is the App that PROMOTE_APP_PRIVATE_KEY belongs to, that the key was not revoked, and that the runner's clock is right"
		case authApp:
			return "GitHub rejected the App's installation token: check that the App is still installed on the repository"
		}
		return "the token is invalid or has expired: set GITHUB_TOKEN to a valid token (a job's GITHUB_TOKEN expires when the job ends)"
	case http.StatusForbidden:
		return permissionHint(auth, method, route, h)
	case http.StatusNotFound:
		return notFoundHint(auth, route, path)
	}
	return ""
}

// permissionHint explains a 403 that is not a rate limit.
func permissionHint(auth authKind, method, route string, h http.Header) string {
	if strings.HasSuffix(route, "/deployment_protection_rule") {
		return "only the GitHub App that owns the custom protection rule can review it, with its installation token: set PROMOTE_APP_ID and PROMOTE_APP_PRIVATE_KEY to that App"
	}
	perm := ""
	if accepted := h.Get("X-Accepted-GitHub-Permissions"); accepted != "" {
		perm = strings.ReplaceAll(accepted, "=", ": ")
	} else if p := permissionFor(method, route); p != "" {
		perm = p
	}
	fix := "set `permissions: deployments: write, actions: write` in the workflow (pull requests from forks get a read-only GITHUB_TOKEN)"
	if auth != authToken {
		fix = "grant it to the GitHub App in its settings and accept the new permissions on the installation"
	}
	if strings.Contains(perm, "administration") {
		fix = "GITHUB_TOKEN cannot have it: use a GitHub App or a token of a repository admin"
	}
	if perm == "" {
		return "the token lacks a permission this request needs: " + fix
	}
	return fmt.Sprintf("the token lacks the %q permission: %s", perm, fix)
}

// permissionFor guesses the permission a route needs from its path.
func permissionFor(method, route string) string {
	level := "write"
	if method == http.MethodGet || method == http.MethodHead {
		level = "read"
	}
	switch {
	case strings.Contains(route, "/environments"):
		if level == "read" {
			return "actions: read"
		}
		return "administration: write"
	case strings.Contains(route, "/deployments"):
		return "deployments: " + level
	case strings.Contains(route, "/actions/"):
		return "actions: " + level
	case strings.Contains(route, "/check-runs"), strings.Contains(route, "/check-suites"):
		return "checks: " + level
	case strings.Contains(route, "/statuses/"), strings.HasSuffix(route, "/status"):
		return "statuses: " + level
	}
	return ""
}

// notFoundHint explains a 404, which GitHub also answers for a repository
// the credentials cannot see.
func notFoundHint(auth authKind, route, path string) string {
	if auth == authJWT && strings.HasSuffix(route, "/installation") {
		return "the GitHub App is not installed on the repository: install it there, or set PROMOTE_APP_INSTALLATION_ID"
	}
	if auth == authJWT && strings.Contains(route, "/app/installations/") {
		return "the App has no such installation: check PROMOTE_APP_INSTALLATION_ID, or unset it to look it up"
	}
	_, routePath, _ := strings.Cut(route, " ")
	if !strings.HasPrefix(routePath, "/repos/{owner}/{repo}") {
		return ""
	}
	repository := ""
	if segs := strings.Split(strings.TrimPrefix(path, "/"), "/"); len(segs) >= 3 {
		for i, s := range segs {
			if s == "repos" && i+2 < len(segs) {
				repository = segs[i+1] + "/" + segs[i+2]
				break
			}
		}
	}
	s := fmt.Sprintf("the repository %q does not exist or these credentials cannot see it (GitHub answers 404 rather than 403 then): check GITHUB_REPOSITORY, and that the token or App installation has access to it", repository)
	if strings.Contains(routePath, "/actions/workflows/{workflow}") {
		s = "the workflow does not exist: check its file name in .github/workflows on the default branch; or " + s
	} else if strings.Count(routePath, "{") > 2 {
		s = "the resource does not exist; or " + s
	}
	return s
}
