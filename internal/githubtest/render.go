package githubtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// actionsBot is the login of GitHub Actions' bot user.
const actionsBot = "github-actions[bot]"

// user is an account the fake knows: the repository's owner, the logins
// tokens authenticate as, and environment reviewers.
type user struct {
	login string
	id    int64
	kind  string // "User", "Organization" or "Bot"
}

// userLocked returns the user with a login, creating it on first use.
func (s *Server) userLocked(login string) *user {
	for _, u := range s.users {
		if strings.EqualFold(u.login, login) {
			return u
		}
	}
	u := &user{login: login, id: s.id("user"), kind: "User"}
	if login == actionsBot {
		u.id = 41898282 // the bot's id on github.com
	}
	s.users = append(s.users, u)
	return u
}

func (s *Server) userByIDLocked(id int64) *user {
	for _, u := range s.users {
		if u.id == id {
			return u
		}
	}
	return nil
}

// userJSON is GitHub's "simple-user".
type userJSON struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	NodeID            string `json:"node_id"`
	AvatarURL         string `json:"avatar_url"`
	GravatarID        string `json:"gravatar_id"`
	URL               string `json:"url"`
	HTMLURL           string `json:"html_url"`
	FollowersURL      string `json:"followers_url"`
	FollowingURL      string `json:"following_url"`
	GistsURL          string `json:"gists_url"`
	StarredURL        string `json:"starred_url"`
	SubscriptionsURL  string `json:"subscriptions_url"`
	OrganizationsURL  string `json:"organizations_url"`
	ReposURL          string `json:"repos_url"`
	EventsURL         string `json:"events_url"`
	ReceivedEventsURL string `json:"received_events_url"`
	Type              string `json:"type"`
	UserViewType      string `json:"user_view_type"`
	SiteAdmin         bool   `json:"site_admin"`
}

func (s *Server) userJSONLocked(login string) *userJSON {
	u := s.userLocked(login)
	api := s.base + "users/" + url.PathEscape(u.login)
	prefix := map[string]string{"User": "U_", "Organization": "O_", "Bot": "BOT_"}[u.kind]
	return &userJSON{
		Login:             u.login,
		ID:                u.id,
		NodeID:            nodeID(prefix, u.id),
		AvatarURL:         fmt.Sprintf("%savatars/u/%d?v=4", s.base, u.id),
		URL:               api,
		HTMLURL:           s.base + url.PathEscape(u.login),
		FollowersURL:      api + "/followers",
		FollowingURL:      api + "/following{/other_user}",
		GistsURL:          api + "/gists{/gist_id}",
		StarredURL:        api + "/starred{/owner}{/repo}",
		SubscriptionsURL:  api + "/subscriptions",
		OrganizationsURL:  api + "/orgs",
		ReposURL:          api + "/repos",
		EventsURL:         api + "/events{/privacy}",
		ReceivedEventsURL: api + "/received_events",
		Type:              u.kind,
		UserViewType:      "public",
	}
}

// repoAPI is the repository's API URL, without a trailing slash.
func (s *Server) repoAPI() string {
	return s.base + "repos/" + s.opts.Owner + "/" + s.opts.Repo
}

// repoHTML is the repository's web URL, without a trailing slash.
func (s *Server) repoHTML() string {
	return s.base + s.opts.Owner + "/" + s.opts.Repo
}

// repoJSONLocked is GitHub's "minimal-repository", as embedded in workflow
// runs.
func (s *Server) repoJSONLocked() map[string]any {
	api := s.repoAPI()
	m := map[string]any{
		"id":             s.repoID,
		"node_id":        nodeID("R_", s.repoID),
		"name":           s.opts.Repo,
		"full_name":      s.opts.Owner + "/" + s.opts.Repo,
		"owner":          s.userJSONLocked(s.opts.Owner),
		"private":        true,
		"html_url":       s.repoHTML(),
		"description":    nil,
		"fork":           false,
		"url":            api,
		"default_branch": s.opts.DefaultBranch,
		"visibility":     "private",
	}
	templates := map[string]string{
		"archive_url":       "/{archive_format}{/ref}",
		"assignees_url":     "/assignees{/user}",
		"blobs_url":         "/git/blobs{/sha}",
		"branches_url":      "/branches{/branch}",
		"collaborators_url": "/collaborators{/collaborator}",
		"comments_url":      "/comments{/number}",
		"commits_url":       "/commits{/sha}",
		"compare_url":       "/compare/{base}...{head}",
		"contents_url":      "/contents/{+path}",
		"contributors_url":  "/contributors",
		"deployments_url":   "/deployments",
		"downloads_url":     "/downloads",
		"events_url":        "/events",
		"forks_url":         "/forks",
		"git_commits_url":   "/git/commits{/sha}",
		"git_refs_url":      "/git/refs{/sha}",
		"git_tags_url":      "/git/tags{/sha}",
		"hooks_url":         "/hooks",
		"issue_comment_url": "/issues/comments{/number}",
		"issue_events_url":  "/issues/events{/number}",
		"issues_url":        "/issues{/number}",
		"keys_url":          "/keys{/key_id}",
		"labels_url":        "/labels{/name}",
		"languages_url":     "/languages",
		"merges_url":        "/merges",
		"milestones_url":    "/milestones{/number}",
		"notifications_url": "/notifications{?since,all,participating}",
		"pulls_url":         "/pulls{/number}",
		"releases_url":      "/releases{/id}",
		"stargazers_url":    "/stargazers",
		"statuses_url":      "/statuses/{sha}",
		"subscribers_url":   "/subscribers",
		"subscription_url":  "/subscription",
		"tags_url":          "/tags",
		"teams_url":         "/teams",
		"trees_url":         "/git/trees{/sha}",
	}
	for k, v := range templates {
		m[k] = api + v
	}
	return m
}

// nodeID makes a GraphQL-style global id.
func nodeID(prefix string, id int64) string {
	return prefix + base64.RawURLEncoding.EncodeToString([]byte("fake:"+strconv.FormatInt(id, 10)))
}

// timestamp formats t as GitHub does: UTC, whole seconds.
func timestamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// optTimestamp is timestamp, or null for the zero time.
func optTimestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	ts := timestamp(t)
	return &ts
}

// errorBody is GitHub's error answer ("basic-error" and
// "validation-error").
type errorBody struct {
	Message          string `json:"message"`
	Errors           []any  `json:"errors,omitempty"`
	DocumentationURL string `json:"documentation_url,omitempty"`
	Status           string `json:"status,omitempty"`
}

// errorReply answers status with message and the route's documentation URL.
func (s *Server) errorReply(q *request, status int, message string, errs []any) reply {
	doc := s.docs[q.route]
	if doc == "" {
		doc = "https://docs.github.com/rest"
	}
	return reply{status: status, body: errorBody{
		Message:          message,
		Errors:           errs,
		DocumentationURL: doc,
		Status:           strconv.Itoa(status),
	}}
}

func (s *Server) notFound(q *request) reply {
	return s.errorReply(q, http.StatusNotFound, "Not Found", nil)
}

// invalid answers 422 "Invalid request." with the problems found by a body
// check, GitHub's wording for a body that breaks the endpoint's schema.
func (s *Server) invalid(q *request, problems ...string) reply {
	return s.errorReply(q, http.StatusUnprocessableEntity, "Invalid request.\n\n"+strings.Join(problems, "\n"), nil)
}

// validationFailed answers 422 "Validation Failed" with one error object, the
// wording GitHub uses when a well-formed body is refused.
func (s *Server) validationFailed(q *request, resource, field, code, message string) reply {
	e := map[string]any{"resource": resource, "field": field, "code": code}
	if message != "" {
		e["message"] = message
	}
	return s.errorReply(q, http.StatusUnprocessableEntity, "Validation Failed", []any{e})
}

// page is one page of a listing.
type page struct {
	lo, hi int // the slice of the full listing to answer
	link   string
}

// paginate reads per_page and page as GitHub does (per_page at most 100,
// invalid values fall back to the defaults) and builds the Link header: rel
// prev, next, last and first, in GitHub's order, each the request's URL with
// its page replaced.
func (s *Server) paginate(q *request, total int) page {
	perPage := s.opts.PageSize
	if v, err := strconv.Atoi(q.URL.Query().Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	n := 1
	if v, err := strconv.Atoi(q.URL.Query().Get("page")); err == nil && v > 0 {
		n = v
	}
	last := max((total+perPage-1)/perPage, 1)
	p := page{lo: min((n-1)*perPage, total), hi: min(n*perPage, total)}
	if total <= perPage && n == 1 {
		return p
	}
	var kept []string
	for _, kv := range strings.Split(q.URL.RawQuery, "&") {
		if kv != "" && !strings.HasPrefix(kv, "page=") && kv != "page" {
			kept = append(kept, kv)
		}
	}
	link := func(n int, rel string) string {
		u := s.base + strings.TrimPrefix(q.URL.EscapedPath(), "/") + "?" + strings.Join(append(kept, "page="+strconv.Itoa(n)), "&")
		return fmt.Sprintf("<%s>; rel=%q", u, rel)
	}
	var links []string
	if n > 1 {
		links = append(links, link(min(n-1, last), "prev"))
	}
	if n < last {
		links = append(links, link(n+1, "next"), link(last, "last"))
	}
	if n > 1 {
		links = append(links, link(1, "first"))
	}
	p.link = strings.Join(links, ", ")
	return p
}

// listReply answers 200 with body and the page's Link header.
func listReply(p page, body any) reply {
	rep := reply{status: http.StatusOK, body: body}
	if p.link != "" {
		rep.header = http.Header{"Link": {p.link}}
	}
	return rep
}

// pathID parses a numeric path parameter; ok is false for anything else, which
// GitHub answers 404.
func pathID(q *request, name string) (int64, bool) {
	id, err := strconv.ParseInt(q.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}
