package githubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Deployment is a deployment as the server stores it.
type Deployment struct {
	ID                  int64
	SHA, Ref, Task      string
	Environment         string // changed by a status that names another environment
	OriginalEnvironment string
	Description         string
	Payload             json.RawMessage // an object or a string, as sent; {} by default
	Transient           bool            // transient_environment
	Production          bool            // production_environment
	Creator             string          // login
	CreatedAt           time.Time
	UpdatedAt           time.Time
	Statuses            []DeploymentStatus // oldest first
}

// DeploymentStatus is one status of a Deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string // also the target_url
	Creator        string // login
	CreatedAt      time.Time
}

// latestState is the state of the deployment's newest status, or "".
func (d *Deployment) latestState() string {
	if len(d.Statuses) == 0 {
		return ""
	}
	return d.Statuses[len(d.Statuses)-1].State
}

// Deployments returns copies of every deployment, oldest first.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deploys))
	for i, d := range s.deploys {
		out[i] = *d
		out[i].Payload = bytes.Clone(d.Payload)
		out[i].Statuses = slices.Clone(d.Statuses)
	}
	return out
}

var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

var createDeploymentSchema = bodySchema{
	required: []string{"ref"},
	fields: []field{
		{name: "ref", kind: kString},
		{name: "task", kind: kString},
		{name: "auto_merge", kind: kBool},
		{name: "required_contexts", kind: kStrings},
		{name: "payload", kind: kObjectOrString},
		{name: "environment", kind: kString},
		{name: "description", kind: kString, nullable: true},
		{name: "transient_environment", kind: kBool},
		{name: "production_environment", kind: kBool},
	},
}

var createStatusSchema = bodySchema{
	required: []string{"state"},
	fields: []field{
		{name: "state", kind: kString, enum: deploymentStates},
		{name: "target_url", kind: kString},
		{name: "log_url", kind: kString},
		{name: "description", kind: kString},
		{name: "environment", kind: kString},
		{name: "environment_url", kind: kString},
		{name: "auto_inactive", kind: kBool},
	},
}

func (s *Server) createDeployment(q *request) reply {
	b, bad := s.readBody(q, createDeploymentSchema)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := b.str("ref", "")
	full, sha := s.resolveCommitishLocked(ref)
	if sha == "" {
		return s.errorReply(q, http.StatusUnprocessableEntity, "No ref found for: "+ref, nil)
	}
	if b.boolean("auto_merge", true) && full != "refs/heads/"+s.opts.DefaultBranch {
		// The fake cannot merge; see the package documentation.
		return s.errorReply(q, http.StatusConflict, fmt.Sprintf("Conflict merging %s into %s.", s.opts.DefaultBranch, ref), nil)
	}
	var contexts []string
	b.decode("required_contexts", &contexts)
	if len(contexts) > 0 {
		// The fake has no commit statuses, so every required context is missing.
		var states []any
		for _, c := range contexts {
			states = append(states, map[string]string{"context": c, "state": "missing"})
		}
		return s.errorReply(q, http.StatusConflict, "Conflict: Commit status checks failed for "+ref+".", []any{map[string]any{
			"contexts": states, "resource": "Deployment", "field": "required_contexts", "code": "invalid",
		}})
	}
	payload := json.RawMessage(`{}`)
	if raw, ok := b["payload"]; ok {
		payload = json.RawMessage(compact(raw))
	}
	env := b.str("environment", "production")
	// As on GitHub, deploying to an environment that does not exist creates
	// it, without protection rules.
	s.environmentLocked(env, true)
	d := &Deployment{
		ID:                  s.id("deployment"),
		SHA:                 sha,
		Ref:                 ref,
		Task:                b.str("task", "deploy"),
		Environment:         env,
		OriginalEnvironment: env,
		Description:         b.str("description", ""),
		Payload:             payload,
		Transient:           b.boolean("transient_environment", false),
		Production:          b.boolean("production_environment", env == "production"),
		Creator:             q.login,
		CreatedAt:           q.now,
		UpdatedAt:           q.now,
	}
	s.deploys = append(s.deploys, d)
	js := s.deploymentJSONLocked(d)
	return reply{status: http.StatusCreated, body: js, header: http.Header{"Location": {js.URL}}}
}

// resolveCommitishLocked finds a branch, a tag or the full SHA of one, as a
// deployment's ref may be.
func (s *Server) resolveCommitishLocked(ref string) (full, sha string) {
	if full, ok := s.resolveRefLocked(ref); ok {
		return full, s.refs[full]
	}
	for _, sha := range s.refs {
		if strings.EqualFold(sha, ref) {
			return "", sha
		}
	}
	return "", ""
}

func (s *Server) listDeployments(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	query := q.URL.Query()
	var match []*Deployment
	for _, d := range slices.Backward(s.deploys) {
		if !filter(query, "sha", d.SHA) || !filter(query, "ref", d.Ref) ||
			!filter(query, "task", d.Task) || !filter(query, "environment", d.Environment) {
			continue
		}
		match = append(match, d)
	}
	p := s.paginate(q, len(match))
	out := []*deploymentJSON{}
	for _, d := range match[p.lo:p.hi] {
		out = append(out, s.deploymentJSONLocked(d))
	}
	return listReply(p, out)
}

// filter applies an optional equality filter; GitHub documents "none" as the
// parameters' default, meaning no filter.
func filter(query map[string][]string, name, value string) bool {
	want := ""
	if v := query[name]; len(v) > 0 {
		want = v[0]
	}
	return want == "" || want == "none" || want == value
}

func (s *Server) deploymentLocked(q *request) *Deployment {
	id, ok := pathID(q, "deployment_id")
	if !ok {
		return nil
	}
	for _, d := range s.deploys {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (s *Server) getDeployment(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deploymentLocked(q)
	if d == nil {
		return s.notFound(q)
	}
	return reply{status: http.StatusOK, body: s.deploymentJSONLocked(d)}
}

func (s *Server) createStatus(q *request) reply {
	s.mu.Lock()
	d := s.deploymentLocked(q)
	s.mu.Unlock()
	if d == nil {
		return s.notFound(q)
	}
	b, bad := s.readBody(q, createStatusSchema)
	if bad != nil {
		return *bad
	}
	desc := b.str("description", "")
	if utf8.RuneCountInString(desc) > 140 {
		return s.validationFailed(q, "DeploymentStatus", "description", "custom", "description is too long (maximum is 140 characters)")
	}
	logURL := b.str("log_url", b.str("target_url", ""))
	s.mu.Lock()
	defer s.mu.Unlock()
	if env := b.str("environment", ""); env != "" {
		d.Environment = env
	}
	st := s.addStatusLocked(d, DeploymentStatus{
		State:          b.str("state", ""),
		Description:    desc,
		EnvironmentURL: b.str("environment_url", ""),
		LogURL:         logURL,
		Creator:        q.login,
		CreatedAt:      q.now,
	})
	if st.State == "success" && b.boolean("auto_inactive", true) {
		// GitHub: "Adds a new inactive status to all prior non-transient,
		// non-production environment deployments with the same repository and
		// environment name as the created status's deployment", those whose
		// latest status is success.
		for _, prior := range s.deploys {
			if prior.ID >= d.ID || prior.Environment != d.Environment || prior.Transient || prior.Production || prior.latestState() != "success" {
				continue
			}
			s.addStatusLocked(prior, DeploymentStatus{State: "inactive", Creator: q.login, CreatedAt: q.now})
		}
	}
	js := s.statusJSONLocked(d, st)
	return reply{status: http.StatusCreated, body: js, header: http.Header{"Location": {js.URL}}}
}

// addStatusLocked appends a status to d, filling its id and environment.
func (s *Server) addStatusLocked(d *Deployment, st DeploymentStatus) DeploymentStatus {
	st.ID = s.id("status")
	st.Environment = d.Environment
	d.Statuses = append(d.Statuses, st)
	d.UpdatedAt = st.CreatedAt
	return st
}

func (s *Server) listStatuses(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deploymentLocked(q)
	if d == nil {
		return s.notFound(q)
	}
	p := s.paginate(q, len(d.Statuses))
	out := []*statusJSON{}
	newest := slices.Clone(d.Statuses)
	slices.Reverse(newest)
	for _, st := range newest[p.lo:p.hi] {
		out = append(out, s.statusJSONLocked(d, st))
	}
	return listReply(p, out)
}

func (s *Server) getStatus(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deploymentLocked(q)
	id, ok := pathID(q, "status_id")
	if d == nil || !ok {
		return s.notFound(q)
	}
	for _, st := range d.Statuses {
		if st.ID == id {
			return reply{status: http.StatusOK, body: s.statusJSONLocked(d, st)}
		}
	}
	return s.notFound(q)
}

// deploymentJSON is GitHub's "deployment", in GitHub's field order.
type deploymentJSON struct {
	URL                   string          `json:"url"`
	ID                    int64           `json:"id"`
	NodeID                string          `json:"node_id"`
	Task                  string          `json:"task"`
	OriginalEnvironment   string          `json:"original_environment"`
	Environment           string          `json:"environment"`
	Description           string          `json:"description"`
	CreatedAt             string          `json:"created_at"`
	UpdatedAt             string          `json:"updated_at"`
	StatusesURL           string          `json:"statuses_url"`
	RepositoryURL         string          `json:"repository_url"`
	Creator               *userJSON       `json:"creator"`
	SHA                   string          `json:"sha"`
	Ref                   string          `json:"ref"`
	Payload               json.RawMessage `json:"payload"`
	TransientEnvironment  bool            `json:"transient_environment"`
	ProductionEnvironment bool            `json:"production_environment"`
	PerformedViaGitHubApp *struct{}       `json:"performed_via_github_app"`
}

func (s *Server) deploymentJSONLocked(d *Deployment) *deploymentJSON {
	u := s.repoAPI() + "/deployments/" + strconv.FormatInt(d.ID, 10)
	return &deploymentJSON{
		URL:                   u,
		ID:                    d.ID,
		NodeID:                nodeID("DE_", d.ID),
		Task:                  d.Task,
		OriginalEnvironment:   d.OriginalEnvironment,
		Environment:           d.Environment,
		Description:           d.Description,
		CreatedAt:             timestamp(d.CreatedAt),
		UpdatedAt:             timestamp(d.UpdatedAt),
		StatusesURL:           u + "/statuses",
		RepositoryURL:         s.repoAPI(),
		Creator:               s.userJSONLocked(d.Creator),
		SHA:                   d.SHA,
		Ref:                   d.Ref,
		Payload:               d.Payload,
		TransientEnvironment:  d.Transient,
		ProductionEnvironment: d.Production,
	}
}

// statusJSON is GitHub's "deployment-status", in GitHub's field order.
type statusJSON struct {
	URL                   string    `json:"url"`
	ID                    int64     `json:"id"`
	NodeID                string    `json:"node_id"`
	State                 string    `json:"state"`
	Creator               *userJSON `json:"creator"`
	Description           string    `json:"description"`
	Environment           string    `json:"environment"`
	TargetURL             string    `json:"target_url"`
	CreatedAt             string    `json:"created_at"`
	UpdatedAt             string    `json:"updated_at"`
	DeploymentURL         string    `json:"deployment_url"`
	RepositoryURL         string    `json:"repository_url"`
	EnvironmentURL        string    `json:"environment_url"`
	LogURL                string    `json:"log_url"`
	PerformedViaGitHubApp *struct{} `json:"performed_via_github_app"`
}

func (s *Server) statusJSONLocked(d *Deployment, st DeploymentStatus) *statusJSON {
	du := s.repoAPI() + "/deployments/" + strconv.FormatInt(d.ID, 10)
	return &statusJSON{
		URL:            du + "/statuses/" + strconv.FormatInt(st.ID, 10),
		ID:             st.ID,
		NodeID:         nodeID("DES_", st.ID),
		State:          st.State,
		Creator:        s.userJSONLocked(st.Creator),
		Description:    st.Description,
		Environment:    st.Environment,
		TargetURL:      st.LogURL,
		CreatedAt:      timestamp(st.CreatedAt),
		UpdatedAt:      timestamp(st.CreatedAt),
		DeploymentURL:  du,
		RepositoryURL:  s.repoAPI(),
		EnvironmentURL: st.EnvironmentURL,
		LogURL:         st.LogURL,
	}
}
