package manifest

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/yamlnode"
	yaml "go.yaml.in/yaml/v3"
)

// The defaults of a check's timing when neither it nor its verify block sets
// them.
const (
	DefaultVerifyInterval  = 10 * time.Second
	DefaultVerifySuccesses = 1
	DefaultVerifyFailures  = 3
	DefaultVerifyDeadline  = 5 * time.Minute
)

// Verify is a service's post-deploy verification: checks that run after its
// deploy succeeded and before its node counts as a success, and again
// during the next environment's soak.
type Verify struct {
	Timing Timing
	Checks []Check
	// Environments override Timing and Checks in one environment; an
	// environment that is not listed uses the service's.
	Environments map[string]VerifyOverride
	Pos          Pos
}

// VerifyOverride is one environment's verification.
type VerifyOverride struct {
	Timing Timing
	// Checks replace the service's checks when not nil.
	Checks []Check
	// Skip turns verification off in the environment.
	Skip bool
	Pos  Pos
}

// Timing is when a check is tried and when it is decided. Zero fields take
// the enclosing block's value, then the defaults.
type Timing struct {
	// Interval is the wait between two attempts.
	Interval time.Duration
	// Successes is how many consecutive passing attempts pass the check.
	Successes int
	// Failures is how many failing attempts fail the check.
	Failures int
	// Deadline is how long the check may take in all; when it passes
	// without a decision, the check fails.
	Deadline time.Duration
}

// or fills t's zero fields from u.
func (t Timing) or(u Timing) Timing {
	if t.Interval == 0 {
		t.Interval = u.Interval
	}
	if t.Successes == 0 {
		t.Successes = u.Successes
	}
	if t.Failures == 0 {
		t.Failures = u.Failures
	}
	if t.Deadline == 0 {
		t.Deadline = u.Deadline
	}
	return t
}

// Check is one verification check: exactly one of HTTP, Prometheus,
// Command and Workflow is set.
type Check struct {
	Name       string
	Timing     Timing
	HTTP       *HTTPCheck
	Prometheus *PrometheusCheck
	// Command runs in the manifest's directory with PROMOTE_SERVICE,
	// PROMOTE_ENVIRONMENT, PROMOTE_GITHUB_ENVIRONMENT and PROMOTE_REF (the
	// commit) set, as a deploy command; exit status 0 passes.
	Command string
	// Workflow is a workflow file dispatched with inputs service,
	// environment and ref; its run's conclusion decides.
	Workflow *WorkflowCheck
	Pos      Pos
}

// Type returns http, prometheus, command or workflow.
func (c Check) Type() string {
	switch {
	case c.HTTP != nil:
		return "http"
	case c.Prometheus != nil:
		return "prometheus"
	case c.Workflow != nil:
		return "workflow"
	}
	return "command"
}

// HTTPCheck probes a URL.
type HTTPCheck struct {
	// URL is a template over {service} and {environment}.
	URL    string
	Method string
	// Status is the expected status code; 0 means any 2xx.
	Status int
	// Body is a regular expression the response body must match.
	Body *regexp.Regexp
	// Headers maps header names to the environment variables holding their
	// values, which are never printed.
	Headers map[string]string
	TLS     TLS
	// Timeout bounds one request.
	Timeout time.Duration
}

// TLS configures the TLS of a check's requests.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's, relative to the manifest.
	CAFile             string
	ServerName         string
	InsecureSkipVerify bool
}

// PrometheusCheck compares a PromQL query's value with a threshold.
type PrometheusCheck struct {
	// URL is the Prometheus-compatible HTTP API's base, e.g.
	// http://prometheus:9090 (the path /api/v1/query is appended).
	URL string
	// Query is a template over {service} and {environment}.
	Query string
	// Below and Above are the bounds every value must stay under or over;
	// at least one is set.
	Below, Above *float64
	// Window, when set, makes each attempt a range query over the last
	// Window: every sample in it must be within the bounds.
	Window time.Duration
	// Step is the resolution of a range query; default Window/30, at least
	// one second.
	Step    time.Duration
	Headers map[string]string
	TLS     TLS
	Timeout time.Duration
}

// WorkflowCheck dispatches a verification workflow.
type WorkflowCheck struct {
	File   string
	Ref    string
	Inputs map[string]string
}

// Rollback says when a failed node of a service is rolled back.
type Rollback struct {
	// Environments are those in which a failed node is rolled back.
	Environments []string
	// Irreversible lists the commit ranges no rollback may cross.
	Irreversible []Irreversible
	Pos          Pos
}

// Enabled reports whether failed nodes roll back in the environment.
func (r *Rollback) Enabled(env string) bool {
	return r != nil && slices.Contains(r.Environments, env)
}

// Irreversible is a range of commits, such as a schema migration, that
// cannot be undone by deploying an older commit.
type Irreversible struct {
	// Commits is a git range "A..B" (the commits reachable from B and not
	// from A) or one commit.
	Commits string
	Reason  string
	Pos     Pos
}

// Verification returns the checks of a service in an environment, each
// with its timing filled in; nil when the service is not verified there.
func (m *Manifest) Verification(service, environment string) []Check {
	i, ok := m.Service(service)
	if !ok {
		return nil
	}
	v := m.Services[i].Verify
	if v == nil {
		v = m.Defaults.Verify
	}
	if v == nil {
		return nil
	}
	timing := v.Timing
	checks := v.Checks
	if o, ok := v.Environments[environment]; ok {
		if o.Skip {
			return nil
		}
		timing = o.Timing.or(timing)
		if o.Checks != nil {
			checks = o.Checks
		}
	}
	timing = timing.or(Timing{Interval: DefaultVerifyInterval, Successes: DefaultVerifySuccesses, Failures: DefaultVerifyFailures, Deadline: DefaultVerifyDeadline})
	out := make([]Check, len(checks))
	for i, c := range checks {
		c.Timing = c.Timing.or(timing)
		out[i] = c
	}
	return out
}

func (d *decoder) verify(n *yaml.Node, what string) *Verify {
	item := d.w.Resolve(n)
	v := &Verify{Pos: pos(item)}
	fields := d.timingFields(what, &v.Timing)
	fields["checks"] = func(n *yaml.Node) { v.Checks = d.checks(n, what+".checks") }
	fields["environments"] = func(n *yaml.Node) {
		n = d.w.Resolve(n)
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s.environments: expected a mapping of environment names to verification overrides, got %s", what, yamlnode.Describe(n))
			return
		}
		v.Environments = map[string]VerifyOverride{}
		for _, p := range d.w.Pairs(n) {
			ew := fmt.Sprintf("%s.environments.%s", what, p.Key.Value)
			o := VerifyOverride{Pos: pos(p.Key)}
			of := d.timingFields(ew, &o.Timing)
			of["checks"] = func(n *yaml.Node) { o.Checks = d.checks(n, ew+".checks") }
			of["skip"] = func(n *yaml.Node) { d.boolean(n, ew+".skip", &o.Skip) }
			d.fields(p.Value, ew, of)
			v.Environments[p.Key.Value] = o
		}
	}
	given := d.fields(item, what, fields)
	if given != nil && !given["checks"] {
		d.errorf(item, "%s has no \"checks\"; list at least one http, prometheus, command or workflow check", what)
	}
	return v
}

func (d *decoder) timingFields(what string, t *Timing) map[string]func(*yaml.Node) {
	return map[string]func(*yaml.Node){
		"interval": func(n *yaml.Node) {
			d.duration(n, what+".interval", &t.Interval)
			if t.Interval == 0 {
				d.errorf(resolveAliases(n), "%s.interval: must be longer than 0s", what)
			}
		},
		"successes": func(n *yaml.Node) { d.integer(n, what+".successes", 1, 1000, &t.Successes) },
		"failures":  func(n *yaml.Node) { d.integer(n, what+".failures", 1, 1000, &t.Failures) },
		"deadline": func(n *yaml.Node) {
			d.duration(n, what+".deadline", &t.Deadline)
			if t.Deadline == 0 {
				d.errorf(resolveAliases(n), "%s.deadline: must be longer than 0s", what)
			}
		},
	}
}

var checkTypes = []string{"http", "prometheus", "command", "workflow"}

func (d *decoder) checks(n *yaml.Node, what string) []Check {
	var out []Check
	names := map[string]bool{}
	d.list(n, what, func(item *yaml.Node) {
		item = d.w.Resolve(item)
		cw := fmt.Sprintf("%s[%d]", what, len(out))
		c := Check{Pos: pos(item)}
		fields := d.timingFields(cw, &c.Timing)
		fields["name"] = func(n *yaml.Node) {
			d.str(n, cw+".name", &c.Name)
			d.name(n, cw+".name", c.Name)
		}
		fields["http"] = func(n *yaml.Node) { c.HTTP = d.httpCheck(n, cw+".http") }
		fields["prometheus"] = func(n *yaml.Node) { c.Prometheus = d.prometheusCheck(n, cw+".prometheus") }
		fields["command"] = func(n *yaml.Node) { d.str(n, cw+".command", &c.Command) }
		fields["workflow"] = func(n *yaml.Node) { c.Workflow = d.workflowCheck(n, cw+".workflow") }
		given := d.fields(item, cw, fields)
		if given == nil {
			return
		}
		kinds := 0
		for _, k := range checkTypes {
			if given[k] {
				kinds++
			}
		}
		if kinds != 1 {
			d.errorf(item, "%s: set exactly one of %s", cw, strings.Join(checkTypes, ", "))
		}
		if c.Name == "" && !given["name"] {
			c.Name = fmt.Sprintf("%s-%d", c.Type(), len(out)+1)
		}
		if names[c.Name] {
			d.errorf(item, "%s: a check named %q is already listed; check names are unique", cw, c.Name)
		}
		names[c.Name] = true
		out = append(out, c)
	})
	return out
}

func (d *decoder) httpCheck(n *yaml.Node, what string) *HTTPCheck {
	h := &HTTPCheck{Method: "GET"}
	item := d.w.Resolve(n)
	given := d.fields(item, what, map[string]func(*yaml.Node){
		"url": func(n *yaml.Node) {
			d.str(n, what+".url", &h.URL)
			d.httpURL(n, what+".url", h.URL)
		},
		"method": func(n *yaml.Node) { d.oneOf(n, what+".method", []string{"GET", "HEAD", "POST"}, &h.Method) },
		"status": func(n *yaml.Node) { d.integer(n, what+".status", 100, 599, &h.Status) },
		"body": func(n *yaml.Node) {
			var s string
			d.str(n, what+".body", &s)
			if s == "" {
				return
			}
			re, err := regexp.Compile(s)
			if err != nil {
				d.errorf(resolveAliases(n), "%s.body: invalid regular expression %q: %v", what, s, err)
				return
			}
			h.Body = re
		},
		"headers": func(n *yaml.Node) { h.Headers = d.headers(n, what+".headers") },
		"tls":     func(n *yaml.Node) { d.tls(n, what+".tls", &h.TLS) },
		"timeout": func(n *yaml.Node) { d.duration(n, what+".timeout", &h.Timeout) },
	})
	if given != nil && !given["url"] {
		d.errorf(item, "%s has no \"url\"", what)
	}
	return h
}

func (d *decoder) prometheusCheck(n *yaml.Node, what string) *PrometheusCheck {
	p := &PrometheusCheck{}
	item := d.w.Resolve(n)
	given := d.fields(item, what, map[string]func(*yaml.Node){
		"url": func(n *yaml.Node) {
			d.str(n, what+".url", &p.URL)
			d.httpURL(n, what+".url", p.URL)
		},
		"query": func(n *yaml.Node) {
			d.str(n, what+".query", &p.Query)
		},
		"below":   func(n *yaml.Node) { p.Below = d.number(n, what+".below") },
		"above":   func(n *yaml.Node) { p.Above = d.number(n, what+".above") },
		"window":  func(n *yaml.Node) { d.duration(n, what+".window", &p.Window) },
		"step":    func(n *yaml.Node) { d.duration(n, what+".step", &p.Step) },
		"headers": func(n *yaml.Node) { p.Headers = d.headers(n, what+".headers") },
		"tls":     func(n *yaml.Node) { d.tls(n, what+".tls", &p.TLS) },
		"timeout": func(n *yaml.Node) { d.duration(n, what+".timeout", &p.Timeout) },
	})
	if given == nil {
		return p
	}
	for _, k := range []string{"url", "query"} {
		if !given[k] {
			d.errorf(item, "%s has no %q", what, k)
		}
	}
	if !given["below"] && !given["above"] {
		d.errorf(item, "%s: set below, above or both: the bounds the query's value must stay within", what)
	}
	if given["step"] && !given["window"] {
		d.errorf(item, "%s: step only applies with a window", what)
	}
	return p
}

func (d *decoder) workflowCheck(n *yaml.Node, what string) *WorkflowCheck {
	n = d.w.Resolve(n)
	if n.Kind == yaml.ScalarNode {
		w := &WorkflowCheck{}
		d.str(n, what, &w.File)
		d.workflowFile(n, what, w.File)
		return w
	}
	w := &WorkflowCheck{}
	given := d.fields(n, what, map[string]func(*yaml.Node){
		"file": func(n *yaml.Node) {
			d.str(n, what+".file", &w.File)
			d.workflowFile(n, what+".file", w.File)
		},
		"ref":    func(n *yaml.Node) { d.str(n, what+".ref", &w.Ref) },
		"inputs": func(n *yaml.Node) { w.Inputs = d.inputs(n, what+".inputs", "service", "environment", "ref") },
	})
	if given != nil && !given["file"] {
		d.errorf(n, "%s has no \"file\"; name the workflow file in .github/workflows, e.g. \"verify.yml\"", what)
	}
	return w
}

func (d *decoder) workflowFile(n *yaml.Node, what, w string) {
	if w != "" && (strings.Contains(w, "/") || !(strings.HasSuffix(w, ".yml") || strings.HasSuffix(w, ".yaml"))) {
		d.errorf(resolveAliases(n), "%s: %q is not a workflow file name; name the file in .github/workflows, e.g. \"verify.yml\"", what, w)
	}
}

func (d *decoder) httpURL(n *yaml.Node, what, u string) {
	if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		d.errorf(resolveAliases(n), "%s: %q is not an http:// or https:// URL", what, u)
	}
	for _, p := range placeholder.FindAllString(u, -1) {
		if p != "{service}" && p != "{environment}" {
			d.errorf(resolveAliases(n), "%s: unknown placeholder %s (expected {service} or {environment})", what, p)
		}
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// headers decodes a mapping of header names to environment variable names.
func (d *decoder) headers(n *yaml.Node, what string) map[string]string {
	n = d.w.Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping of header names to the environment variables holding their values, got %s", what, yamlnode.Describe(n))
		return nil
	}
	out := map[string]string{}
	for _, p := range d.w.Pairs(n) {
		var v string
		d.str(p.Value, what+"."+p.Key.Value, &v)
		if v != "" && !envName.MatchString(v) {
			d.errorf(resolveAliases(p.Value), "%s.%s: %q is not an environment variable name; give the name of the variable holding the value (values are secrets and never go in the manifest)", what, p.Key.Value, v)
		}
		out[p.Key.Value] = v
	}
	return out
}

func (d *decoder) tls(n *yaml.Node, what string, t *TLS) {
	d.fields(n, what, map[string]func(*yaml.Node){
		"ca_file": func(n *yaml.Node) {
			d.str(n, what+".ca_file", &t.CAFile)
			d.relative(n, what+".ca_file", t.CAFile)
		},
		"server_name":          func(n *yaml.Node) { d.str(n, what+".server_name", &t.ServerName) },
		"insecure_skip_verify": func(n *yaml.Node) { d.boolean(n, what+".insecure_skip_verify", &t.InsecureSkipVerify) },
	})
}

// number decodes an integer or a float.
func (d *decoder) number(n *yaml.Node, what string) *float64 {
	n = d.w.Resolve(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.errorf(n, "%s: expected a number such as 0.01, got %s", what, yamlnode.Describe(n))
		return nil
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n, "%s: expected a finite number, got %s", what, n.Value)
		return nil
	}
	return &v
}

func (d *decoder) rollback(n *yaml.Node, what string) *Rollback {
	item := d.w.Resolve(n)
	r := &Rollback{Pos: pos(item)}
	given := d.fields(item, what, map[string]func(*yaml.Node){
		"environments": func(n *yaml.Node) {
			d.list(n, what+".environments", func(n *yaml.Node) {
				var e string
				d.str(n, what+".environments", &e)
				if e != "" {
					r.Environments = append(r.Environments, e)
				}
			})
		},
		"irreversible": func(n *yaml.Node) {
			d.list(n, what+".irreversible", func(n *yaml.Node) {
				iw := fmt.Sprintf("%s.irreversible[%d]", what, len(r.Irreversible))
				n = d.w.Resolve(n)
				ir := Irreversible{Pos: pos(n)}
				given := d.fields(n, iw, map[string]func(*yaml.Node){
					"commits": func(n *yaml.Node) {
						d.str(n, iw+".commits", &ir.Commits)
						if ir.Commits != "" && !commitRange.MatchString(ir.Commits) {
							d.errorf(resolveAliases(n), "%s.commits: %q is not a commit or a range; write a SHA, or A..B for the commits after A up to B", iw, ir.Commits)
						}
					},
					"reason": func(n *yaml.Node) { d.str(n, iw+".reason", &ir.Reason) },
				})
				if given == nil {
					return
				}
				for _, k := range []string{"commits", "reason"} {
					if !given[k] {
						d.errorf(n, "%s has no %q", iw, k)
					}
				}
				r.Irreversible = append(r.Irreversible, ir)
			})
		},
	})
	if given != nil && !given["environments"] {
		d.errorf(item, "%s has no \"environments\"; list the environments in which a failed promotion is rolled back", what)
	}
	return r
}

var commitRange = regexp.MustCompile(`^[0-9a-f]{7,40}(\.\.[0-9a-f]{7,40})?$`)

// validateVerify checks that the environments verify and rollback name
// exist.
func (d *decoder) validateVerify(m *Manifest, envs map[string]Environment) {
	envNames := m.EnvironmentNames()
	check := func(p Pos, what, name string) {
		if _, ok := envs[name]; ok {
			return
		}
		msg := fmt.Sprintf("%s: unknown environment %q", what, name)
		if s := yamlnode.Suggest(name, envNames); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else {
			msg += fmt.Sprintf(" (the environments are %s)", strings.Join(envNames, ", "))
		}
		d.errs = append(d.errs, &Error{File: d.file, Pos: p, Msg: msg})
	}
	verifies := []struct {
		what string
		v    *Verify
	}{{"defaults.verify", m.Defaults.Verify}}
	for _, s := range m.Services {
		verifies = append(verifies, struct {
			what string
			v    *Verify
		}{fmt.Sprintf("service %q: verify", s.Name), s.Verify})
		if s.Rollback != nil {
			for _, e := range s.Rollback.Environments {
				check(s.Rollback.Pos, fmt.Sprintf("service %q: rollback.environments", s.Name), e)
			}
		}
	}
	for _, v := range verifies {
		if v.v == nil {
			continue
		}
		for _, e := range slices.Sorted(maps.Keys(v.v.Environments)) {
			check(v.v.Environments[e].Pos, v.what+".environments", e)
		}
	}
}
