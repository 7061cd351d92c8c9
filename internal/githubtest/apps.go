package githubtest

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// App is a GitHub App installed on the repository, whose custom deployment
// protection rule environments may enable (Protection.CustomRule).
type App struct {
	ID             int64
	Slug           string // default "promote-gate"
	InstallationID int64
	// PublicKey verifies the App's JWTs (RS256, iss the App's ID) when it
	// mints installation tokens; nil accepts any well-formed JWT.
	PublicKey *rsa.PublicKey
}

// login is the App's bot account, which its installation tokens act as.
func (a *App) login() string { return a.Slug + "[bot]" }

// installationTokenTTL is how long GitHub's installation tokens live.
const installationTokenTTL = time.Hour

// minted is an installation token the fake handed out.
type minted struct {
	login   string
	expires time.Time
}

// mintToken answers POST /app/installations/{installation_id}/access_tokens:
// the App authenticates with its JWT and gets an installation token valid
// for an hour, which then authenticates as the App's bot.
func (s *Server) mintToken(q *request) reply {
	app := s.opts.App
	id, ok := pathID(q, "installation_id")
	if app == nil || !ok || id != app.InstallationID {
		return s.notFound(q)
	}
	_, raw, _ := strings.Cut(strings.TrimSpace(q.Header.Get("Authorization")), " ")
	if err := s.checkJWT(strings.TrimSpace(raw), app, q.now); err != nil {
		return s.errorReply(q, http.StatusUnauthorized, "A JSON web token could not be decoded", nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID["token"]++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d:%d", app.ID, s.nextID["token"])))
	tok := "ghs_" + hex.EncodeToString(sum[:18])
	expires := q.now.Add(installationTokenTTL).Truncate(time.Second)
	if s.minted == nil {
		s.minted = map[string]minted{}
	}
	s.minted[tok] = minted{login: app.login(), expires: expires}
	return reply{status: http.StatusCreated, body: map[string]any{
		"token":                tok,
		"expires_at":           timestamp(expires),
		"permissions":          map[string]string{"actions": "read", "deployments": "write", "metadata": "read"},
		"repository_selection": "selected",
	}}
}

// checkJWT verifies an App's JWT as GitHub does: RS256, issued by the App,
// not expired, and lasting at most ten minutes.
func (s *Server) checkJWT(raw string, app *App, now time.Time) error {
	claims := &jwt.RegisteredClaims{}
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuer(strconv.FormatInt(app.ID, 10)), jwt.WithExpirationRequired()}
	if app.PublicKey != nil {
		if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return app.PublicKey, nil }, opts...); err != nil {
			return err
		}
	} else {
		p := jwt.NewParser(opts...)
		if _, _, err := p.ParseUnverified(raw, claims); err != nil {
			return err
		}
		if err := jwt.NewValidator(opts...).Validate(claims); err != nil {
			return err
		}
	}
	if claims.IssuedAt != nil && claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute+time.Second {
		return errors.New("the JWT lasts more than ten minutes")
	}
	return nil
}

// mintedLogin returns the login of an installation token the fake minted,
// and whether the token is one; an expired one gives "".
func (s *Server) mintedLogin(token string, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.minted[token]
	if !ok {
		return "", false
	}
	if !now.Before(m.expires) {
		return "", true
	}
	return m.login, true
}

// listProtectionRules answers GET …/environments/{environment_name}/deployment_protection_rules:
// the environment's enabled custom rules, which are the App's when
// Protection.CustomRule is set.
func (s *Server) listProtectionRules(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.environmentLocked(q.PathValue("environment_name"), false)
	if e == nil {
		return s.notFound(q)
	}
	rules := []map[string]any{}
	if app := s.opts.App; app != nil && e.protection.CustomRule {
		rules = append(rules, map[string]any{
			"id":      e.ruleIDs[2] + 500_000,
			"node_id": nodeID("GA_", e.ruleIDs[2]+500_000),
			"enabled": true,
			"app": map[string]any{
				"id":              app.ID,
				"slug":            app.Slug,
				"integration_url": s.base + "apps/" + app.Slug,
				"node_id":         nodeID("A_", app.ID),
			},
		})
	}
	return reply{status: http.StatusOK, body: map[string]any{"total_count": len(rules), "custom_deployment_protection_rules": rules}}
}

// ruleDecisionLocked returns the App's review deciding a run held by its
// custom protection rule, if one has happened by now.
func (s *Server) ruleDecisionLocked(r *run, now time.Time) (ProtectionRuleReview, bool) {
	for _, rv := range r.ruleReviews {
		if rv.State != "" && !now.Before(rv.At) && s.opts.App != nil && rv.User == s.opts.App.login() {
			return rv, true
		}
	}
	return ProtectionRuleReview{}, false
}

// ProtectionRuleEvent returns the body of the deployment_protection_rule
// webhook (action "requested") GitHub sends the App when the run starts
// waiting on its environment's custom rule, in the shape of GitHub's
// webhook schema. The job creates no Deployment object (see the package
// doc), so the payload has none, as GitHub's schema allows.
func (s *Server) ProtectionRuleEvent(runID int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r *run
	for _, c := range s.runs {
		if c.id == runID {
			r = c
		}
	}
	switch {
	case r == nil:
		return nil, fmt.Errorf("githubtest: no run %d", runID)
	case s.opts.App == nil || !r.protection.CustomRule:
		return nil, fmt.Errorf("githubtest: run %d does not wait on a custom protection rule: set Options.App and Protection.CustomRule", runID)
	}
	owner := s.userJSONLocked(s.opts.Owner)
	body := map[string]any{
		"action":                  "requested",
		"environment":             r.env,
		"event":                   "workflow_dispatch",
		"deployment_callback_url": s.runURL(r) + "/deployment_protection_rule",
		"repository":              s.webhookRepoJSONLocked(),
		"organization": map[string]any{
			"login": owner.Login, "id": owner.ID, "node_id": owner.NodeID, "url": s.base + "orgs/" + s.opts.Owner,
			"repos_url": s.base + "orgs/" + s.opts.Owner + "/repos", "events_url": s.base + "orgs/" + s.opts.Owner + "/events",
			"hooks_url": s.base + "orgs/" + s.opts.Owner + "/hooks", "issues_url": s.base + "orgs/" + s.opts.Owner + "/issues",
			"members_url":        s.base + "orgs/" + s.opts.Owner + "/members{/member}",
			"public_members_url": s.base + "orgs/" + s.opts.Owner + "/public_members{/member}",
			"avatar_url":         owner.AvatarURL, "description": nil,
		},
		"installation": map[string]any{"id": s.opts.App.InstallationID, "node_id": nodeID("I_", s.opts.App.InstallationID)},
		"sender":       s.userJSONLocked(r.actor),
	}
	return marshal(body), nil
}

// webhookRepoJSONLocked is the "repository" of a webhook payload, which
// requires more fields than the minimal repository of the REST answers.
func (s *Server) webhookRepoJSONLocked() map[string]any {
	m := s.repoJSONLocked()
	created := s.created.Truncate(time.Second)
	more := map[string]any{
		"clone_url": s.repoHTML() + ".git", "git_url": "git://" + strings.TrimPrefix(s.repoHTML(), "http://") + ".git",
		"ssh_url": "git@example.test:" + s.opts.Owner + "/" + s.opts.Repo + ".git", "svn_url": s.repoHTML(),
		"mirror_url": nil, "homepage": nil, "language": nil, "license": nil,
		"forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0, "size": 0,
		"stargazers_count": 0, "watchers": 0, "watchers_count": 0,
		"has_downloads": true, "has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false,
		"archived": false, "disabled": false,
		"created_at": timestamp(created), "updated_at": timestamp(created), "pushed_at": timestamp(created),
	}
	for k, v := range more {
		m[k] = v
	}
	return m
}
