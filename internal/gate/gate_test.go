package gate

import (
	"context"
	"testing"
	"time"

	"github.com/promote-dev/promote/internal/manifest"
)

// testManifest is api and a sandbox tool promoted dev → staging →
// production, production protected with a 30-minute soak and a year-end
// freeze in Berlin.
const testManifest = `version: 1
environments:
  - name: dev
  - name: staging
    gate: {soak: 10m}
  - name: production
    protected: true
    gate:
      soak: 30m
      freeze:
        - name: year-end
          reason: holidays
          start: "2026-12-24 00:00"
          end: "2027-01-04 00:00"
          timezone: Europe/Berlin
services:
  api:
    paths: ["api/**"]
    mesh: api/mesh
    deploy: {command: ./deploy.sh}
  tool:
    paths: ["tool/**"]
    compliance: sandbox
    deploy: {command: ./deploy.sh}
`

const commit = "0123456789abcdef0123456789abcdef01234567"

func parseManifest(t testing.TB, text string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("promotion.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecideManifestOnly(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	g, err := New(context.Background(), Config{Manifest: parseManifest(t, testManifest), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what   string
		target Target
		want   string
	}{
		{"first environment", Target{Service: "api", Environment: "dev", Commit: commit}, Warn},
		{"nothing known of staging", Target{Service: "api", Environment: "production", Commit: commit}, Deny},
		{"sandbox into production", Target{Service: "tool", Environment: "production", Commit: commit}, Deny},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			d, err := g.Decide(context.Background(), tt.target)
			if err != nil {
				t.Fatal(err)
			}
			checkInput(t, d.Input)
			if d.Result != tt.want {
				t.Errorf("Decide(%+v).Result = %q, want %q; reasons %+v", tt.target, d.Result, tt.want, d.Reasons)
			}
		})
	}
}
