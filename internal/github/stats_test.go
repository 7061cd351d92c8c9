package github

import (
	"context"
	"net/http"
	"testing"
)

func TestRouteOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path, base string
		want               string
	}{
		{"POST", "/repos/octo-org/octo-repo/deployments/123/statuses", "/", "POST /repos/{owner}/{repo}/deployments/{id}/statuses"},
		{"GET", "/api/v3/repos/octo-org/octo-repo/deployments", "/api/v3/", "GET /repos/{owner}/{repo}/deployments"},
		{"POST", "/repos/o/r/actions/workflows/deploy.yml/dispatches", "/", "POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches"},
		{"POST", "/repos/o/r/actions/workflows/161335/dispatches", "/", "POST /repos/{owner}/{repo}/actions/workflows/{id}/dispatches"},
		{"GET", "/repos/o/r/actions/workflows", "/", "GET /repos/{owner}/{repo}/actions/workflows"},
		{"PUT", "/repos/o/r/environments/production", "/", "PUT /repos/{owner}/{repo}/environments/{environment}"},
		{"GET", "/repos/o/r/environments/prod/deployment_protection_rules/apps", "/", "GET /repos/{owner}/{repo}/environments/{environment}/deployment_protection_rules/apps"},
		{"GET", "/repos/o/r/commits/main/status", "/", "GET /repos/{owner}/{repo}/commits/{ref}/status"},
		{"GET", "/repos/o/environments/installation", "/", "GET /repos/{owner}/{repo}/installation"},
		{"POST", "/app/installations/777/access_tokens", "/", "POST /app/installations/{id}/access_tokens"},
		{"GET", "/rate_limit", "/", "GET /rate_limit"},
		{"GET", "/rate_limit", "/api/v3/", "GET /rate_limit"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			if got := routeOf(tt.method, tt.path, tt.base); got != tt.want {
				t.Errorf("routeOf(%q, %q, %q) = %q, want %q", tt.method, tt.path, tt.base, got, tt.want)
			}
		})
	}
}

func TestCounted(t *testing.T) {
	t.Parallel()
	srv := newServer(t, map[string]http.HandlerFunc{
		"GET /rate_limit":                 script(t, reply{status: 200, body: `{"resources":{}}`}),
		"POST " + repoPath("deployments"): script(t, reply{status: 502}, reply{status: 201, body: `{}`}),
		"GET " + repoPath("deployments"):  script(t, reply{hangUp: true}, reply{status: 200, body: `[]`}),
	})
	c, _ := newTestClient(t, srv, nil)
	ctx := context.Background()
	c.GH.RateLimit.Get(ctx)
	do(ctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil) // 502: ambiguous
	do(ctx, c, http.MethodPost, "repos/octo-org/octo-repo/deployments", nil) // 201
	do(ctx, c, http.MethodGet, "repos/octo-org/octo-repo/deployments", nil)  // no answer, then 200

	// The 502, the 201 and the 200 count; the free /rate_limit and the
	// attempt without an answer do not.
	if got, want := c.Counted(), 3; got != want {
		t.Errorf("Counted() = %d, want %d; Stats() = %v", got, want, c.Stats())
	}
}
