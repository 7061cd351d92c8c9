package github

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"github.com/promote-dev/promote/internal/clock"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultAPIURL is the REST API of github.com. GitHub Enterprise Server serves
// it at https://HOST/api/v3/, which runners there put in GITHUB_API_URL.
const DefaultAPIURL = "https://api.github.com/"

// DefaultWritesPerMinute is GitHub's secondary limit on content-creating
// requests a minute, which Promote's writes stay under by default.
const DefaultWritesPerMinute = 80

// DefaultMaxRetries is how many times a request is sent again, after its first
// attempt, before the Client gives up.
const DefaultMaxRetries = 5

// defaultAttemptTimeout bounds one attempt when Config.HTTPClient sets no
// Timeout. GitHub itself ends a REST request that takes more than 10 seconds.
const defaultAttemptTimeout = 30 * time.Second

// Config says where GitHub is, who Promote is to it and how patient to be.
// The zero values of the optional fields select the defaults documented on
// each field.
type Config struct {
	// APIURL is the REST API's base URL: DefaultAPIURL when empty, or
	// https://HOST/api/v3/ on GitHub Enterprise Server. A missing trailing
	// slash is added.
	APIURL string

	// Token authenticates as a token (GITHUB_TOKEN, a personal or an
	// installation token). It is ignored when AppID is set.
	Token string

	// AppID and AppPrivateKey (PEM, PKCS#1 or PKCS#8) authenticate as a
	// GitHub App installation, whose token the Client mints and refreshes.
	AppID         int64
	AppPrivateKey []byte

	// InstallationID is the App's installation on Owner/Repo. When it is 0,
	// New looks it up with GET /repos/{owner}/{repo}/installation.
	InstallationID int64

	// Owner and Repo name the repository Promote works in.
	Owner, Repo string

	// HTTPClient supplies the underlying Transport, CheckRedirect and Jar;
	// nil means http.DefaultTransport. Its Timeout bounds each attempt, not
	// the whole request with its waits and retries; zero means 30 seconds.
	HTTPClient *http.Client

	// UserAgent is sent with every request; empty means "promote-dev/promote".
	UserAgent string

	// WritesPerMinute caps POST, PATCH, PUT and DELETE requests, attempts
	// GitHub refused included, in any 60-second window (lengthened by a
	// margin of 2 seconds for the time a request takes to arrive): 0 means
	// DefaultWritesPerMinute, a negative value turns this cap off. Up to
	// half of it goes out at once; beyond that, writes are spread evenly.
	WritesPerMinute int

	// WritesPerHour caps the same writes in any hour, with the same margin:
	// 0 means DefaultWritesPerHour, a negative value turns this cap off.
	WritesPerHour int

	// MaxRetries is how many times a request is sent again after a server
	// error or a lost connection before the Client gives up: 0 means
	// DefaultMaxRetries, a negative value means never. A refusal for a rate
	// limit is not a reason to give up: it is waited out and the request
	// sent again until its context ends, unless MaxRetries is negative.
	MaxRetries int

	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns an error in the second case. Nil means a real timer that fails
	// at once when d would run past ctx's deadline. Tests and scaled-time
	// demos replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	// Now tells the time for token expiry, rate-limit resets and the write
	// throttle; nil means time.Now. Tests make it agree with Sleep.
	Now func() time.Time
}

// ConfigFromEnv reads a Config from the environment a GitHub Actions step
// sees, through getenv: GITHUB_API_URL (optional), GITHUB_REPOSITORY
// ("owner/repo"), and either GITHUB_TOKEN or PROMOTE_APP_ID with
// PROMOTE_APP_PRIVATE_KEY (PEM) and, optionally, PROMOTE_APP_INSTALLATION_ID.
// When both are present the App wins: its limits are higher and only it can
// review custom protection rules. Errors name the variable to set and never
// contain a secret.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	var cfg Config

	cfg.APIURL = env("GITHUB_API_URL")
	if cfg.APIURL != "" {
		if _, err := parseAPIURL(cfg.APIURL); err != nil {
			return Config{}, fmt.Errorf("GITHUB_API_URL: %w", err)
		}
	}

	repository := env("GITHUB_REPOSITORY")
	if repository == "" {
		return Config{}, errors.New(`GITHUB_REPOSITORY is not set: set it to "owner/repo" (GitHub Actions sets it in every job)`)
	}
	owner, repo, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return Config{}, fmt.Errorf(`GITHUB_REPOSITORY %q is not "owner/repo": set it to the repository to promote in, e.g. "octo-org/octo-repo"`, repository)
	}
	cfg.Owner, cfg.Repo = owner, repo

	cfg.Token = env("GITHUB_TOKEN")
	appID, key, installation := env("PROMOTE_APP_ID"), getenv("PROMOTE_APP_PRIVATE_KEY"), env("PROMOTE_APP_INSTALLATION_ID")
	switch {
	case appID == "" && strings.TrimSpace(key) == "":
		if installation != "" {
			return Config{}, errors.New("PROMOTE_APP_INSTALLATION_ID is set but PROMOTE_APP_ID is not: set PROMOTE_APP_ID and PROMOTE_APP_PRIVATE_KEY too, or unset it to use GITHUB_TOKEN")
		}
		if cfg.Token == "" {
			return Config{}, errors.New("no GitHub credentials: set GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ github.token }}), or PROMOTE_APP_ID and PROMOTE_APP_PRIVATE_KEY to act as a GitHub App")
		}
		return cfg, nil
	case appID == "":
		return Config{}, errors.New("PROMOTE_APP_PRIVATE_KEY is set but PROMOTE_APP_ID is not: set PROMOTE_APP_ID to the App's numeric ID, shown on its settings page")
	case strings.TrimSpace(key) == "":
		return Config{}, errors.New("PROMOTE_APP_ID is set but PROMOTE_APP_PRIVATE_KEY is not: set it to the App's private key, the whole .pem file")
	}

	id, err := strconv.ParseInt(appID, 10, 64)
	if err != nil || id <= 0 {
		return Config{}, fmt.Errorf("PROMOTE_APP_ID %q is not an App ID: set it to the App's numeric ID, shown on its settings page", appID)
	}
	cfg.AppID = id
	cfg.AppPrivateKey = normalizePEM(key)
	if _, err := parsePrivateKey(cfg.AppPrivateKey); err != nil {
		return Config{}, fmt.Errorf("PROMOTE_APP_PRIVATE_KEY: %w", err)
	}
	if installation != "" {
		n, err := strconv.ParseInt(installation, 10, 64)
		if err != nil || n <= 0 {
			return Config{}, fmt.Errorf("PROMOTE_APP_INSTALLATION_ID %q is not an installation ID: set it to the number at the end of the installation's settings URL, or unset it to look it up", installation)
		}
		cfg.InstallationID = n
	}
	return cfg, nil
}

// normalizePEM undoes the "\n" escapes a key gets when it is pasted into a
// secret as one line.
func normalizePEM(key string) []byte {
	key = strings.TrimSpace(key)
	if !strings.Contains(key, "\n") && strings.Contains(key, `\n`) {
		key = strings.ReplaceAll(key, `\n`, "\n")
	}
	return []byte(key + "\n")
}

// parsePrivateKey parses an App's key. Its errors say what is wrong with the
// key without quoting any of it.
func parsePrivateKey(pem []byte) (*rsa.PrivateKey, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pem)
	if err != nil {
		return nil, fmt.Errorf(`not an RSA private key in PEM form: use the .pem file from the App's settings page, "-----BEGIN RSA PRIVATE KEY-----" line included (%w)`, err)
	}
	return key, nil
}

// parseAPIURL checks an API base URL and gives it the trailing slash
// go-github requires.
func parseAPIURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL: use https://api.github.com/, or https://HOST/api/v3/ on GitHub Enterprise Server", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if u.RawPath != "" && !strings.HasSuffix(u.RawPath, "/") {
		u.RawPath += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// withDefaults fills in the documented defaults.
func (cfg Config) withDefaults() Config {
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "promote-dev/promote"
	}
	if cfg.WritesPerMinute == 0 {
		cfg.WritesPerMinute = DefaultWritesPerMinute
	}
	if cfg.WritesPerHour == 0 {
		cfg.WritesPerHour = DefaultWritesPerHour
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clock.Real{}.Sleep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	return cfg
}
