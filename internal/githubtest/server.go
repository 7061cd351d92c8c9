package githubtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/promote-dev/promote/internal/clock"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. The zero value is a fault-free server on the
// real clock for the repository acme/app.
type Options struct {
	Owner, Repo string // default "acme", "app"
	// Seed seeds fault injection: the same seed gives every route the same
	// fault sequence, by the route's call index.
	Seed   int64
	Faults Faults // zero value: no faults
	// Clock is the simulated time; default the real clock. See clock.NewScaled
	// and clock.NewManual.
	Clock clock.Clock
	// RateLimit is the primary rate limit per hour, default 5000. Every
	// response carries x-ratelimit-* headers.
	RateLimit int
	// PageSize is the per_page used when a request sends none, default 30 as
	// on GitHub. per_page is capped at 100.
	PageSize int
	// DefaultBranch is the repository's default branch, default "main".
	DefaultBranch string
	// User is the login every token authenticates as, default "promote-bot",
	// unless Tokens says otherwise.
	User string
	// Tokens maps a token to the login it authenticates as. When it is
	// non-nil, any other token is answered 401 "Bad credentials".
	Tokens map[string]string

	// ReadOnlyTokens are tokens that may read but not write, like a
	// workflow's GITHUB_TOKEN without `deployments: write`: their writes
	// are answered 403 "Resource not accessible by integration".
	ReadOnlyTokens []string
	// ListingDelay hides a run from run listings for this long (simulated)
	// after its dispatch, as GitHub lists runs a moment after the dispatch.
	// GET of the run by id works at once.
	ListingDelay time.Duration
	// WritesPerMinute and WritesPerHour are GitHub's secondary limits on
	// content-creating requests, enforced on every POST, PATCH, PUT and
	// DELETE by the time it arrives: a write that finds this many writes
	// already arrived in the trailing minute (or hour) is refused with 403,
	// GitHub's secondary-limit message and a Retry-After, and counts itself,
	// as a refused attempt does on GitHub. 0 means GitHub's 80 and 500, a
	// negative value turns the limit off.
	WritesPerMinute, WritesPerHour int
	// NoRunDetails makes dispatches answer like an older GitHub Enterprise
	// Server, from before return_run_details (2026-02-19): a body with it is
	// refused with 422 "\"return_run_details\" is not a permitted key.".
	NoRunDetails bool
	// InMemory serves the API over in-memory connections (net.Pipe)
	// instead of a loopback port; URL is then "http://api.github.test/" and
	// only Client reaches it. A test that asserts on durations runs such a
	// server inside a testing/synctest bubble, with the default real clock:
	// there time.Now and timers are the bubble's fake clock, which advances
	// only when every goroutine of the bubble is blocked, so simulated
	// durations come out exact however loaded the machine is. A loopback
	// server cannot do that: a goroutine waiting on a socket is not durably
	// blocked, and the bubble's clock would never move. The server must then
	// be created, used and closed inside that one bubble.
	InMemory bool
}

// Count tallies the requests on one route.
type Count struct {
	Total       int // every request, whatever its answer
	NotModified int // answered 304
	Faulted     int // given an injected fault (latency included)
	// SecondaryLimited is how many were refused for the secondary limit
	// on writes (Options.WritesPerMinute), not counting injected faults.
	SecondaryLimited int
}

// Server is an in-memory GitHub REST API serving one repository on loopback,
// or over in-memory connections (Options.InMemory).
// Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	clock  clock.Clock
	ts     *httptest.Server // nil when InMemory
	mem    *memServer       // nil unless InMemory
	mux    *http.ServeMux
	base   string // "http://127.0.0.1:PORT/"
	routes []string
	docs   map[string]string // route → documentation_url

	mu        sync.Mutex
	repoID    int64
	created   time.Time
	requests  int
	calls     map[string]*Count
	faultLog  []FaultEvent
	rate      rateWindow
	writes    []time.Time // arrivals of writes in the trailing hour, oldest first
	approver  func(runID int64, env string) (time.Duration, bool)
	users     []*user
	refs      map[string]string // full ref name → sha
	envs      []*environment
	workflows []*workflow
	deploys   []*Deployment
	runs      []*run
	nextID    map[string]int64
}

// New starts a Server on a loopback port, or without one if opts.InMemory.
// Close it when done.
func New(opts Options) *Server {
	if opts.Owner == "" {
		opts.Owner = "acme"
	}
	if opts.Repo == "" {
		opts.Repo = "app"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = 5000
	}
	if opts.WritesPerMinute == 0 {
		opts.WritesPerMinute = 80
	}
	if opts.WritesPerHour == 0 {
		opts.WritesPerHour = 500
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 30
	}
	if opts.DefaultBranch == "" {
		opts.DefaultBranch = "main"
	}
	if opts.User == "" {
		opts.User = "promote-bot"
	}
	opts.Tokens = maps.Clone(opts.Tokens)
	opts.Faults.Kinds = slices.Clone(opts.Faults.Kinds)
	opts.Faults.SkipRoutes = slices.Clone(opts.Faults.SkipRoutes)
	opts.Faults.First = maps.Clone(opts.Faults.First)
	s := &Server{
		opts:   opts,
		clock:  opts.Clock,
		mux:    http.NewServeMux(),
		docs:   map[string]string{},
		repoID: 1296269,
		calls:  map[string]*Count{},
		refs:   map[string]string{},
		nextID: map[string]int64{},
	}
	s.created = s.clock.Now().Add(-24 * time.Hour)
	s.rate = rateWindow{limit: opts.RateLimit, reset: s.clock.Now().Add(time.Hour)}
	s.userLocked(opts.Owner).kind = "Organization"
	s.userLocked(opts.User)
	logins := make([]string, 0, len(opts.Tokens))
	for _, login := range opts.Tokens {
		logins = append(logins, login)
	}
	slices.Sort(logins)
	for _, login := range logins {
		s.userLocked(login)
	}
	s.userLocked(actionsBot).kind = "Bot"
	s.refs["refs/heads/"+opts.DefaultBranch] = s.shaFor("refs/heads/" + opts.DefaultBranch)
	s.register()
	if opts.InMemory {
		s.mem = startMem(s.mux)
		s.base = "http://" + memHost + "/"
		return s
	}
	s.ts = httptest.NewUnstartedServer(s.mux)
	s.base = "http://" + s.ts.Listener.Addr().String() + "/"
	s.ts.Start()
	return s
}

// URL returns the base URL for a client, with a trailing slash, like
// "https://api.github.com/".
func (s *Server) URL() string { return s.base }

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() {
	if s.mem != nil {
		s.mem.close()
		return
	}
	s.ts.Close()
}

// Client returns a plain HTTP client for the server; it sends no
// Authorization header of its own. It is the only way to reach an InMemory
// server.
func (s *Server) Client() *http.Client {
	if s.mem != nil {
		return &http.Client{Transport: s.mem.transport}
	}
	return s.ts.Client()
}

// Clock returns the server's clock.
func (s *Server) Clock() clock.Clock { return s.clock }

// Routes returns the routes the server answers, as method and path pattern
// ("GET /repos/{owner}/{repo}/deployments"), sorted. Calls uses the same keys.
func (s *Server) Routes() []string {
	r := slices.Clone(s.routes)
	slices.Sort(r)
	return r
}

// Calls returns the request counts by route.
func (s *Server) Calls() map[string]Count {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]Count, len(s.calls))
	for k, v := range s.calls {
		m[k] = *v
	}
	return m
}

// FaultLog returns the faults injected so far, in the order they happened.
func (s *Server) FaultLog() []FaultEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.faultLog)
}

// SetBranches adds branches to the repository, besides the default branch.
// Each gets a SHA derived from its name (see SHA).
func (s *Server) SetBranches(names ...string) {
	s.setRefs("refs/heads/", names)
}

// SetTags adds tags to the repository. Each gets a SHA derived from its name.
func (s *Server) SetTags(names ...string) {
	s.setRefs("refs/tags/", names)
}

func (s *Server) setRefs(prefix string, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		full := prefix + strings.TrimPrefix(n, prefix)
		s.refs[full] = s.shaFor(full)
	}
}

// SHA returns the commit SHA a branch, tag or full ref ("refs/heads/main")
// points to, or "" if the repository has no such ref.
func (s *Server) SHA(ref string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	full, _ := s.resolveRefLocked(ref)
	return s.refs[full]
}

// SetApprover installs an automatic reviewer. When a run starts waiting on an
// environment with required reviewers, f is called once with the run's id and
// the environment's name; the run is approved (approve true) or rejected
// approveAfter later, in simulated time, unless a review through the API came
// first. f is called with the server's lock held and must not call the
// Server. By default there is no approver: runs wait until POST
// …/pending_deployments reviews them.
func (s *Server) SetApprover(f func(runID int64, env string) (approveAfter time.Duration, approve bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approver = f
}

// shaFor derives a stable commit SHA for a ref.
func (s *Server) shaFor(ref string) string {
	h := sha256.Sum256([]byte(s.opts.Owner + "/" + s.opts.Repo + ":" + ref))
	return hex.EncodeToString(h[:20])
}

// resolveRefLocked finds a branch or tag by short or full name, returning the
// full name and whether it is a branch.
func (s *Server) resolveRefLocked(ref string) (full string, ok bool) {
	for _, c := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if _, found := s.refs[c]; found && strings.HasPrefix(c, "refs/") {
			return c, true
		}
	}
	return "", false
}

// id hands out the next id of a kind; each kind has its own range so that a
// client mixing up a run id and a deployment id gets a 404, not a wrong object.
func (s *Server) id(kind string) int64 {
	s.nextID[kind]++
	return idBases[kind] + s.nextID[kind]
}

var idBases = map[string]int64{
	"deployment":  1_000_000,
	"status":      2_000_000,
	"run":         3_000_000,
	"job":         4_000_000,
	"workflow":    5_000_000,
	"environment": 6_000_000,
	"rule":        7_000_000,
	"user":        9_000_000,
}

// request is what a handler sees of a request.
type request struct {
	*http.Request
	route string
	login string
	now   time.Time
}

// reply is what a handler answers, before the common headers, ETag and
// conditional request handling are applied.
type reply struct {
	status      int
	body        any // marshalled as JSON; nil means no body
	raw         []byte
	contentType string
	header      http.Header
}

// handlerFunc handles one route. It takes the server's lock itself.
type handlerFunc func(q *request) reply

// handle registers a route.
func (s *Server) handle(method, pattern, doc string, h handlerFunc) {
	route := method + " " + pattern
	s.routes = append(s.routes, route)
	s.docs[route] = doc
	s.mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, route, h)
	})
}

// register installs every route.
func (s *Server) register() {
	const (
		repo  = "/repos/{owner}/{repo}"
		docs  = "https://docs.github.com/rest/"
		runs  = docs + "actions/workflow-runs#"
		wfs   = docs + "actions/workflows#"
		jobs  = docs + "actions/workflow-jobs#"
		deps  = docs + "deployments/deployments#"
		stats = docs + "deployments/statuses#"
		envs  = docs + "deployments/environments#"
	)
	s.handle("GET", "/rate_limit", docs+"rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user", s.getRateLimit)

	s.handle("GET", repo+"/deployments", deps+"list-deployments", s.listDeployments)
	s.handle("POST", repo+"/deployments", deps+"create-a-deployment", s.createDeployment)
	s.handle("GET", repo+"/deployments/{deployment_id}", deps+"get-a-deployment", s.getDeployment)
	s.handle("GET", repo+"/deployments/{deployment_id}/statuses", stats+"list-deployment-statuses", s.listStatuses)
	s.handle("POST", repo+"/deployments/{deployment_id}/statuses", stats+"create-a-deployment-status", s.createStatus)
	s.handle("GET", repo+"/deployments/{deployment_id}/statuses/{status_id}", stats+"get-a-deployment-status", s.getStatus)

	s.handle("GET", repo+"/commits/{ref}", docs+"commits/commits#get-a-commit", s.getCommit)

	s.handle("GET", repo+"/environments", envs+"list-environments", s.listEnvironments)
	s.handle("GET", repo+"/environments/{environment_name}", envs+"get-an-environment", s.getEnvironment)
	s.handle("PUT", repo+"/environments/{environment_name}", envs+"create-or-update-an-environment", s.putEnvironment)

	s.handle("GET", repo+"/actions/workflows", wfs+"list-repository-workflows", s.listWorkflows)
	s.handle("GET", repo+"/actions/workflows/{workflow_id}", wfs+"get-a-workflow", s.getWorkflow)
	s.handle("POST", repo+"/actions/workflows/{workflow_id}/dispatches", wfs+"create-a-workflow-dispatch-event", s.dispatch)
	s.handle("GET", repo+"/actions/workflows/{workflow_id}/runs", runs+"list-workflow-runs-for-a-workflow", s.listWorkflowRuns)

	s.handle("GET", repo+"/actions/runs", runs+"list-workflow-runs-for-a-repository", s.listRuns)
	s.handle("GET", repo+"/actions/runs/{run_id}", runs+"get-a-workflow-run", s.getRun)
	s.handle("POST", repo+"/actions/runs/{run_id}/cancel", runs+"cancel-a-workflow-run", s.cancelRun)
	s.handle("GET", repo+"/actions/runs/{run_id}/jobs", jobs+"list-jobs-for-a-workflow-run", s.listJobs)
	s.handle("GET", repo+"/actions/jobs/{job_id}", jobs+"get-a-job-for-a-workflow-run", s.getJob)
	s.handle("GET", repo+"/actions/runs/{run_id}/pending_deployments", runs+"get-pending-deployments-for-a-workflow-run", s.getPendingDeployments)
	s.handle("POST", repo+"/actions/runs/{run_id}/pending_deployments", runs+"review-pending-deployments-for-a-workflow-run", s.reviewPendingDeployments)
	s.handle("GET", repo+"/actions/runs/{run_id}/approvals", runs+"get-the-review-history-for-a-workflow-run", s.getApprovals)
	s.handle("POST", repo+"/actions/runs/{run_id}/deployment_protection_rule", runs+"review-custom-deployment-protection-rules-for-a-workflow-run", s.reviewProtectionRule)

	// GitHub answers an unknown path or method with 404, not 405.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, "", func(q *request) reply { return s.notFound(q) })
	})
}

// freeRoutes do not count against the primary rate limit.
var freeRoutes = map[string]bool{"GET /rate_limit": true}

// serve runs the common pipeline: count, authenticate, rate limit, inject
// faults, handle, then add ETag and rate limit headers or answer 304.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, h handlerFunc) {
	s.mu.Lock()
	s.requests++
	requestID := fmt.Sprintf("%04X:%04X:%06X:%06X:%08X", s.requests%0xFFFF, 0xC0DE, s.requests, s.repoID%0xFFFFFF, s.requests)
	index := -1
	var count *Count
	if route != "" {
		count = s.calls[route]
		if count == nil {
			count = &Count{}
			s.calls[route] = count
		}
		index = count.Total
		count.Total++
	}
	s.mu.Unlock()

	hdr := w.Header()
	hdr.Set("X-GitHub-Request-Id", requestID)
	hdr.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	hdr.Set("X-GitHub-Media-Type", "github.v3; format=json")

	q := &request{Request: r, route: route}
	login, authErr := s.authenticate(r)
	if authErr != "" {
		s.write(w, q, s.errorReply(q, http.StatusUnauthorized, authErr, nil), s.rateSnapshot())
		return
	}
	q.login = login
	if r.Method != http.MethodGet && r.Method != http.MethodHead && s.readOnly(r) {
		w.Header().Set("X-Accepted-GitHub-Permissions", acceptedPermissions(route))
		s.write(w, q, s.errorReply(q, http.StatusForbidden, "Resource not accessible by integration", nil), s.rateSnapshot())
		return
	}

	free := freeRoutes[route]
	if !free {
		if ok, snap := s.reserve(); !ok {
			s.write(w, q, s.primaryLimitReply(q, requestID), snap)
			return
		}
	}

	if isWrite(r.Method) {
		if retry, limited := s.arriveWrite(); limited {
			s.mu.Lock()
			if count != nil {
				count.SecondaryLimited++
			}
			s.mu.Unlock()
			s.write(w, q, secondaryLimitReply(http.StatusForbidden, int64((retry+time.Second-1)/time.Second), requestID), s.rateSnapshot())
			return
		}
	}

	s.mu.Lock()
	kind, latency := s.opts.Faults.decide(s.opts.Seed, route, index)
	if kind != FaultNone {
		count.Faulted++
		s.faultLog = append(s.faultLog, FaultEvent{Route: route, Index: index, Kind: kind, Latency: latency})
	}
	s.mu.Unlock()

	switch kind {
	case FaultDropBeforeHandling:
		drop(w)
		return
	case FaultInternalServerError, FaultBadGateway, FaultServiceUnavailable, FaultSecondaryRateLimit, FaultTooManyRequests:
		s.write(w, q, s.faultReply(kind, requestID), s.rateSnapshot())
		return
	case FaultLatency:
		if err := s.clock.Sleep(r.Context(), latency); err != nil {
			return // the client is gone
		}
	}

	q.now = s.clock.Now()
	if owner := r.PathValue("owner"); owner != "" {
		if !strings.EqualFold(owner, s.opts.Owner) || !strings.EqualFold(r.PathValue("repo"), s.opts.Repo) {
			s.write(w, q, s.notFound(q), s.rateSnapshot())
			return
		}
	}
	rep := h(q)
	if kind == FaultDropAfterHandling {
		drop(w)
		return
	}
	body := rep.raw
	if rep.body != nil {
		body = marshal(rep.body)
	}
	if r.Method == http.MethodGet && rep.status == http.StatusOK {
		etag := `"` + hashHex(body) + `"`
		hdr.Set("ETag", etag)
		hdr.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		hdr.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			// A conditional request answered 304 does not count against the
			// primary rate limit.
			snap := s.rateSnapshot()
			if !free {
				snap = s.release()
			}
			s.mu.Lock()
			count.NotModified++
			s.mu.Unlock()
			s.writeRateHeaders(hdr, snap)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	rep.raw, rep.body = body, nil
	s.write(w, q, rep, s.rateSnapshot())
}

// write sends a reply with the rate limit headers of snap.
func (s *Server) write(w http.ResponseWriter, q *request, rep reply, snap rateWindow) {
	hdr := w.Header()
	s.writeRateHeaders(hdr, snap)
	for k, v := range rep.header {
		hdr[k] = v
	}
	body := rep.raw
	if rep.body != nil {
		body = marshal(rep.body)
	}
	if len(body) > 0 {
		ct := rep.contentType
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		hdr.Set("Content-Type", ct)
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(rep.status)
	if q.Method != http.MethodHead {
		w.Write(body)
	}
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2): abort the handler, which resets the stream.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// authenticate returns the login of the request's token, or the message of a
// 401 answer.
func (s *Server) authenticate(r *http.Request) (login, problem string) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !ok || token == "" || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return "", "Requires authentication"
	}
	if s.opts.Tokens == nil {
		return s.opts.User, ""
	}
	login, ok = s.opts.Tokens[token]
	if !ok {
		return "", "Bad credentials"
	}
	return login, ""
}

// readOnly reports whether the request's token may not write.
func (s *Server) readOnly(r *http.Request) bool {
	_, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return slices.Contains(s.opts.ReadOnlyTokens, strings.TrimSpace(token))
}

// acceptedPermissions is what GitHub names in X-Accepted-GitHub-Permissions
// for a write it refused.
func acceptedPermissions(route string) string {
	switch {
	case strings.Contains(route, "/deployments"):
		return "deployments=write"
	case strings.Contains(route, "/environments"):
		return "administration=write"
	default:
		return "actions=write"
	}
}

// etagMatches applies If-None-Match with the weak comparison RFC 9110 asks for.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, c := range strings.Split(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// marshal encodes v as GitHub does: compact, without HTML escaping.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("githubtest: encoding a response: %v", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
