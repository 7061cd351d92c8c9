package githubtest

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Protection is an environment's deployment protection rules.
type Protection struct {
	// Reviewers are the logins of the required reviewers; any one of them
	// may approve a waiting run.
	Reviewers []string
	// WaitTimer delays a run's job from the moment it starts waiting.
	WaitTimer time.Duration
	// PreventSelfReview stops the run's actor from approving it.
	PreventSelfReview bool
	// CustomRule enables the custom deployment protection rule of
	// Options.App: a waiting run is held until the App approves or rejects
	// it through POST …/deployment_protection_rule, after the wait timer
	// and the reviewers (GitHub evaluates them together; the fake in that
	// order).
	CustomRule bool
}

// protected reports whether a job naming the environment waits.
func (p Protection) protected() bool { return len(p.Reviewers) > 0 || p.WaitTimer > 0 || p.CustomRule }

type branchPolicy struct {
	ProtectedBranches    bool `json:"protected_branches"`
	CustomBranchPolicies bool `json:"custom_branch_policies"`
}

type environment struct {
	id               int64
	name             string
	created, updated time.Time
	protection       Protection
	branchPolicy     *branchPolicy
	ruleIDs          [3]int64 // wait_timer, required_reviewers, branch_policy
}

// AddEnvironment creates an environment, or replaces the protection rules of
// an existing one (names are case-insensitive, as on GitHub).
func (s *Server) AddEnvironment(name string, p Protection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Reviewers = slices.Clone(p.Reviewers)
	for _, r := range p.Reviewers {
		s.userLocked(r)
	}
	e := s.environmentLocked(name, true)
	e.protection = p
	e.updated = s.clock.Now()
}

// environmentLocked finds an environment by name, creating it if create is
// set.
func (s *Server) environmentLocked(name string, create bool) *environment {
	for _, e := range s.envs {
		if strings.EqualFold(e.name, name) {
			return e
		}
	}
	if !create {
		return nil
	}
	now := s.clock.Now()
	e := &environment{id: s.id("environment"), name: name, created: now, updated: now}
	for i := range e.ruleIDs {
		e.ruleIDs[i] = s.id("rule")
	}
	s.envs = append(s.envs, e)
	return e
}

func (s *Server) environmentByIDLocked(id int64) *environment {
	for _, e := range s.envs {
		if e.id == id {
			return e
		}
	}
	return nil
}

var putEnvironmentSchema = bodySchema{
	closed:   true,
	optional: true,
	fields: []field{
		{name: "wait_timer", kind: kInt, nullable: true},
		{name: "prevent_self_review", kind: kBool, nullable: true},
		{name: "reviewers", kind: kArray, nullable: true},
		{name: "deployment_branch_policy", kind: kObject, nullable: true},
		// Not in the OpenAPI subset, but GitHub accepts it and go-github
		// v60 always sends it.
		{name: "can_admins_bypass", kind: kBool, nullable: true},
	},
}

func (s *Server) listEnvironments(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.paginate(q, len(s.envs))
	out := []map[string]any{}
	for _, e := range s.envs[p.lo:p.hi] {
		out = append(out, s.environmentJSONLocked(e))
	}
	return listReply(p, map[string]any{"total_count": len(s.envs), "environments": out})
}

func (s *Server) getEnvironment(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.environmentLocked(q.PathValue("environment_name"), false)
	if e == nil {
		return s.notFound(q)
	}
	return reply{status: http.StatusOK, body: s.environmentJSONLocked(e)}
}

// putEnvironment creates or updates an environment. A property left out keeps
// its value; a null one clears the rule, which is how go-github v60's
// CreateUpdateEnvironment clears rules it does not send.
func (s *Server) putEnvironment(q *request) reply {
	b, bad := s.readBody(q, putEnvironmentSchema)
	if bad != nil {
		return *bad
	}
	name := q.PathValue("environment_name")
	if len(name) > 255 || strings.ContainsAny(name, "/\\,:;'\"*?<>|") {
		return s.errorReply(q, http.StatusUnprocessableEntity, "Invalid environment name: "+name, nil)
	}
	wait := b.integer("wait_timer", 0)
	if wait < 0 || wait > 43200 {
		return s.errorReply(q, http.StatusUnprocessableEntity, "Invalid wait_timer: the wait timer must be between 0 and 43200 minutes (30 days).", nil)
	}
	var reviewers []struct {
		Type string `json:"type"`
		ID   int64  `json:"id"`
	}
	b.decode("reviewers", &reviewers)
	if len(reviewers) > 6 {
		return s.errorReply(q, http.StatusUnprocessableEntity, "Invalid reviewers: an environment can have at most 6 reviewers.", nil)
	}
	var policy *branchPolicy
	b.decode("deployment_branch_policy", &policy)
	if policy != nil && policy.ProtectedBranches == policy.CustomBranchPolicies {
		return s.errorReply(q, http.StatusUnprocessableEntity, "Invalid deployment_branch_policy: exactly one of protected_branches and custom_branch_policies must be true.", nil)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var logins []string
	for _, r := range reviewers {
		u := s.userByIDLocked(r.ID)
		if r.Type != "User" || u == nil || u.kind != "User" {
			// The fake has no teams; users are the ones it knows.
			return s.errorReply(q, http.StatusUnprocessableEntity, "Invalid reviewers: no user with id "+itoa(r.ID)+".", nil)
		}
		logins = append(logins, u.login)
	}
	e := s.environmentLocked(name, true)
	p := &e.protection
	if b.has("wait_timer") {
		p.WaitTimer = time.Duration(wait) * time.Minute // null gives 0
	}
	switch {
	case b.isNull("reviewers"):
		p.Reviewers = nil
	case b.has("reviewers"):
		p.Reviewers = logins
	}
	if b.has("prevent_self_review") {
		p.PreventSelfReview = b.boolean("prevent_self_review", false)
	}
	if b.has("deployment_branch_policy") {
		e.branchPolicy = policy
	}
	e.updated = q.now
	return reply{status: http.StatusOK, body: s.environmentJSONLocked(e)}
}

// environmentJSONLocked is GitHub's "environment".
func (s *Server) environmentJSONLocked(e *environment) map[string]any {
	rules := []map[string]any{}
	p := e.protection
	if p.WaitTimer > 0 {
		rules = append(rules, map[string]any{
			"id": e.ruleIDs[0], "node_id": nodeID("GA_", e.ruleIDs[0]), "type": "wait_timer",
			"wait_timer": waitMinutes(p.WaitTimer),
		})
	}
	if len(p.Reviewers) > 0 {
		rules = append(rules, map[string]any{
			"id": e.ruleIDs[1], "node_id": nodeID("GA_", e.ruleIDs[1]), "type": "required_reviewers",
			"prevent_self_review": p.PreventSelfReview, "reviewers": s.reviewersJSONLocked(p.Reviewers),
		})
	}
	if e.branchPolicy != nil {
		rules = append(rules, map[string]any{
			"id": e.ruleIDs[2], "node_id": nodeID("GA_", e.ruleIDs[2]), "type": "branch_policy",
		})
	}
	return map[string]any{
		"id":                       e.id,
		"node_id":                  nodeID("EN_", e.id),
		"name":                     e.name,
		"url":                      s.environmentURL(e),
		"html_url":                 s.environmentHTML(e),
		"created_at":               timestamp(e.created),
		"updated_at":               timestamp(e.updated),
		"can_admins_bypass":        true,
		"protection_rules":         rules,
		"deployment_branch_policy": e.branchPolicy,
	}
}

func (s *Server) reviewersJSONLocked(logins []string) []map[string]any {
	out := []map[string]any{}
	for _, l := range logins {
		out = append(out, map[string]any{"type": "User", "reviewer": s.userJSONLocked(l)})
	}
	return out
}

// waitMinutes renders a wait timer in GitHub's unit, minutes, rounded up.
func waitMinutes(d time.Duration) int64 {
	return int64((d + time.Minute - 1) / time.Minute)
}

func (s *Server) environmentURL(e *environment) string {
	return s.repoAPI() + "/environments/" + url.PathEscape(e.name)
}

func (s *Server) environmentHTML(e *environment) string {
	return s.repoHTML() + "/deployments/activity_log?environments_filter=" + url.QueryEscape(e.name)
}
