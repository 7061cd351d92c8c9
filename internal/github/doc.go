// Package github is how Promote talks to GitHub's REST API, on github.com and
// on GitHub Enterprise Server.
//
// New returns a Client whose GH field is a go-github v60 client. Every request
// it sends passes through a stack of http.RoundTrippers written for Promote's
// workload, from the outside in:
//
//   - a cache of ETags, so that repeated GETs (polling runs and statuses) are
//     conditional; GitHub answers 304 for free and the cached body is handed
//     to go-github as a 200;
//   - a retry loop that waits out GitHub's primary and secondary rate limits,
//     backs off on 5xx answers and dropped connections, delays writes to stay
//     under GitHub's limit of content-creating requests, counts everything
//     per route for Stats, and turns a final failure into an *APIError that
//     says what to do;
//   - authentication with a token, or as a GitHub App whose installation
//     token is minted, cached and refreshed here.
//
// Writes are retried only when GitHub certainly did not act on them. A POST or
// PATCH that got a 5xx answer, or whose connection dropped, may or may not
// have taken effect: it fails with an *AmbiguousError, and the caller looks
// before it writes again. Errors from go-github calls arrive wrapped in a
// *url.Error by net/http; errors.As finds *APIError and *AmbiguousError, and
// go-github's own *github.ErrorResponse, through it. Because non-2xx answers
// become errors in the transport, go-github returns a nil *Response with them:
// use StatusCode(err) instead of resp.StatusCode.
//
// The package also covers the endpoints go-github v60 lacks (workflow dispatch
// with run details, pending deployments, reviews of custom protection rules)
// and an adaptive Backoff for polling.
//
// Nothing here prints or returns a token, a JWT or a private key, in errors
// included.
package github
