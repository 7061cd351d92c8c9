package githubtest

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"
)

// FaultKind is one way a request can fail on purpose.
type FaultKind int

// The fault kinds. FaultNone is the zero value and is never injected.
const (
	FaultNone FaultKind = iota
	// FaultInternalServerError answers 500 without handling the request.
	FaultInternalServerError
	// FaultBadGateway answers 502 with an HTML body, as GitHub's edge does.
	FaultBadGateway
	// FaultServiceUnavailable answers 503 without handling the request.
	FaultServiceUnavailable
	// FaultSecondaryRateLimit answers 403 with Retry-After and GitHub's
	// secondary rate limit message.
	FaultSecondaryRateLimit
	// FaultTooManyRequests answers 429 with Retry-After and the secondary
	// rate limit message.
	FaultTooManyRequests
	// FaultLatency sleeps between 0 and 200ms of simulated time on the
	// server's Clock, then handles the request normally.
	FaultLatency
	// FaultDropBeforeHandling closes the connection without handling the
	// request: nothing happened, the client sees EOF.
	FaultDropBeforeHandling
	// FaultDropAfterHandling handles the request, discards the answer and
	// closes the connection: the side effect happened, the client sees EOF.
	FaultDropAfterHandling
)

// allFaultKinds is what an empty Faults.Kinds enables.
var allFaultKinds = []FaultKind{
	FaultInternalServerError,
	FaultBadGateway,
	FaultServiceUnavailable,
	FaultSecondaryRateLimit,
	FaultTooManyRequests,
	FaultLatency,
	FaultDropBeforeHandling,
	FaultDropAfterHandling,
}

var faultKindNames = map[FaultKind]string{
	FaultNone:                "none",
	FaultInternalServerError: "500",
	FaultBadGateway:          "502",
	FaultServiceUnavailable:  "503",
	FaultSecondaryRateLimit:  "secondary-rate-limit",
	FaultTooManyRequests:     "429",
	FaultLatency:             "latency",
	FaultDropBeforeHandling:  "drop-before",
	FaultDropAfterHandling:   "drop-after",
}

// String returns the kind's short name, such as "503" or "drop-after".
func (k FaultKind) String() string {
	if s, ok := faultKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// maxLatency bounds FaultLatency's sleep.
const maxLatency = 200 * time.Millisecond

// Faults configures fault injection. The zero value injects nothing.
type Faults struct {
	// Rate is the fraction of requests faulted, between 0 and 1.
	Rate float64
	// Kinds lists the kinds to draw from, uniformly; empty means all kinds.
	Kinds []FaultKind
	// RetryAfter is what 403 and 429 faults ask the client to wait, in
	// simulated time; the Retry-After header carries it in whole seconds,
	// rounded up. Zero means one second.
	RetryAfter time.Duration
	// SkipRoutes lists routes never faulted, such as "GET /rate_limit".
	SkipRoutes []string
	// First scripts the faults of a route's first requests, by route (as
	// in Calls) and then by index: FaultNone for none. Rate's draws apply
	// to the requests after them.
	First map[string][]FaultKind
}

// FaultEvent records one injected fault.
type FaultEvent struct {
	Route   string    // the route's pattern, e.g. "POST /repos/{owner}/{repo}/deployments"
	Index   int       // the request's index among the route's requests, from 0
	Kind    FaultKind // what was injected
	Latency time.Duration
}

// decide draws the fault for the index-th request on route. It depends only on
// seed, route and index, so that a route's fault sequence does not change
// when requests to other routes interleave differently.
func (f *Faults) decide(seed int64, route string, index int) (FaultKind, time.Duration) {
	if first := f.First[route]; index >= 0 && index < len(first) {
		return first[index], 0
	}
	if f.Rate <= 0 || route == "" || slices.Contains(f.SkipRoutes, route) {
		return FaultNone, 0
	}
	h := fnv.New64a()
	h.Write([]byte(route))
	rng := rand.New(rand.NewPCG(uint64(seed)^h.Sum64(), uint64(index)))
	if rng.Float64() >= f.Rate {
		return FaultNone, 0
	}
	kinds := f.Kinds
	if len(kinds) == 0 {
		kinds = allFaultKinds
	}
	kind := kinds[rng.IntN(len(kinds))]
	var latency time.Duration
	if kind == FaultLatency {
		latency = time.Duration(rng.Int64N(int64(maxLatency) + 1))
	}
	return kind, latency
}

// retryAfterSeconds is the Retry-After header value: whole seconds, rounded up,
// at least one.
func (f *Faults) retryAfterSeconds() int64 {
	d := f.RetryAfter
	if d <= 0 {
		d = time.Second
	}
	return int64((d + time.Second - 1) / time.Second)
}
