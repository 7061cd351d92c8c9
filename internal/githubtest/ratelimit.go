package githubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// rateWindow is the primary rate limit's current hour.
type rateWindow struct {
	limit, used int
	reset       time.Time
}

func (w rateWindow) remaining() int { return max(w.limit-w.used, 0) }

// refreshLocked starts a new window once the current one has reset.
func (s *Server) refreshLocked(now time.Time) {
	if !now.Before(s.rate.reset) {
		s.rate.used = 0
		s.rate.reset = now.Add(time.Hour)
	}
}

// reserve counts a request against the primary limit, or reports that the
// limit is exhausted. It returns the window after the reservation.
func (s *Server) reserve() (bool, rateWindow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(s.clock.Now())
	if s.rate.remaining() == 0 {
		return false, s.rate
	}
	s.rate.used++
	return true, s.rate
}

// release gives back a reservation, for a request answered 304.
func (s *Server) release() rateWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rate.used > 0 {
		s.rate.used--
	}
	return s.rate
}

func (s *Server) rateSnapshot() rateWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(s.clock.Now())
	return s.rate
}

// RateLimitUsed returns the requests counted against the primary rate limit in
// the current window.
func (s *Server) RateLimitUsed() int {
	return s.rateSnapshot().used
}

func (s *Server) writeRateHeaders(h http.Header, w rateWindow) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(w.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(w.remaining()))
	h.Set("X-RateLimit-Used", strconv.Itoa(w.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(w.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// primaryLimitReply is GitHub's answer once the primary limit is exhausted.
func (s *Server) primaryLimitReply(q *request, requestID string) reply {
	s.mu.Lock()
	uid := s.userLocked(q.login).id
	s.mu.Unlock()
	msg := fmt.Sprintf("API rate limit exceeded for user ID %d. If you reach out to GitHub Support for help, please include the request ID %s and timestamp %s UTC.",
		uid, requestID, s.clock.Now().UTC().Format("2006-01-02 15:04:05"))
	return reply{status: http.StatusForbidden, body: errorBody{
		Message:          msg,
		DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
		Status:           "403",
	}}
}

// isWrite tells the methods GitHub counts as content-creating requests.
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// arriveWrite counts a write's arrival against the secondary limits and
// reports whether it is over one, and then when to retry.
func (s *Server) arriveWrite() (retry time.Duration, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	drop := 0
	for drop < len(s.writes) && !s.writes[drop].After(now.Add(-time.Hour)) {
		drop++
	}
	s.writes = append(s.writes[drop:], now)
	for _, l := range []struct {
		n      int
		period time.Duration
	}{{s.opts.WritesPerMinute, time.Minute}, {s.opts.WritesPerHour, time.Hour}} {
		if l.n < 0 {
			continue
		}
		from := now.Add(-l.period)
		in := 0
		for i := len(s.writes) - 1; i >= 0 && s.writes[i].After(from); i-- {
			in++
		}
		if in > l.n {
			// Room again once the write l.n arrivals back leaves the window.
			retry = max(retry, s.writes[len(s.writes)-1-l.n].Add(l.period).Sub(now))
			limited = true
		}
	}
	return retry, limited
}

// secondaryLimitReply is GitHub's refusal for a secondary rate limit, 403
// or 429, asking to retry after so many whole seconds.
func secondaryLimitReply(status int, retryAfter int64, requestID string) reply {
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(max(retryAfter, 1), 10))
	return reply{status: status, header: h, body: errorBody{
		Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID " + requestID + ".",
		DocumentationURL: "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		Status:           strconv.Itoa(status),
	}}
}

// faultReply is the answer of an injected error.
func (s *Server) faultReply(kind FaultKind, requestID string) reply {
	switch kind {
	case FaultInternalServerError:
		return reply{status: http.StatusInternalServerError, body: errorBody{Message: "Server Error", Status: "500"}}
	case FaultBadGateway:
		return reply{
			status:      http.StatusBadGateway,
			raw:         []byte("<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n"),
			contentType: "text/html; charset=utf-8",
		}
	case FaultServiceUnavailable:
		return reply{status: http.StatusServiceUnavailable, body: errorBody{
			Message: "No server is currently available to service your request. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
			Status:  "503",
		}}
	case FaultTooManyRequests:
		return secondaryLimitReply(http.StatusTooManyRequests, s.opts.Faults.retryAfterSeconds(), requestID)
	}
	return secondaryLimitReply(http.StatusForbidden, s.opts.Faults.retryAfterSeconds(), requestID)
}

// getRateLimit answers GET /rate_limit, which is free.
func (s *Server) getRateLimit(q *request) reply {
	w := s.rateSnapshot()
	core := rateJSON{Limit: w.limit, Remaining: w.remaining(), Reset: w.reset.Unix(), Used: w.used, Resource: "core"}
	other := func(resource string, limit int, period time.Duration) rateJSON {
		return rateJSON{Limit: limit, Remaining: limit, Reset: q.now.Add(period).Unix(), Resource: resource}
	}
	h := http.Header{}
	s.writeRateHeaders(h, w)
	return reply{status: http.StatusOK, header: h, body: map[string]any{
		"resources": map[string]rateJSON{
			"core":                        core,
			"search":                      other("search", 30, time.Minute),
			"graphql":                     other("graphql", 5000, time.Hour),
			"integration_manifest":        other("integration_manifest", 5000, time.Hour),
			"code_search":                 other("code_search", 10, time.Minute),
			"source_import":               other("source_import", 100, time.Minute),
			"actions_runner_registration": other("actions_runner_registration", 10000, time.Hour),
			"scim":                        other("scim", 15000, time.Hour),
			"dependency_snapshots":        other("dependency_snapshots", 100, time.Minute),
			"code_scanning_upload":        other("code_scanning_upload", 1000, time.Hour),
		},
		"rate": core,
	}}
}

type rateJSON struct {
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     int64  `json:"reset"`
	Used      int    `json:"used"`
	Resource  string `json:"resource"`
}
