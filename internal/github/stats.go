package github

import (
	"context"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// RouteStats counts what happened to the requests of one route.
type RouteStats struct {
	// Total is how many requests were sent, retries included.
	Total int
	// NotModified is how many of them GitHub answered 304 and the ETag cache
	// served; they cost no rate limit.
	NotModified int
	// Retries is how many of them were retries.
	Retries int
	// RateLimited is how many times a request waited for a rate limit to
	// reset, before being sent or after GitHub refused it.
	RateLimited int
	// Throttled is how many writes waited for the write throttle.
	Throttled int
	// NoResponse is how many requests got no answer: the connection failed
	// or the attempt timed out.
	NoResponse int
}

// rateLimitRoute costs nothing against the primary rate limit.
const rateLimitRoute = "GET /rate_limit"

// Stats returns the counts per route template, such as
// "POST /repos/{owner}/{repo}/deployments/{id}/statuses". The map is a copy.
func (c *Client) Stats() map[string]RouteStats {
	return c.stats.snapshot()
}

// Counted returns how many requests counted against GitHub's primary rate
// limit: every answered request except 304s and GET /rate_limit.
func (c *Client) Counted() int {
	n := 0
	for route, s := range c.stats.snapshot() {
		if route != rateLimitRoute {
			n += s.Total - s.NotModified - s.NoResponse
		}
	}
	return n
}

type counterKey struct{}

// WithCallCounter returns a context whose requests add to n when they count
// against the primary rate limit, so a caller can tell what one piece of
// work (a promoted node) cost.
func WithCallCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, counterKey{}, n)
}

// countCall adds a counted request to the context's counter, if any.
func countCall(ctx context.Context, route string, resp int) {
	if n, ok := ctx.Value(counterKey{}).(*atomic.Int64); ok && route != rateLimitRoute && resp != 304 {
		n.Add(1)
	}
}

// stats is safe for concurrent use.
type stats struct {
	mu     sync.Mutex
	routes map[string]RouteStats
}

func newStats() *stats { return &stats{routes: make(map[string]RouteStats)} }

func (s *stats) add(route string, f func(*RouteStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[route]
	f(&r)
	s.routes[route] = r
}

func (s *stats) snapshot() map[string]RouteStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.routes)
}

// namedAfter maps a path segment to the name of the parameter that follows
// it, for parameters that are names rather than numbers.
var namedAfter = map[string]string{
	"environments": "{environment}",
	"workflows":    "{workflow}",
	"commits":      "{ref}",
	"branches":     "{branch}",
	"users":        "{user}",
	"orgs":         "{org}",
}

// routeOf returns the template of a request's route: its method and its path
// below the API's base path, with owner, repository, numbers and names
// replaced by placeholders, so that counts add up per endpoint.
func routeOf(method, path, basePath string) string {
	rest, ok := strings.CutPrefix(path, strings.TrimSuffix(basePath, "/"))
	if !ok {
		rest = path
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	for i, seg := range segs {
		switch {
		case segs[0] == "repos" && i == 1:
			segs[i] = "{owner}"
		case segs[0] == "repos" && i == 2:
			segs[i] = "{repo}"
		case isNumber(seg):
			segs[i] = "{id}"
		case i > 0 && namedAfter[segs[i-1]] != "":
			// A segment replaced already is a placeholder, no key of namedAfter.
			segs[i] = namedAfter[segs[i-1]]
		}
	}
	return method + " /" + strings.Join(segs, "/")
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
