package githubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/google/go-cmp/cmp"
)

// subsetFile is GitHub's OpenAPI description of the endpoints Promote uses
// (see testdata/README.md).
const subsetFile = "testdata/openapi-subset.json"

// loadSubset loads GitHub's OpenAPI subset once per test binary: the file is
// about 1 MB.
var loadSubset = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(subsetFile)
	if err != nil {
		return nil, fmt.Errorf("loading %q: %w", subsetFile, err)
	}
	return doc, nil
})

func subset(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := loadSubset()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// specChecker is an http.RoundTripper that validates every response of the
// fake against the operation of the OpenAPI subset its route implements.
type specChecker struct {
	t      *testing.T
	doc    *openapi3.T
	next   http.RoundTripper
	routes *http.ServeMux // the fake's routes, to name each request's route

	mu        sync.Mutex
	exercised map[string]bool // routes with a validated response
	succeeded map[string]bool // routes with a validated 2xx response
	responses int
}

func newSpecChecker(t *testing.T, doc *openapi3.T, s *Server) *specChecker {
	c := &specChecker{
		t:         t,
		doc:       doc,
		next:      s.Client().Transport,
		routes:    http.NewServeMux(),
		exercised: map[string]bool{},
		succeeded: map[string]bool{},
	}
	for _, r := range s.Routes() {
		c.routes.Handle(r, http.NotFoundHandler())
	}
	return c
}

func (c *specChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	_, route := c.routes.Handler(req)
	if err := c.check(req, route, resp, body); err != nil {
		c.t.Errorf("%s %s (route %q) answered %d %s:\n%v", req.Method, req.URL.Path, route, resp.StatusCode, body, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.responses++
	if route != "" {
		c.exercised[route] = true
		if resp.StatusCode/100 == 2 {
			c.succeeded[route] = true
		}
	}
	return resp, nil
}

// uriFormat accepts an absolute URL, or "" which GitHub sends for an unset
// URL whose schema declares `default: ""`.
var uriFormat = openapi3.NewCallbackValidator(func(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URI", s)
	}
	return nil
})

var emailFormat = openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail)

// check validates one response.
func (c *specChecker) check(req *http.Request, route string, resp *http.Response, body []byte) error {
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Used", "X-RateLimit-Reset"} {
		if _, err := strconv.ParseInt(resp.Header.Get(h), 10, 64); err != nil {
			return fmt.Errorf("header %s = %q, want a number", h, resp.Header.Get(h))
		}
	}
	if got := resp.Header.Get("X-RateLimit-Resource"); got != "core" {
		return fmt.Errorf("header X-RateLimit-Resource = %q, want core", got)
	}
	if resp.StatusCode == http.StatusNotModified {
		if len(body) != 0 || resp.Header.Get("ETag") == "" {
			return fmt.Errorf("304 with body %q and ETag %q, want an empty body and the ETag", body, resp.Header.Get("ETag"))
		}
		return nil
	}
	if req.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		if got, want := resp.Header.Get("ETag"), `"`+hashHex(body)+`"`; got != want {
			return fmt.Errorf("ETag = %s, want the body's strong hash %s", got, want)
		}
	}
	var op *openapi3.Operation
	var path string
	if route != "" {
		var method string
		method, path, _ = strings.Cut(route, " ")
		item := c.doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			return fmt.Errorf("the OpenAPI subset has no operation %s", route)
		}
		op = item.GetOperation(method)
	}
	if op == nil || op.Responses.Status(resp.StatusCode) == nil {
		// GitHub answers errors its description does not list for every
		// operation (401, 404, 422, ...): check them against its error schemas.
		return c.checkError(resp, body)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: c.doc, Path: path, PathItem: c.doc.Paths.Value(path), Method: req.Method, Operation: op},
		},
		Status: resp.StatusCode,
		Header: resp.Header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.WithStringFormatValidator("uri", uriFormat),
				openapi3.WithStringFormatValidator("email", emailFormat),
			},
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return err
	}
	if declared := op.Responses.Status(resp.StatusCode).Value.Content; len(declared) == 0 && len(body) > 0 && resp.StatusCode < 300 {
		return fmt.Errorf("the operation declares no body for %d, got %s", resp.StatusCode, body)
	}
	return nil
}

// checkError validates an error answer against GitHub's "basic-error", or
// "validation-error" for a 422.
func (c *specChecker) checkError(resp *http.Response, body []byte) error {
	if resp.StatusCode < 400 {
		return fmt.Errorf("status %d is not declared by the operation", resp.StatusCode)
	}
	op := c.doc.Paths.Value("/repos/{owner}/{repo}/deployments/{deployment_id}").Get
	schema := op.Responses.Status(http.StatusNotFound).Value.Content.Get("application/json").Schema.Value
	if resp.StatusCode == http.StatusUnprocessableEntity {
		op = c.doc.Paths.Value("/repos/{owner}/{repo}/deployments").Post
		schema = op.Responses.Status(http.StatusUnprocessableEntity).Value.Content.Get("application/json").Schema.Value
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		return fmt.Errorf("Content-Type = %q, want JSON", ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	if err := schema.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		return err
	}
	m, _ := v.(map[string]any)
	if m["message"] == "" || m["status"] != strconv.Itoa(resp.StatusCode) ||
		m["documentation_url"] == nil && resp.StatusCode < 500 {
		return fmt.Errorf("error body lacks message, documentation_url (below 500) or status %q", strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// scriptStep is one request of the validation script. {name} in path, body
// and header values is replaced by a value saved by an earlier step.
type scriptStep struct {
	what    string
	advance time.Duration // moved on the clock before the request
	method  string
	path    string
	body    string
	hdr     []string
	status  int
	save    string                         // saves the body's id (or workflow_run_id) under this name
	etag    string                         // saves the ETag under this name
	check   func(t *testing.T, r response) // more assertions
}

var placeholder = regexp.MustCompile(`\{[a-z0-9_]+\}`)

// TestResponsesMatchOpenAPI drives the fake through a promotion (deployments,
// statuses, environments, dispatches, runs waiting for approval, approvals,
// cancellations, errors, pagination and conditional requests) and validates
// every response against GitHub's OpenAPI description, then checks that the
// script walked every route the server registers.
// TestResponsesMatchOpenAPI checks the answers of a loopback server and of an
// in-memory one (run in a synctest bubble, as the tests that use it run it):
// both go through net/http's server, so they must answer alike.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	t.Run("loopback", func(t *testing.T) {
		t.Parallel()
		responsesMatchOpenAPI(t, Options{})
	})
	t.Run("in-memory", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) { responsesMatchOpenAPI(t, Options{InMemory: true}) })
	})
}

func responsesMatchOpenAPI(t *testing.T, opts Options) {
	doc := subset(t)
	s, clock := newManual(t, opts)
	s.SetBranches("feature")
	s.SetTags("v1.2.0")
	s.AddEnvironment("staging", Protection{})
	s.AddEnvironment("production", Protection{Reviewers: []string{"promote-bot"}, WaitTimer: 5 * time.Minute})
	s.AddWorkflow("deploy.yml", Workflow{
		Name:        "Deploy",
		RunName:     "Deploy ${{ inputs.service }} to ${{ inputs.environment }}",
		Inputs:      []string{"service", "environment"},
		Environment: "${{ inputs.environment }}",
		Script: func(map[string]string) RunScript {
			return RunScript{QueueDelay: 10 * time.Second, Duration: time.Minute}
		},
	})
	s.AddWorkflow("lint.yml", Workflow{})
	checker := newSpecChecker(t, doc, s)
	a := newAPI(t, s)
	a.client = &http.Client{Transport: checker}

	s.mu.Lock()
	vars := map[string]string{
		"bot":        itoa(s.userLocked("promote-bot").id),
		"production": itoa(s.environmentLocked("production", false).id),
		"deploy_wf":  itoa(s.workflows[0].id),
		"since":      url.QueryEscape(">=" + epoch.Format(time.RFC3339)),
	}
	s.mu.Unlock()
	const (
		deps    = "repos/acme/app/deployments"
		envs    = "repos/acme/app/environments"
		wfs     = "repos/acme/app/actions/workflows"
		runs    = "repos/acme/app/actions/runs"
		good    = `"auto_merge":false,"required_contexts":[]`
		approve = `{"environment_ids":[{production}],"state":"approved","comment":"ship it"}`
	)
	wantField := func(field string, want any) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			t.Helper()
			if got := r.object(t)[field]; got != want {
				t.Errorf("%s = %v, want %v", field, got, want)
			}
		}
	}
	steps := []scriptStep{
		{what: "rate limit", method: "GET", path: "rate_limit", status: 200},

		{what: "deploy to staging", method: "POST", path: deps, status: 201, save: "dep1",
			body: `{"ref":"main","environment":"staging","description":"first",` + good + `,"payload":{"service":"api"}}`},
		{what: "deploy again with a string payload", method: "POST", path: deps, status: 201, save: "dep2",
			body: `{"ref":"main","environment":"staging","task":"deploy:migrate",` + good + `,"payload":"{\"x\":1}"}`},
		{what: "deploy a tag to production", method: "POST", path: deps, status: 201, save: "dep3",
			body: `{"ref":"v1.2.0",` + good + `}`, check: wantField("production_environment", true)},
		{what: "deploy without ref", method: "POST", path: deps, body: `{"environment":"staging"}`, status: 422},
		{what: "deploy a ref that does not exist", method: "POST", path: deps, body: `{"ref":"nope",` + good + `}`, status: 422},
		{what: "deploy a branch with auto_merge", method: "POST", path: deps, body: `{"ref":"feature"}`, status: 409},
		{what: "deploy with required contexts", method: "POST", path: deps, body: `{"ref":"main","auto_merge":false,"required_contexts":["ci"]}`, status: 409},
		{what: "deploy with a malformed body", method: "POST", path: deps, body: `{"ref":`, status: 400},

		{what: "get a commit", method: "GET", path: "repos/acme/app/commits/main", status: 200, etag: "commit_etag"},
		{what: "get a commit again", method: "GET", path: "repos/acme/app/commits/main", hdr: []string{"If-None-Match", "{commit_etag}"}, status: 304},
		{what: "get a commit that does not exist", method: "GET", path: "repos/acme/app/commits/0000000000000000000000000000000000000000", status: 422},

		{what: "list deployments", method: "GET", path: deps + "?per_page=2", status: 200},
		{what: "list deployments, page 2", method: "GET", path: deps + "?per_page=2&page=2", status: 200},
		{what: "list staging deployments", method: "GET", path: deps + "?environment=staging&ref=main", status: 200},
		{what: "get a deployment", method: "GET", path: deps + "/{dep1}", status: 200, etag: "dep1_etag"},
		{what: "get a deployment again", method: "GET", path: deps + "/{dep1}", hdr: []string{"If-None-Match", "{dep1_etag}"}, status: 304},
		{what: "get a missing deployment", method: "GET", path: deps + "/42", status: 404},

		{what: "status in_progress", method: "POST", path: deps + "/{dep1}/statuses", status: 201, save: "st1",
			body: `{"state":"in_progress","log_url":"https://ci.example/1"}`},
		{what: "status success", method: "POST", path: deps + "/{dep1}/statuses", status: 201,
			body: `{"state":"success","environment_url":"https://staging.example","description":"done"}`},
		{what: "status success on the next deployment", method: "POST", path: deps + "/{dep2}/statuses", status: 201,
			body: `{"state":"success"}`},
		{what: "status with a long description", method: "POST", path: deps + "/{dep1}/statuses", status: 422,
			body: `{"state":"failure","description":"` + strings.Repeat("x", 141) + `"}`},
		{what: "status with a bad state", method: "POST", path: deps + "/{dep1}/statuses", status: 422, body: `{"state":"done"}`},
		{what: "status of a missing deployment", method: "POST", path: deps + "/42/statuses", status: 404, body: `{"state":"success"}`},
		{what: "list statuses", method: "GET", path: deps + "/{dep1}/statuses?per_page=2", status: 200},
		{what: "get a status", method: "GET", path: deps + "/{dep1}/statuses/{st1}", status: 200, check: wantField("target_url", "https://ci.example/1")},
		{what: "get a missing status", method: "GET", path: deps + "/{dep1}/statuses/42", status: 404},

		{what: "list environments", method: "GET", path: envs, status: 200},
		{what: "get an environment", method: "GET", path: envs + "/production", status: 200},
		{what: "get a missing environment", method: "GET", path: envs + "/nope", status: 404},
		{what: "create an environment", method: "PUT", path: envs + "/qa", status: 200,
			body: `{"wait_timer":1,"reviewers":[{"type":"User","id":{bot}}],"deployment_branch_policy":{"protected_branches":false,"custom_branch_policies":true}}`},
		{what: "update an environment as go-github does", method: "PUT", path: envs + "/qa", status: 200,
			body: `{"wait_timer":null,"reviewers":null,"can_admins_bypass":null,"deployment_branch_policy":null}`},
		{what: "create an environment with a long wait", method: "PUT", path: envs + "/qa", body: `{"wait_timer":50000}`, status: 422},
		{what: "create an environment with an unknown key", method: "PUT", path: envs + "/qa", body: `{"secret":1}`, status: 422},

		{what: "list workflows", method: "GET", path: wfs, status: 200},
		{what: "get a workflow by file", method: "GET", path: wfs + "/deploy.yml", status: 200},
		{what: "get a workflow by id", method: "GET", path: wfs + "/{deploy_wf}", status: 200},
		{what: "get a missing workflow", method: "GET", path: wfs + "/nope.yml", status: 404},

		{what: "dispatch to staging", method: "POST", path: wfs + "/deploy.yml/dispatches", status: 204,
			body: `{"ref":"main","inputs":{"service":"api","environment":"staging"}}`},
		{what: "dispatch to production with run details", method: "POST", path: wfs + "/deploy.yml/dispatches", status: 200, save: "run",
			body: `{"ref":"main","inputs":{"service":"api","environment":"production"},"return_run_details":true}`},
		{what: "dispatch with an undeclared input", method: "POST", path: wfs + "/deploy.yml/dispatches", status: 422,
			body: `{"ref":"main","inputs":{"colour":"blue"}}`},
		{what: "dispatch a missing ref", method: "POST", path: wfs + "/deploy.yml/dispatches", status: 422, body: `{"ref":"nope"}`},
		{what: "dispatch a missing workflow", method: "POST", path: wfs + "/nope.yml/dispatches", status: 404, body: `{"ref":"main"}`},

		{what: "list runs", method: "GET", path: runs, status: 200},
		{what: "list runs, one a page", method: "GET", path: runs + "?per_page=1&page=2", status: 200},
		{what: "list queued runs of a workflow", method: "GET", path: wfs + "/deploy.yml/runs?status=queued&event=workflow_dispatch&branch=main", status: 200},
		{what: "list runs created since", method: "GET", path: runs + "?created={since}", status: 200},
		{what: "list runs with a bad created", method: "GET", path: runs + "?created=yesterday", status: 422},
		{what: "list runs of a missing workflow", method: "GET", path: wfs + "/nope.yml/runs", status: 404},
		{what: "get a queued run", method: "GET", path: runs + "/{run}", status: 200, check: wantField("status", "queued")},
		{what: "get a missing run", method: "GET", path: runs + "/42", status: 404},
		{what: "no pending deployments while queued", method: "GET", path: runs + "/{run}/pending_deployments", status: 200},

		{what: "get a waiting run", advance: 10 * time.Second, method: "GET", path: runs + "/{run}", status: 200, check: wantField("status", "waiting")},
		{what: "pending deployments", method: "GET", path: runs + "/{run}/pending_deployments", status: 200},
		{what: "jobs of a waiting run", method: "GET", path: runs + "/{run}/jobs", status: 200},
		{what: "approve with the wrong environment", method: "POST", path: runs + "/{run}/pending_deployments", status: 422,
			body: `{"environment_ids":[1],"state":"approved","comment":"ship it"}`},
		{what: "approve", method: "POST", path: runs + "/{run}/pending_deployments", body: approve, status: 200},
		{what: "approve again", method: "POST", path: runs + "/{run}/pending_deployments", body: approve, status: 422},
		{what: "review history", method: "GET", path: runs + "/{run}/approvals", status: 200},
		{what: "wait timer still running", method: "GET", path: runs + "/{run}", status: 200, check: wantField("status", "waiting")},
		{what: "in progress after the wait timer", advance: 5 * time.Minute, method: "GET", path: runs + "/{run}", status: 200,
			etag: "run_etag", check: wantField("status", "in_progress")},
		{what: "in progress, not modified", method: "GET", path: runs + "/{run}", hdr: []string{"If-None-Match", "{run_etag}"}, status: 304},
		{what: "completed", advance: time.Minute, method: "GET", path: runs + "/{run}", hdr: []string{"If-None-Match", "{run_etag}"}, status: 200,
			check: wantField("conclusion", "success")},
		{what: "jobs of a completed run", method: "GET", path: runs + "/{run}/jobs", status: 200},
		{what: "a missing job", method: "GET", path: "repos/acme/app/actions/jobs/42", status: 404},
		{what: "cancel a completed run", method: "POST", path: runs + "/{run}/cancel", status: 409},

		{what: "dispatch again", method: "POST", path: wfs + "/deploy.yml/dispatches", status: 200, save: "run2",
			body: `{"ref":"main","inputs":{"service":"web","environment":"production"},"return_run_details":true}`},
		{what: "cancel a queued run", method: "POST", path: runs + "/{run2}/cancel", status: 202},
		{what: "a cancelled run", method: "GET", path: runs + "/{run2}", status: 200, check: wantField("conclusion", "cancelled")},
		{what: "cancel a missing run", method: "POST", path: runs + "/42/cancel", status: 404},
		{what: "review a custom gate", method: "POST", path: runs + "/{run2}/deployment_protection_rule", status: 204,
			body: `{"environment_name":"production","state":"approved","comment":"gate ok"}`},
		{what: "report on a custom gate", method: "POST", path: runs + "/{run2}/deployment_protection_rule", status: 204,
			body: `{"environment_name":"production","comment":"checking"}`},
		{what: "review a custom gate without state or comment", method: "POST", path: runs + "/{run2}/deployment_protection_rule", status: 422,
			body: `{"environment_name":"production"}`},
		{what: "review a pending deployment of a cancelled run", method: "POST", path: runs + "/{run2}/pending_deployments", body: approve, status: 422},

		{what: "another repository", method: "GET", path: "repos/acme/other/deployments", status: 404},
		{what: "an unknown path", method: "GET", path: "repos/acme/app/pulls", status: 404},
		{what: "a method GitHub does not answer", method: "DELETE", path: deps + "/{dep1}", status: 404},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		fill := func(s string) string {
			for _, m := range placeholder.FindAllString(s, -1) {
				if _, ok := vars[m[1:len(m)-1]]; !ok {
					t.Fatalf("%s: no value saved as %s", st.what, m)
				}
			}
			return expand(vars, s)
		}
		var body any
		if st.body != "" {
			body = fill(st.body)
		}
		hdr := slices.Clone(st.hdr)
		for i := range hdr {
			hdr[i] = fill(hdr[i])
		}
		r := a.do(st.method, fill(st.path), body, hdr...).want(t, st.what, st.status)
		if st.save != "" {
			var v struct {
				ID  int64 `json:"id"`
				Run int64 `json:"workflow_run_id"`
			}
			r.decode(t, &v)
			vars[st.save] = itoa(max(v.ID, v.Run))
		}
		if st.etag != "" {
			vars[st.etag] = r.header.Get("ETag")
		}
		if st.check != nil {
			st.check(t, r)
		}
	}
	for _, run := range s.Runs() {
		if itoa(run.ID) == vars["run"] {
			vars["job"] = itoa(run.JobID)
		}
	}
	a.do("GET", expand(vars, "repos/acme/app/actions/jobs/{job}"), nil).want(t, "get a job", http.StatusOK)

	// Errors every route may answer: no token, and a primary rate limit.
	unauthenticated := *a
	unauthenticated.token = ""
	unauthenticated.do("GET", deps, nil).want(t, "no token", http.StatusUnauthorized)

	if t.Failed() {
		return
	}
	routes := s.Routes()
	got := sortedKeys(checker.exercised)
	if diff := cmp.Diff(routes, got); diff != "" {
		t.Errorf("routes exercised differ from the routes registered (-registered +exercised):\n%s", diff)
	}
	if diff := cmp.Diff(routes, sortedKeys(checker.succeeded)); diff != "" {
		t.Errorf("routes answered 2xx differ from the routes registered (-registered +succeeded):\n%s", diff)
	}
	t.Logf("validated %d responses over %d routes", checker.responses, len(got))
}

// expand replaces {name} placeholders with saved values.
func expand(vars map[string]string, s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string { return vars[m[1:len(m)-1]] })
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestFaultAnswersMatchOpenAPI validates the error answers of injected
// faults that have a JSON body against GitHub's error schema.
func TestFaultAnswersMatchOpenAPI(t *testing.T) {
	t.Parallel()
	doc := subset(t)
	for _, kind := range []FaultKind{FaultInternalServerError, FaultServiceUnavailable, FaultSecondaryRateLimit, FaultTooManyRequests} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{Faults: Faults{Rate: 1, Kinds: []FaultKind{kind}}})
			checker := newSpecChecker(t, doc, s)
			a := newAPI(t, s)
			a.client = &http.Client{Transport: checker}
			r := a.do("GET", "repos/acme/app/deployments", nil)
			if r.status < 400 {
				t.Errorf("status = %d, want an error", r.status)
			}
		})
	}
}
