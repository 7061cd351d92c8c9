package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// Client talks to GitHub's REST API for one repository. Make one with New
// and share it: its rate-limit pauses, write throttle, token and ETag cache
// and statistics are per Client. It is safe for concurrent use.
type Client struct {
	// GH is the go-github client, for every endpoint go-github covers. Its
	// requests go through the Client's transports.
	GH *gh.Client

	// Owner and Repo name the repository, for calls through GH.
	Owner, Repo string

	sleep     func(context.Context, time.Duration) error
	stats     *stats
	transport *retryTransport
}

// New returns a Client for cfg. A GitHub App's installation is looked up
// now, with ctx, when cfg.InstallationID is 0; its first token is minted
// with the first request.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	base, err := parseAPIURL(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("config: APIURL: %w", err)
	}
	if cfg.Owner == "" || cfg.Repo == "" {
		return nil, errors.New(`config: Owner and Repo are required: set GITHUB_REPOSITORY to "owner/repo"`)
	}

	next := cfg.HTTPClient.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	attemptTimeout := cfg.HTTPClient.Timeout
	if attemptTimeout <= 0 {
		attemptTimeout = defaultAttemptTimeout
	}
	auth := &authTransport{next: next}
	st := newStats()
	retry := &retryTransport{
		next:           auth,
		now:            cfg.Now,
		sleep:          cfg.Sleep,
		maxRetries:     cfg.MaxRetries,
		attemptTimeout: attemptTimeout,
		writes:         newWriteLimiter(cfg.WritesPerMinute, cfg.WritesPerHour),
		basePath:       base.EscapedPath(),
		stats:          st,
		jitter:         fullJitter,
	}

	var app *appTokens
	switch {
	case cfg.AppID != 0:
		key, err := parsePrivateKey(cfg.AppPrivateKey)
		if err != nil {
			return nil, fmt.Errorf("config: AppPrivateKey: %w", err)
		}
		app = &appTokens{
			appID:          cfg.AppID,
			key:            key,
			installationID: cfg.InstallationID,
			owner:          cfg.Owner,
			repo:           cfg.Repo,
			base:           base,
			userAgent:      cfg.UserAgent,
			now:            cfg.Now,
			rt:             retry,
			refreshing:     make(chan struct{}, 1),
		}
		auth.src = app
	case cfg.Token != "":
		auth.src = staticToken(cfg.Token)
	default:
		return nil, errors.New("config: no credentials: set GITHUB_TOKEN, or PROMOTE_APP_ID and PROMOTE_APP_PRIVATE_KEY")
	}
	retry.auth = auth.src.kind()

	hc := &http.Client{
		Transport:     newETagCache(retry, auth.src.identity()),
		CheckRedirect: cfg.HTTPClient.CheckRedirect,
		Jar:           cfg.HTTPClient.Jar,
		// No Timeout: it would cut rate-limit waits short. Each attempt has
		// its own instead.
	}
	client := gh.NewClient(hc)
	client.BaseURL = base
	client.UploadURL = uploadURL(base)
	client.UserAgent = cfg.UserAgent

	c := &Client{GH: client, Owner: cfg.Owner, Repo: cfg.Repo, sleep: cfg.Sleep, stats: st, transport: retry}
	if app != nil && app.installationID == 0 {
		if err := app.lookupInstallation(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// uploadURL derives the uploads endpoint, which Promote does not use but
// go-github wants right: uploads.github.com, or /api/uploads/ on GHES.
func uploadURL(base *url.URL) *url.URL {
	if base.Host == "api.github.com" {
		u, _ := url.Parse("https://uploads.github.com/")
		return u
	}
	u := *base
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v3") + "/uploads/"
	u.RawPath = ""
	return &u
}

// repoPath returns "repos/{owner}/{repo}/" followed by more, escaped.
func (c *Client) repoPath(more string) string {
	return "repos/" + url.PathEscape(c.Owner) + "/" + url.PathEscape(c.Repo) + "/" + more
}
