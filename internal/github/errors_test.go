package github

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what   string
		kind   failure
		status int
		auth   authKind
		method string
		route  string
		header http.Header
		want   string // a part of the hint; "" means no hint
	}{
		{what: "read permission", status: 403, method: "GET", route: "GET /repos/{owner}/{repo}/actions/runs/{id}", want: `"actions: read"`},
		{what: "checks", status: 403, method: "POST", route: "POST /repos/{owner}/{repo}/check-runs", want: `"checks: write"`},
		{what: "commit status", status: 403, method: "GET", route: "GET /repos/{owner}/{repo}/commits/{ref}/status", want: `"statuses: read"`},
		{what: "environments need an admin", status: 403, method: "PUT", route: "PUT /repos/{owner}/{repo}/environments/{environment}", want: "GITHUB_TOKEN cannot have it"},
		{what: "unknown route", status: 403, method: "GET", route: "GET /user", want: "lacks a permission this request needs"},
		{what: "App permissions", status: 403, auth: authApp, method: "POST", route: "POST /repos/{owner}/{repo}/deployments", want: "grant it to the GitHub App"},
		{what: "App 401", status: 401, auth: authApp, want: "App is still installed"},
		{what: "JWT 401", status: 401, auth: authJWT, want: "runner's clock"},
		{what: "404 outside a repository", status: 404, route: "GET /user"},
		{what: "installation 404", status: 404, auth: authJWT, route: "POST /app/installations/{id}/access_tokens", want: "PROMOTE_APP_INSTALLATION_ID"},
		{what: "409 has none", status: 409, route: "POST /repos/{owner}/{repo}/deployments"},
		{what: "secondary", kind: secondaryHit, status: 403, want: "run fewer promotions at once"},
		{what: "primary for an App", kind: rateLimited, status: 403, auth: authApp, want: "used up: wait for it"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got := hint(tt.kind, tt.status, tt.auth, tt.method, tt.route, "/repos/o/r", h, time.Time{})
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("hint() = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestSecondaryDelay(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for n, w := range want {
		if got := secondaryDelay(n); got != w {
			t.Errorf("secondaryDelay(%d) = %v, want %v", n, got, w)
		}
	}
	if got := secondaryDelay(100); got != secondaryCap {
		t.Errorf("secondaryDelay(100) = %v, want %v", got, secondaryCap)
	}
}
