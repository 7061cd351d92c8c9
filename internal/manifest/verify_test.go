package manifest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const verifyManifest = `version: 1
environments:
  - name: staging
  - name: production
defaults:
  verify:
    interval: 20s
    checks:
      - {name: smoke, command: ./smoke.sh}
services:
  api:
    paths: ["api/**"]
    deploy: {command: ./deploy.sh}
    verify:
      successes: 2
      deadline: 2m
      checks:
        - name: health
          http:
            url: "https://{service}.{environment}.example.com/healthz"
            status: 200
            body: "^ok"
            headers: {Authorization: HEALTH_TOKEN}
            tls: {ca_file: ca.pem}
        - name: errors
          failures: 1
          prometheus:
            url: http://prometheus:9090
            query: 'sum(rate(istio_requests_total{destination_service_name="{service}",response_code=~"5.."}[1m]))'
            below: 0.01
            window: 5m
      environments:
        staging: {skip: true}
        production:
          interval: 30s
          checks:
            - {name: e2e, workflow: verify.yml}
    rollback:
      environments: [production]
      irreversible:
        - {commits: "abc1234..def5678", reason: "orders table migration"}
  web:
    paths: ["web/**"]
    deploy: {command: ./deploy.sh}
`

func TestVerification(t *testing.T) {
	t.Parallel()
	m, err := Parse("p.yaml", []byte(verifyManifest))
	if err != nil {
		t.Fatalf("Parse() = %v, want nil", err)
	}
	type got struct {
		Name, Type string
		Timing     Timing
	}
	summary := func(cs []Check) []got {
		var out []got
		for _, c := range cs {
			out = append(out, got{c.Name, c.Type(), c.Timing})
		}
		return out
	}
	tests := []struct {
		what, service, env string
		want               []got
	}{
		{"skipped environment", "api", "staging", nil},
		{"override replaces checks and interval", "api", "production", []got{{"e2e", "workflow", Timing{Interval: 30 * time.Second, Successes: 2, Failures: DefaultVerifyFailures, Deadline: 2 * time.Minute}}}},
		{"defaults.verify for a service without its own", "web", "staging", []got{{"smoke", "command", Timing{Interval: 20 * time.Second, Successes: 1, Failures: 3, Deadline: 5 * time.Minute}}}},
		{"unknown service", "nope", "staging", nil},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, summary(m.Verification(tt.service, tt.env))); diff != "" {
				t.Errorf("Verification(%q, %q) mismatch (-want +got):\n%s", tt.service, tt.env, diff)
			}
		})
	}

	api := m.Services[0]
	checks := api.Verify.Checks
	if h := checks[0].HTTP; h.URL != "https://{service}.{environment}.example.com/healthz" || h.Status != 200 || !h.Body.MatchString("ok\n") || h.Headers["Authorization"] != "HEALTH_TOKEN" || h.TLS.CAFile != "ca.pem" {
		t.Errorf("http check = %+v, want every field decoded", h)
	}
	if p := checks[1].Prometheus; p.Below == nil || *p.Below != 0.01 || p.Above != nil || p.Window != 5*time.Minute || checks[1].Timing.Failures != 1 {
		t.Errorf("prometheus check = %+v, want below 0.01 over 5m", p)
	}
	if !api.Rollback.Enabled("production") || api.Rollback.Enabled("staging") || m.Services[1].Rollback.Enabled("production") {
		t.Errorf("Rollback.Enabled: want production for api only")
	}
	if got := api.Rollback.Irreversible; len(got) != 1 || got[0].Commits != "abc1234..def5678" || got[0].Reason != "orders table migration" {
		t.Errorf("Irreversible = %+v, want the migration range", got)
	}
}

func TestVerifyErrors(t *testing.T) {
	t.Parallel()
	svc := func(extra string) string { return base + extra }
	verify := func(v string) string {
		return strings.Replace(base, "    deploy: {command: ./deploy.sh}\n", "    deploy: {command: ./deploy.sh}\n    verify:\n"+v, 1)
	}
	tests := []struct {
		what string
		yaml string
		want []string
	}{
		{"no checks", verify("      interval: 5s\n"), []string{`has no "checks"`}},
		{"two kinds", verify("      checks: [{command: x, workflow: v.yml}]\n"), []string{"set exactly one of http, prometheus, command, workflow"}},
		{"no kind", verify("      checks: [{name: x}]\n"), []string{"set exactly one of"}},
		{"duplicate name", verify("      checks: [{name: x, command: a}, {name: x, command: b}]\n"), []string{`a check named "x" is already listed`}},
		{"bad url", verify("      checks: [{http: {url: \"ftp://x\"}}]\n"), []string{"is not an http:// or https:// URL"}},
		{"bad placeholder", verify("      checks: [{http: {url: \"https://{svc}\"}}]\n"), []string{"unknown placeholder {svc}"}},
		{"bad body", verify("      checks: [{http: {url: \"https://x\", body: \"(\"}}]\n"), []string{"invalid regular expression"}},
		{"secret in header", verify("      checks: [{http: {url: \"https://x\", headers: {Authorization: \"Bearer abc\"}}}]\n"), []string{"is not an environment variable name"}},
		{"no bound", verify("      checks: [{prometheus: {url: \"http://p\", query: up}}]\n"), []string{"set below, above or both"}},
		{"bound not a number", verify("      checks: [{prometheus: {url: \"http://p\", query: up, below: low}}]\n"), []string{"expected a number"}},
		{"step without window", verify("      checks: [{prometheus: {url: \"http://p\", query: up, below: 1, step: 5s}}]\n"), []string{"step only applies with a window"}},
		{"zero interval", verify("      interval: 0s\n      checks: [{command: x}]\n"), []string{"interval: must be longer than 0s"}},
		{"unknown override environment", verify("      checks: [{command: x}]\n      environments: {prod: {skip: true}}\n"), []string{`unknown environment "prod"`}},
		{"workflow path", verify("      checks: [{workflow: .github/workflows/v.yml}]\n"), []string{"not a workflow file name"}},
		{"unknown rollback environment", strings.Replace(svc(""), "    paths:", "    rollback: {environments: [dve]}\n    paths:", 1), []string{`unknown environment "dve"; did you mean "dev"?`}},
		{"bad range", strings.Replace(svc(""), "    paths:", "    rollback: {environments: [dev], irreversible: [{commits: main, reason: r}]}\n    paths:", 1), []string{"is not a commit or a range"}},
		{"no reason", strings.Replace(svc(""), "    paths:", "    rollback: {environments: [dev], irreversible: [{commits: abcdef0}]}\n    paths:", 1), []string{`has no "reason"`}},
		{"unknown check key", verify("      checks: [{command: x, intervall: 5s}]\n"), []string{`did you mean "interval"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			checkParseErrors(t, tt.yaml, tt.want)
		})
	}
}
