package githubtest

import (
	"context"
	"fmt"
	"github.com/promote-dev/promote/internal/clock"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what       string
		tokens     map[string]string
		header     string
		wantStatus int
		wantMsg    string
	}{
		{what: "bearer", header: "Bearer abc", wantStatus: 200},
		{what: "token", header: "token abc", wantStatus: 200},
		{what: "scheme in capitals", header: "BEARER abc", wantStatus: 200},
		{what: "none", wantStatus: 401, wantMsg: "Requires authentication"},
		{what: "basic", header: "Basic YTpi", wantStatus: 401, wantMsg: "Requires authentication"},
		{what: "empty token", header: "Bearer ", wantStatus: 401, wantMsg: "Requires authentication"},
		{what: "known token", tokens: map[string]string{"abc": "alice"}, header: "Bearer abc", wantStatus: 200},
		{what: "unknown token", tokens: map[string]string{"abc": "alice"}, header: "Bearer xyz", wantStatus: 401, wantMsg: "Bad credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{Tokens: tt.tokens})
			a := newAPI(t, s)
			a.token = ""
			r := a.do("GET", "repos/acme/app/deployments", nil, "Authorization", tt.header).want(t, tt.header, tt.wantStatus)
			if tt.wantMsg != "" && r.message(t) != tt.wantMsg {
				t.Errorf("message = %q, want %q", r.message(t), tt.wantMsg)
			}
			if tt.wantStatus == 401 && s.RateLimitUsed() != 0 {
				t.Errorf("RateLimitUsed() = %d after a 401, want 0", s.RateLimitUsed())
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{Owner: "Octo", Repo: "Hello"})
	a := newAPI(t, s)
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{"GET", "repos/octo/hello/deployments", 200}, // names are case-insensitive
		{"GET", "repos/octo/other/deployments", 404},
		{"GET", "repos/octo/hello/deployments/", 404}, // a trailing slash is another path
		{"GET", "repos/octo/hello/deployments/abc", 404},
		{"PATCH", "repos/octo/hello/deployments", 404},
		{"GET", "user", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			r := a.do(tt.method, tt.path, nil).want(t, tt.path, tt.wantStatus)
			if tt.wantStatus == 404 {
				got := r.object(t)
				if got["message"] != "Not Found" || !strings.HasPrefix(got["documentation_url"].(string), "https://docs.github.com/rest") {
					t.Errorf("body = %s, want GitHub's Not Found", r.body)
				}
			}
		})
	}
}

func TestConditionalRequestsAreFree(t *testing.T) {
	t.Parallel()
	s, clock := newManual(t, Options{})
	a := newAPI(t, s)
	id := a.deploy("staging", nil)
	path := fmt.Sprintf("repos/acme/app/deployments/%d", id)
	first := a.do("GET", path, nil).want(t, "get", 200)
	etag := first.header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || first.header.Get("Cache-Control") == "" {
		t.Fatalf("ETag = %q, Cache-Control = %q, want a strong ETag and caching headers", etag, first.header.Get("Cache-Control"))
	}
	used := s.RateLimitUsed()
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		r := a.do("GET", path, nil, "If-None-Match", inm).want(t, inm, 304)
		if len(r.body) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("304 body %q, ETag %q; want none and %q", r.body, r.header.Get("ETag"), etag)
		}
		if got := r.header.Get("X-RateLimit-Used"); got != strconv.Itoa(used) {
			t.Errorf("X-RateLimit-Used on a 304 = %s, want %d", got, used)
		}
	}
	if got := s.RateLimitUsed(); got != used {
		t.Errorf("RateLimitUsed() = %d after 304s, want %d", got, used)
	}
	a.do("GET", "rate_limit", nil).want(t, "rate_limit", 200)
	if got := s.RateLimitUsed(); got != used {
		t.Errorf("RateLimitUsed() = %d after GET /rate_limit, want %d", got, used)
	}
	clock.Advance(time.Second)
	a.do("POST", path+"/statuses", `{"state":"success"}`).want(t, "status", 201) // updates updated_at
	a.do("GET", path, nil, "If-None-Match", etag).want(t, "after a change", 200)
	want := Count{Total: 6, NotModified: 4}
	if diff := cmp.Diff(want, s.Calls()["GET /repos/{owner}/{repo}/deployments/{deployment_id}"]); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	t.Parallel()
	s, clock := newManual(t, Options{RateLimit: 3})
	a := newAPI(t, s)
	for i := range 3 {
		r := a.do("GET", "repos/acme/app/deployments", nil).want(t, "within the limit", 200)
		if got, want := r.header.Get("X-RateLimit-Remaining"), strconv.Itoa(2-i); got != want {
			t.Errorf("X-RateLimit-Remaining = %s, want %s", got, want)
		}
	}
	r := a.do("GET", "repos/acme/app/deployments", nil).want(t, "over the limit", 403)
	if !strings.HasPrefix(r.message(t), "API rate limit exceeded for user ID ") || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("403: %s, remaining %s; want GitHub's primary limit message and 0", r.body, r.header.Get("X-RateLimit-Remaining"))
	}
	reset := r.header.Get("X-RateLimit-Reset")
	if want := strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10); reset != want {
		t.Errorf("X-RateLimit-Reset = %s, want %s", reset, want)
	}
	var rl struct {
		Rate struct{ Limit, Remaining, Used int }
	}
	a.do("GET", "rate_limit", nil).want(t, "rate_limit is free", 200).decode(t, &rl)
	if rl.Rate.Limit != 3 || rl.Rate.Remaining != 0 || rl.Rate.Used != 3 {
		t.Errorf("rate = %+v, want limit 3, remaining 0, used 3", rl.Rate)
	}
	clock.Advance(time.Hour)
	a.do("GET", "repos/acme/app/deployments", nil).want(t, "after the reset", 200)
	if got := s.RateLimitUsed(); got != 1 {
		t.Errorf("RateLimitUsed() = %d in the new window, want 1", got)
	}
}

// TestSecondaryWriteLimit checks GitHub's limits on content-creating
// requests, counted by arrival, refused attempts included.
func TestSecondaryWriteLimit(t *testing.T) {
	t.Parallel()
	s, clock := newManual(t, Options{WritesPerMinute: 3, WritesPerHour: 6})
	a := newAPI(t, s)
	write := func(what string, status int) response {
		t.Helper()
		return a.do("POST", "repos/acme/app/deployments", map[string]any{"ref": "main", "required_contexts": []string{}}).want(t, what, status)
	}
	for range 3 {
		write("within the minute's limit", 201)
	}
	a.do("GET", "repos/acme/app/deployments", nil).want(t, "reads are not limited", 200)
	r := write("the 4th write in a minute", 403)
	if !strings.Contains(r.message(t), "secondary rate limit") || r.header.Get("Retry-After") != "60" {
		t.Errorf("403: %s, Retry-After %q; want the secondary-limit message and 60", r.body, r.header.Get("Retry-After"))
	}
	clock.Advance(59 * time.Second)
	write("59 s later, the refused attempt still counts", 403)
	clock.Advance(2 * time.Second)
	// The first three have left the window, the two refusals have not.
	write("61 s after the first three", 201)
	clock.Advance(60 * time.Second)
	r = write("the 7th write within the hour (refusals count)", 403)
	if got := r.header.Get("Retry-After"); got != "3479" {
		t.Errorf("Retry-After = %s, want 3479: until the 6th write back leaves the hour", got)
	}
	if got := s.Calls()["POST /repos/{owner}/{repo}/deployments"].SecondaryLimited; got != 3 {
		t.Errorf("SecondaryLimited = %d, want 3", got)
	}
	if got := len(s.Deployments()); got != 4 {
		t.Errorf("%d deployments, want 4: refused writes create nothing", got)
	}
}

// faultSequence sends n requests to each of two routes, interleaved as
// interleave says, and returns the fault log by route.
func faultSequence(t *testing.T, seed int64, n int, interleave bool) map[string][]FaultKind {
	t.Helper()
	s, _ := newManual(t, Options{Seed: seed, Faults: Faults{Rate: 0.5, SkipRoutes: []string{"GET /rate_limit"}}})
	a := newAPI(t, s)
	// Without keep-alives net/http never retries a dropped GET on a reused
	// connection, a retry that would depend on the previous request.
	a.client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	send := func(path string) {
		t.Helper()
		_, _ = a.try("GET", path, nil) // errors are the point; the log says what happened
	}
	if interleave {
		for range n {
			send("repos/acme/app/deployments")
			send("repos/acme/app/environments")
			send("rate_limit")
		}
	} else {
		for range n {
			send("repos/acme/app/environments")
		}
		for range n {
			send("rate_limit")
			send("repos/acme/app/deployments")
		}
	}
	got := map[string][]FaultKind{}
	indexes := map[string]int{}
	for _, f := range s.FaultLog() {
		got[f.Route] = append(got[f.Route], f.Kind)
		if f.Index < indexes[f.Route] {
			t.Errorf("fault log out of order: %+v", f)
		}
		indexes[f.Route] = f.Index
	}
	return got
}

func TestFaultsAreDeterministic(t *testing.T) {
	t.Parallel()
	a := faultSequence(t, 7, 40, true)
	b := faultSequence(t, 7, 40, false)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different interleaving: fault sequences differ (-interleaved +grouped):\n%s", diff)
	}
	if len(a["GET /repos/{owner}/{repo}/deployments"]) == 0 {
		t.Errorf("no faults at rate 0.5: %v", a)
	}
	if _, ok := a["GET /rate_limit"]; ok {
		t.Errorf("a skipped route was faulted: %v", a["GET /rate_limit"])
	}
	if c := faultSequence(t, 8, 40, true); cmp.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same faults: %v", a)
	}
}

func TestFaultKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind           FaultKind
		wantStatus     int // 0: the connection is dropped
		wantRetryAfter string
		wantCreated    int
	}{
		{FaultInternalServerError, 500, "", 0},
		{FaultBadGateway, 502, "", 0},
		{FaultServiceUnavailable, 503, "", 0},
		{FaultSecondaryRateLimit, 403, "2", 0},
		{FaultTooManyRequests, 429, "2", 0},
		{FaultLatency, 201, "", 1},
		{FaultDropBeforeHandling, 0, "", 0},
		{FaultDropAfterHandling, 0, "", 1}, // the side effect happened
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			s, clock := newManual(t, Options{Faults: Faults{Rate: 1, Kinds: []FaultKind{tt.kind}, RetryAfter: 1500 * time.Millisecond}})
			a := newAPI(t, s)
			r, err := a.try("POST", "repos/acme/app/deployments", `{"ref":"main"}`)
			switch {
			case tt.wantStatus == 0 && err == nil:
				t.Fatalf("status = %d, want a dropped connection", r.status)
			case tt.wantStatus != 0 && err != nil:
				t.Fatal(err)
			case tt.wantStatus != 0 && r.status != tt.wantStatus:
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			if got := r.header.Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if tt.kind == FaultSecondaryRateLimit && !strings.HasSuffix(r.object(t)["documentation_url"].(string), "secondary-rate-limits") {
				t.Errorf("secondary limit body %s: go-github recognises it by the documentation_url suffix", r.body)
			}
			if n := len(s.Deployments()); n != tt.wantCreated {
				t.Errorf("%d deployments created, want %d", n, tt.wantCreated)
			}
			want := Count{Total: 1, Faulted: 1}
			if diff := cmp.Diff(want, s.Calls()["POST /repos/{owner}/{repo}/deployments"]); diff != "" {
				t.Errorf("Calls (-want +got):\n%s", diff)
			}
			if log := s.FaultLog(); len(log) != 1 || log[0].Kind != tt.kind || log[0].Latency > maxLatency ||
				tt.kind == FaultLatency && clock.Now().Sub(epoch) != log[0].Latency {
				t.Errorf("FaultLog() = %+v, clock moved %v; want one %v fault slept on the clock", log, clock.Now().Sub(epoch), tt.kind)
			}
		})
	}
}

// TestConcurrentClients runs clients in parallel under the race detector.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{Clock: clock.NewScaled(60000)})
	s.AddEnvironment("production", Protection{Reviewers: []string{"promote-bot"}})
	s.AddWorkflow("deploy.yml", deployWorkflow(RunScript{QueueDelay: time.Second, Duration: time.Second}))
	s.SetApprover(func(int64, string) (time.Duration, bool) { return time.Minute, true })
	t.Run("clients", func(t *testing.T) {
		for i := range 8 {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				a := newAPI(t, s)
				id := a.deploy("production", nil)
				a.do("POST", fmt.Sprintf("repos/acme/app/deployments/%d/statuses", id), `{"state":"success"}`).want(t, "status", 201)
				run := a.dispatch(fmt.Sprint("svc", i), "production")
				for a.runState(run) != "completed/success" {
					_ = s.Clock().Sleep(context.Background(), 10*time.Second)
				}
				a.do("GET", "repos/acme/app/actions/runs?status=completed", nil).want(t, "list", 200)
			})
		}
	})
	if n := len(s.Runs()); n != 8 {
		t.Errorf("%d runs, want 8", n)
	}
}
