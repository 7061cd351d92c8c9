package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v60/github"
)

func TestRetries(t *testing.T) {
	t.Parallel()
	secondaryBody := `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	reset := strconv.FormatInt(testEpoch.Add(42*time.Second).Unix(), 10)
	ok := reply{status: 200, body: `{}`}
	tests := []struct {
		what       string
		method     string
		maxRetries int
		replies    []reply
		wantCalls  int
		wantSleeps []time.Duration
		// wantStatus is the StatusCode(err) expected, 0 for success.
		wantStatus    int
		wantAmbiguous bool
		wantInError   []string
		wantStats     RouteStats
	}{
		{
			what:       "GET is retried after 502 with exponential backoff",
			method:     http.MethodGet,
			replies:    []reply{{status: 502}, {status: 502}, ok},
			wantCalls:  3,
			wantSleeps: []time.Duration{time.Second, 2 * time.Second},
			wantStats:  RouteStats{Total: 3, Retries: 2},
		},
		{
			what:       "PUT is idempotent and retried after 503",
			method:     http.MethodPut,
			replies:    []reply{{status: 503}, ok},
			wantCalls:  2,
			wantSleeps: []time.Duration{time.Second},
			wantStats:  RouteStats{Total: 2, Retries: 1},
		},
		{
			what:        "GET gives up after MaxRetries",
			method:      http.MethodGet,
			maxRetries:  2,
			replies:     []reply{{status: 502, body: `{"message":"Server Error"}`}},
			wantCalls:   3,
			wantSleeps:  []time.Duration{time.Second, 2 * time.Second},
			wantStatus:  502,
			wantInError: []string{"502 Bad Gateway", `"Server Error"`, "3 attempts", "https://www.githubstatus.com"},
			wantStats:   RouteStats{Total: 3, Retries: 2},
		},
		{
			what:          "POST answered 502 is ambiguous and not retried",
			method:        http.MethodPost,
			replies:       []reply{{status: 502}, ok},
			wantCalls:     1,
			wantStatus:    502,
			wantAmbiguous: true,
			wantInError:   []string{"may or may not", "502"},
			wantStats:     RouteStats{Total: 1},
		},
		{
			what:        "Retry-After is honoured",
			method:      http.MethodGet,
			replies:     []reply{{status: 403, header: map[string]string{"Retry-After": "7"}, body: secondaryBody}, ok},
			wantCalls:   2,
			wantSleeps:  []time.Duration{7 * time.Second},
			wantStats:   RouteStats{Total: 2, Retries: 1, RateLimited: 1},
			wantInError: nil,
		},
		{
			what:       "a POST refused with 429 and Retry-After is sent again",
			method:     http.MethodPost,
			replies:    []reply{{status: 429, header: map[string]string{"Retry-After": "3"}}, {status: 201, body: `{}`}},
			wantCalls:  2,
			wantSleeps: []time.Duration{3 * time.Second},
			wantStats:  RouteStats{Total: 2, Retries: 1, RateLimited: 1},
		},
		{
			what:   "x-ratelimit-reset is honoured",
			method: http.MethodGet,
			replies: []reply{{status: 403, header: map[string]string{
				"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset,
			}, body: `{"message":"API rate limit exceeded for installation ID 1."}`}, ok},
			wantCalls:  2,
			wantSleeps: []time.Duration{42 * time.Second},
			wantStats:  RouteStats{Total: 2, Retries: 1, RateLimited: 1},
		},
		{
			what:   "an exhausted primary limit says when it resets",
			method: http.MethodPost,
			replies: []reply{{status: 403, header: map[string]string{
				"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset,
			}, body: `{"message":"API rate limit exceeded for installation ID 1."}`}},
			maxRetries:  -1,
			wantCalls:   1,
			wantStatus:  403,
			wantInError: []string{"API rate limit exceeded", "used up until 12:00:42 UTC", "PROMOTE_APP_ID"},
			wantStats:   RouteStats{Total: 1},
		},
		{
			what:       "a secondary limit without headers waits a minute, then longer",
			method:     http.MethodPost,
			replies:    []reply{{status: 403, body: secondaryBody}, {status: 403, body: secondaryBody}, {status: 201, body: `{}`}},
			wantCalls:  3,
			wantSleeps: []time.Duration{time.Minute, 2 * time.Minute},
			wantStats:  RouteStats{Total: 3, Retries: 2, RateLimited: 2},
		},
		{
			what:       "429 without headers is a secondary limit",
			method:     http.MethodGet,
			replies:    []reply{{status: 429}, ok},
			wantCalls:  2,
			wantSleeps: []time.Duration{time.Minute},
			wantStats:  RouteStats{Total: 2, Retries: 1, RateLimited: 1},
		},
		{
			what:       "403 without rate-limit signs is a missing permission",
			method:     http.MethodPost,
			replies:    []reply{{status: 403, body: `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/deployments/deployments#create-a-deployment"}`}},
			wantCalls:  1,
			wantStatus: 403,
			wantInError: []string{
				`"Resource not accessible by integration"`,
				`lacks the "deployments: write" permission`,
				"set `permissions: deployments: write, actions: write` in the workflow",
			},
			wantStats: RouteStats{Total: 1},
		},
		{
			what:        "the permission GitHub names is the one reported",
			method:      http.MethodGet,
			replies:     []reply{{status: 403, header: map[string]string{"X-Accepted-GitHub-Permissions": "deployments=read"}, body: `{"message":"Resource not accessible by integration"}`}},
			wantCalls:   1,
			wantStatus:  403,
			wantInError: []string{`lacks the "deployments: read" permission`},
			wantStats:   RouteStats{Total: 1},
		},
		{
			what:        "401 says the token is invalid",
			method:      http.MethodGet,
			replies:     []reply{{status: 401, body: `{"message":"Bad credentials"}`}},
			wantCalls:   1,
			wantStatus:  401,
			wantInError: []string{`"Bad credentials"`, "invalid or has expired", "GITHUB_TOKEN"},
			wantStats:   RouteStats{Total: 1},
		},
		{
			what:        "404 on the repository points at GITHUB_REPOSITORY",
			method:      http.MethodGet,
			replies:     []reply{{status: 404, body: `{"message":"Not Found"}`}},
			wantCalls:   1,
			wantStatus:  404,
			wantInError: []string{`"octo-org/octo-repo"`, "GITHUB_REPOSITORY"},
			wantStats:   RouteStats{Total: 1},
		},
		{
			what:        "422 carries GitHub's validation details",
			method:      http.MethodPost,
			replies:     []reply{{status: 422, body: `{"message":"Validation Failed","errors":[{"resource":"Deployment","field":"ref","code":"invalid"}]}`}},
			wantCalls:   1,
			wantStatus:  422,
			wantInError: []string{"Validation Failed (Deployment ref invalid)"},
			wantStats:   RouteStats{Total: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			route := tt.method + " " + repoPath("deployments")
			srv := newServer(t, map[string]http.HandlerFunc{route: script(t, tt.replies...)})
			c, clock := newTestClient(t, srv, func(cfg *Config) { cfg.MaxRetries = tt.maxRetries })

			err := do(context.Background(), c, tt.method, "repos/octo-org/octo-repo/deployments", map[string]string{"ref": "main"})

			if got := srv.calls(route); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantSleeps, clock.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if got := StatusCode(err); got != tt.wantStatus {
				t.Errorf("StatusCode(%v) = %d, want %d", err, got, tt.wantStatus)
			}
			var ambiguous *AmbiguousError
			if got := errors.As(err, &ambiguous); got != tt.wantAmbiguous {
				t.Errorf("errors.As(%v, *AmbiguousError) = %v, want %v", err, got, tt.wantAmbiguous)
			}
			for _, want := range tt.wantInError {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v, want it to contain %q", err, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Errorf("error contains the token: %v", err)
			}
			statsRoute := tt.method + " /repos/{owner}/{repo}/deployments"
			if diff := cmp.Diff(map[string]RouteStats{statsRoute: tt.wantStats}, c.Stats()); diff != "" {
				t.Errorf("Stats() (-want +got):\n%s", diff)
			}
			// Every attempt sends the same body.
			for _, r := range srv.seen() {
				if tt.method != http.MethodGet && r.Body != `{"ref":"main"}`+"\n" {
					t.Errorf("body = %q, want the original on every attempt", r.Body)
				}
			}
		})
	}
}

func TestAPIErrorUnwrapsToGoGitHub(t *testing.T) {
	t.Parallel()
	route := "GET " + repoPath("deployments/7")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 404, body: `{"message":"Not Found"}`, header: map[string]string{"X-GitHub-Request-Id": "ABCD:1234"}})})
	c, _ := newTestClient(t, srv, nil)

	_, resp, err := c.GH.Repositories.GetDeployment(context.Background(), testOwner, testRepo, 7)

	if resp != nil {
		t.Errorf("GetDeployment response = %v, want nil alongside the error", resp)
	}
	var ghErr *gh.ErrorResponse
	if !errors.As(err, &ghErr) || ghErr.Message != "Not Found" {
		t.Errorf("errors.As(%v, *github.ErrorResponse) = %v, want GitHub's message", err, ghErr)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("errors.As(%v, *APIError) = false", err)
	}
	want := &APIError{
		Method:     "GET",
		Route:      "GET /repos/{owner}/{repo}/deployments/{id}",
		URL:        srv.URL + "/repos/octo-org/octo-repo/deployments/7",
		StatusCode: 404,
		Message:    "Not Found",
		RequestID:  "ABCD:1234",
		Attempts:   1,
		Hint:       apiErr.Hint,
	}
	if diff := cmp.Diff(want, apiErr, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("APIError (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(apiErr.Hint, "the resource does not exist") {
		t.Errorf("Hint = %q, want it to start with %q", apiErr.Hint, "the resource does not exist")
	}
}

func TestConnectionDrops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what          string
		method        string
		wantCalls     int
		wantAmbiguous bool
	}{
		{what: "GET is retried", method: http.MethodGet, wantCalls: 2},
		{what: "POST is ambiguous", method: http.MethodPost, wantCalls: 1, wantAmbiguous: true},
		{what: "PATCH is ambiguous", method: http.MethodPatch, wantCalls: 1, wantAmbiguous: true},
		{what: "DELETE is retried", method: http.MethodDelete, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			route := tt.method + " " + repoPath("deployments/1")
			srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{hangUp: true}, reply{status: 200, body: `{}`})})
			c, _ := newTestClient(t, srv, nil)

			err := do(context.Background(), c, tt.method, "repos/octo-org/octo-repo/deployments/1", nil)

			if got := srv.calls(route); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			var ambiguous *AmbiguousError
			if got := errors.As(err, &ambiguous); got != tt.wantAmbiguous {
				t.Fatalf("errors.As(%v, *AmbiguousError) = %v, want %v", err, got, tt.wantAmbiguous)
			}
			if tt.wantAmbiguous && (ambiguous.Method != tt.method || !strings.HasSuffix(ambiguous.URL, "/deployments/1")) {
				t.Errorf("AmbiguousError = {%s %s}, want {%s …/deployments/1}", ambiguous.Method, ambiguous.URL, tt.method)
			}
			if !tt.wantAmbiguous && err != nil {
				t.Errorf("err = %v, want success after a retry", err)
			}
			if got, want := c.Stats()[routeOf(tt.method, repoPath("deployments/1"), "/")].NoResponse, 1; got != want {
				t.Errorf("NoResponse = %d, want %d", got, want)
			}
		})
	}
}

// failingDial fails the first n requests as a refused connection would.
type failingDial struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (f *failingDial) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.n.Add(-1) >= 0 {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	}
	return f.next.RoundTrip(req)
}

func TestRefusedConnectionRetriesWrites(t *testing.T) {
	t.Parallel()
	route := "POST " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 201, body: `{"id":1}`})})
	dial := &failingDial{next: srv.Client().Transport}
	dial.n.Store(2)
	c, clock := newTestClient(t, srv, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: dial} })

	_, _, err := c.GH.Repositories.CreateDeployment(context.Background(), testOwner, testRepo, &gh.DeploymentRequest{Ref: gh.String("main")})

	if err != nil {
		t.Fatalf("CreateDeployment: %v, want success: a refused connection proves GitHub never saw the write", err)
	}
	if got := srv.calls(route); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what          string
		method        string
		wantCalls     int
		wantAmbiguous bool
	}{
		{what: "a slow GET is retried", method: http.MethodGet, wantCalls: 2},
		{what: "a slow POST is ambiguous", method: http.MethodPost, wantCalls: 1, wantAmbiguous: true},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			route := tt.method + " " + repoPath("deployments")
			var n atomic.Int32
			srv := newServer(t, map[string]http.HandlerFunc{route: func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					<-r.Context().Done() // hang until the client gives up
					return
				}
				w.Write([]byte(`[]`))
			}})
			c, _ := newTestClient(t, srv, func(cfg *Config) {
				cfg.HTTPClient = &http.Client{Transport: srv.Client().Transport, Timeout: 50 * time.Millisecond}
			})

			err := do(context.Background(), c, tt.method, "repos/octo-org/octo-repo/deployments", nil)

			if got := srv.calls(route); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			var ambiguous *AmbiguousError
			if got := errors.As(err, &ambiguous); got != tt.wantAmbiguous {
				t.Errorf("errors.As(%v, *AmbiguousError) = %v, want %v", err, got, tt.wantAmbiguous)
			}
			if tt.wantAmbiguous && !strings.Contains(err.Error(), "no answer within 50ms") {
				t.Errorf("error = %v, want it to say the attempt timed out", err)
			}
		})
	}
}

func TestUsedUpLimitPausesLaterRequests(t *testing.T) {
	t.Parallel()
	reset := testEpoch.Add(30 * time.Second)
	route := "GET " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{
		route: script(t, reply{status: 200, body: `[]`, header: map[string]string{
			"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10),
		}}, reply{status: 200, body: `[]`}),
		"GET /rate_limit": jsonReply(t, 200, map[string]any{"resources": map[string]any{}}),
	})
	c, clock := newTestClient(t, srv, nil)
	ctx := context.Background()

	if _, _, err := c.GH.Repositories.ListDeployments(ctx, testOwner, testRepo, nil); err != nil {
		t.Fatalf("first ListDeployments: %v", err)
	}
	// GET /rate_limit is free and answers during the pause.
	if _, _, err := c.GH.RateLimit.Get(ctx); err != nil {
		t.Fatalf("RateLimit.Get: %v", err)
	}
	if len(clock.Sleeps()) != 0 {
		t.Fatalf("sleeps = %v before the limited request, want none", clock.Sleeps())
	}
	// go-github would refuse this one on its own, without waiting, had the
	// transport let it record the rate.
	if _, _, err := c.GH.Repositories.ListDeployments(ctx, testOwner, testRepo, nil); err != nil {
		t.Fatalf("second ListDeployments: %v, want it to wait for the reset and succeed", err)
	}

	if diff := cmp.Diff([]time.Duration{30 * time.Second}, clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if got := srv.calls(route); got != 2 {
		t.Errorf("calls = %d, want 2 (no request spent on a certain 403)", got)
	}
	if got := c.Stats()["GET /repos/{owner}/{repo}/deployments"].RateLimited; got != 1 {
		t.Errorf("RateLimited = %d, want 1", got)
	}
	if got, want := c.Counted(), 2; got != want {
		t.Errorf("Counted() = %d, want %d (GET /rate_limit is free)", got, want)
	}
}

func TestWriteThrottle(t *testing.T) {
	t.Parallel()
	post := "POST " + repoPath("deployments")
	get := "GET " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{
		post: script(t, reply{status: 201, body: `{}`}),
		get:  script(t, reply{status: 200, body: `[]`}),
	})
	// 4 a minute, in windows of 62 s (the arrival margin): writes 1 and 2
	// (half the limit) go at once, 3 and 4 are spread 62 s / 4 apart, 5
	// waits until 62 s after write 1, 6 and 7 follow at the spread again.
	c, clock := newTestClient(t, srv, func(cfg *Config) { cfg.WritesPerMinute = 4 })
	ctx := context.Background()

	for range 7 {
		if err := do(ctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", map[string]string{"ref": "main"}); err != nil {
			t.Fatal(err)
		}
		if err := do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil); err != nil {
			t.Fatal(err)
		}
	}

	gap := (time.Minute + arrivalMargin) / 4
	want := []time.Duration{gap, gap, time.Minute + arrivalMargin - 2*gap, gap, gap}
	approx := cmp.Comparer(func(a, b time.Duration) bool { return (a - b).Abs() < time.Millisecond })
	if diff := cmp.Diff(want, clock.Sleeps(), approx); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	stats := c.Stats()
	if got := stats["POST /repos/{owner}/{repo}/deployments"].Throttled; got != 5 {
		t.Errorf("POST Throttled = %d, want 5", got)
	}
	if got := stats["GET /repos/{owner}/{repo}/deployments"].Throttled; got != 0 {
		t.Errorf("GET Throttled = %d, want 0: reads are not throttled", got)
	}
}

// TestWriteThrottleWindow checks the promise that matters: with the
// defaults, even if each write arrives up to the margin after it was sent,
// no 60-second window holds more than 80 writes and no hour more than 500,
// GitHub's limits, and the throttle is not much stricter than that.
func TestWriteThrottleWindow(t *testing.T) {
	t.Parallel()
	route := "POST " + repoPath("deployments")
	var (
		mu    sync.Mutex
		sent  []time.Time
		clock atomic.Pointer[fakeClock]
	)
	srv := newServer(t, map[string]http.HandlerFunc{route: func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, clock.Load().Now())
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}})
	c, fc := newTestClient(t, srv, nil)
	clock.Store(fc)

	const writes = 1100
	for range writes {
		if err := do(context.Background(), c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil); err != nil {
			t.Fatal(err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, limit := range []struct {
		n      int
		period time.Duration
	}{{DefaultWritesPerMinute, time.Minute}, {DefaultWritesPerHour, time.Hour}} {
		for i := range sent {
			// Write i arriving as late as the margin allows, the ones
			// after it as early as possible.
			n := 1
			for _, s := range sent[i+1:] {
				if s.Sub(sent[i].Add(arrivalMargin)) < limit.period {
					n++
				}
			}
			if n > limit.n {
				t.Fatalf("%d writes in the %v from %v, want at most %d", n, limit.period, sent[i].Sub(testEpoch), limit.n)
			}
		}
	}
	// 1,100 writes at 500 an hour: the 1,001st goes two hours (and two
	// margins) after the first, and the last soon after.
	if elapsed := sent[len(sent)-1].Sub(sent[0]); elapsed > 2*time.Hour+5*time.Minute {
		t.Errorf("%d writes took %v, want under 2h5m: the throttle is too strict", writes, elapsed)
	}
	// Spread, not in bursts: at most half the minute's limit at once, the
	// rest at the sustained rate, 62 s / 80 apart, so never more than 40 +
	// 13 in any 10 seconds.
	for i := range sent {
		n := 0
		for _, s := range sent[i:] {
			if s.Sub(sent[i]) < 10*time.Second {
				n++
			}
		}
		if n > 53 {
			t.Fatalf("%d writes in the 10 s from %v: a burst, want them spread", n, sent[i].Sub(testEpoch))
		}
	}
}

// TestPauseBeginsDuringThrottleWait checks that a write that waited for its
// turn does not go out into a rate-limit pause that began meanwhile.
func TestPauseBeginsDuringThrottleWait(t *testing.T) {
	t.Parallel()
	route := "POST " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 201, body: `{}`})})
	var c *Client
	var fc *fakeClock
	c, fc = newTestClient(t, srv, func(cfg *Config) {
		cfg.WritesPerMinute = 1
		sleep := cfg.Sleep
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			err := sleep(ctx, d)
			if len(fc.Sleeps()) == 1 {
				// While the second write waits for its turn, another
				// request is refused for a secondary limit.
				c.transport.pause(fc.Now().Add(30 * time.Second))
			}
			return err
		}
	})
	ctx := context.Background()
	for range 2 {
		if err := do(ctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil); err != nil {
			t.Fatal(err)
		}
	}

	// The turn is given back during the pause, so the write goes right
	// after it, without waiting for a window of its own first turn.
	want := []time.Duration{time.Minute + arrivalMargin, 30 * time.Second}
	if diff := cmp.Diff(want, fc.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if got := srv.calls(route); got != 2 {
		t.Errorf("calls = %d, want 2", got)
	}
}

// TestRateLimitsNeverRunOut checks that refusals for rate limits are waited
// out however many there are: MaxRetries bounds only server errors and lost
// connections.
func TestRateLimitsNeverRunOut(t *testing.T) {
	t.Parallel()
	route := "POST " + repoPath("deployments")
	limited := reply{status: 403, header: map[string]string{"Retry-After": "5"}, body: `{"message":"You have exceeded a secondary rate limit."}`}
	replies := []reply{}
	for range 3 * DefaultMaxRetries {
		replies = append(replies, limited)
	}
	replies = append(replies, reply{status: 201, body: `{}`})
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, replies...)})
	c, _ := newTestClient(t, srv, nil)

	if err := do(context.Background(), c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil); err != nil {
		t.Fatalf("after %d refusals for a secondary limit: %v, want the write sent until it succeeds", len(replies)-1, err)
	}
	if got, want := srv.calls(route), len(replies); got != want {
		t.Errorf("calls = %d, want %d", got, want)
	}
}

func TestWaitsHonourContext(t *testing.T) {
	t.Parallel()
	limited := reply{status: 429, header: map[string]string{"Retry-After": "3600"}}
	tests := []struct {
		what string
		// ctx returns the context of the requests; sent tells how many
		// the server has answered.
		ctx      func(t *testing.T, sent func() int) context.Context
		writes   int
		requests int
		wantIs   error
	}{
		{
			what:     "cancellation ends a rate-limit wait",
			ctx:      cancelAfterFirstCall,
			requests: 1,
			wantIs:   context.Canceled,
		},
		{
			what: "a wait past the deadline fails at once",
			ctx: func(t *testing.T, _ func() int) context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				t.Cleanup(cancel)
				return ctx
			},
			requests: 1,
			wantIs:   context.DeadlineExceeded,
		},
		{
			what:     "cancellation ends a throttle wait",
			ctx:      cancelAfterFirstCall,
			writes:   1, // the second write waits a minute
			requests: 2,
			wantIs:   context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			route := "POST " + repoPath("deployments")
			first := limited
			if tt.writes > 0 {
				first = reply{status: 201}
			}
			srv := newServer(t, map[string]http.HandlerFunc{route: script(t, first, limited)})
			c, _ := newTestClient(t, srv, func(cfg *Config) {
				cfg.Sleep, cfg.Now = nil, nil // real time
				cfg.WritesPerMinute = tt.writes
			})
			ctx := tt.ctx(t, func() int { return srv.calls(route) })

			start := time.Now()
			var err error
			for range tt.requests {
				if err = do(ctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil); err != nil {
					break
				}
			}

			if !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("took %v, want the wait cut short", elapsed)
			}
			if got := srv.calls(route); got != 1 {
				t.Errorf("calls = %d, want 1: nothing is sent after the wait is cut short", got)
			}
		})
	}
}

// cancelAfterFirstCall cancels the context once the server has answered a
// request, and a moment more, so that the client is in its wait: a cancel at
// a fixed time could come before a slow machine sent anything.
func cancelAfterFirstCall(t *testing.T, sent func() int) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for sent() == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	return ctx
}

func TestDeadlineErrorExplainsTheWait(t *testing.T) {
	t.Parallel()
	route := "GET " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 403,
		header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)},
		body:   `{"message":"API rate limit exceeded for installation ID 1."}`})})
	c, _ := newTestClient(t, srv, func(cfg *Config) { cfg.Sleep, cfg.Now = nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	err := do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil)

	for _, want := range []string{"403 Forbidden", "API rate limit exceeded", "used up until", "stopped waiting to retry", "past the deadline"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to contain %q", err, want)
		}
	}
	var rl *gh.RateLimitError
	if !errors.As(err, &rl) {
		t.Errorf("errors.As(%v, *github.RateLimitError) = false, want true", err)
	}
}

func TestUnreplayableBodyIsNotRetried(t *testing.T) {
	t.Parallel()
	route := "PUT " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 502}, reply{status: 200})})
	c, _ := newTestClient(t, srv, nil)
	req, err := http.NewRequest(http.MethodPut, srv.URL+repoPath("deployments"), strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	req.GetBody = nil

	_, err = c.GH.Do(context.Background(), req, nil)

	if got := StatusCode(err); got != 502 {
		t.Errorf("StatusCode(%v) = %d, want 502", err, got)
	}
	if got := srv.calls(route); got != 1 {
		t.Errorf("calls = %d, want 1: the body cannot be sent twice", got)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := testEpoch
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{in: "", wantOK: false},
		{in: "0", want: 0, wantOK: true},
		{in: "120", want: 2 * time.Minute, wantOK: true},
		{in: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second, wantOK: true},
		{in: now.Add(-time.Hour).Format(http.TimeFormat), want: 0, wantOK: true},
		{in: "soon", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			t.Parallel()
			got, ok := retryAfter(tt.in, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("retryAfter(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoffCeiling(t *testing.T) {
	t.Parallel()
	rt := &retryTransport{jitter: func(d time.Duration) time.Duration { return d }}
	var got []time.Duration
	for n := range 8 {
		got = append(got, rt.backoff(n))
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	for range 100 {
		if d := fullJitter(time.Second); d < 0 || d > time.Second {
			t.Fatalf("fullJitter(1s) = %v, want within [0, 1s]", d)
		}
	}
}

// TestReserveWrites checks that writes booked together go out together:
// with room for one more write in the hour, two booked writes wait until
// the hour has room for both, then go at most the sustained spacing apart.
func TestReserveWrites(t *testing.T) {
	t.Parallel()
	route := "POST " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 201, body: `{}`})})
	c, clock := newTestClient(t, srv, func(cfg *Config) { cfg.WritesPerMinute, cfg.WritesPerHour = 80, 5 })
	ctx := context.Background()
	for range 4 {
		if err := do(ctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	// Now at 4m, with writes at 0, 1m, 2m and 3m: the second booked write
	// may go when the one at 0 has left the hour, at 1h0m2s, and the
	// first right before it, rather than now.
	rctx, release, err := c.ReserveWrites(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for range 2 {
		if err := do(rctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil); err != nil {
			t.Fatal(err)
		}
	}
	gap := (time.Minute + arrivalMargin) / 80
	want := []time.Duration{time.Hour - 4*time.Minute + arrivalMargin - 2*gap, 2 * gap}
	if diff := cmp.Diff(want, clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

// TestPauseExtendedWhileWaiting checks that a request waiting out a pause
// looks again when it ends, in case another refusal extended it.
func TestPauseExtendedWhileWaiting(t *testing.T) {
	t.Parallel()
	route := "GET " + repoPath("deployments")
	srv := newServer(t, map[string]http.HandlerFunc{route: script(t, reply{status: 200, body: `[]`})})
	var c *Client
	var fc *fakeClock
	c, fc = newTestClient(t, srv, func(cfg *Config) {
		sleep := cfg.Sleep
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			err := sleep(ctx, d)
			if len(fc.Sleeps()) == 1 {
				c.transport.pause(fc.Now().Add(20 * time.Second))
			}
			return err
		}
	})
	c.transport.pause(fc.Now().Add(30 * time.Second))
	if err := do(context.Background(), c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{30 * time.Second, 20 * time.Second}, fc.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if got := c.Stats()["GET /repos/{owner}/{repo}/deployments"].RateLimited; got != 1 {
		t.Errorf("RateLimited = %d, want 1: one request waited", got)
	}
}
