package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/promote-dev/promote/internal/yamlnode"
	yaml "go.yaml.in/yaml/v3"
)

// The defaults that apply when the manifest leaves a setting out.
const (
	DefaultMaxParallel      = 4
	DefaultRetries          = 2
	DefaultTimeout          = 30 * time.Minute
	DefaultExpectedDuration = 5 * time.Minute
	DefaultEvidenceStore    = "file://.promote/evidence"
	DefaultRetentionDays    = 1095
	DefaultSigningKey       = ".promote/keys/evidence.pem"
)

// Parse decodes and validates a manifest. file names the manifest in error
// messages. On failure the error is an ErrorList holding every problem found.
func Parse(file string, data []byte) (m *Manifest, err error) {
	d := &decoder{file: file}
	d.w = yamlnode.Walker{Budget: yamlnode.Budget(len(data)), Report: func(n *yaml.Node, msg string) { d.errorf(n, "%s", msg) }}
	defer func() {
		// The YAML library has had panics on hostile input; a bad file must
		// never crash Promote.
		if r := recover(); r != nil {
			m, err = nil, ErrorList{{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf("cannot parse the file: %v", r)}}
		}
	}()

	root, ok := d.document(data)
	if !ok {
		return nil, d.errs
	}
	m = &Manifest{File: file}
	d.manifest(root, m)
	if len(d.errs) == 0 {
		d.validate(m)
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return m, nil
}

// document parses the YAML text and returns the top-level mapping.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, &Error{File: d.file, Pos: Pos{1, 1}, Msg: "the manifest is empty; it needs version, environments and services (see docs/manifest.md)"})
			return nil, false
		}
		d.syntaxError(err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "a second YAML document; a manifest is one document, remove the '---' separator")
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		d.errorf(&doc, "the manifest is empty; it needs version, environments and services")
		return nil, false
	}
	return doc.Content[0], len(d.errs) == 0
}

func (d *decoder) syntaxError(err error) {
	line, msg := yamlnode.SyntaxError(err)
	d.errs = append(d.errs, &Error{File: d.file, Pos: Pos{line, 1}, Msg: "invalid YAML: " + msg})
}

func (d *decoder) manifest(root *yaml.Node, m *Manifest) {
	m.Defaults = Defaults{
		MaxParallel:      DefaultMaxParallel,
		Retries:          DefaultRetries,
		Timeout:          DefaultTimeout,
		OnFailure:        Continue,
		ExpectedDuration: DefaultExpectedDuration,
	}
	given := d.fields(root, "the manifest", map[string]func(*yaml.Node){
		"version": func(n *yaml.Node) {
			m.Version = -1
			d.integer(n, "version", 0, 1<<30, &m.Version)
			if m.Version >= 0 && m.Version != Version {
				d.errorf(resolveAliases(n), "version: unsupported manifest version %d; this promote reads version %d", m.Version, Version)
			}
		},
		"defaults":     func(n *yaml.Node) { d.defaults(n, &m.Defaults) },
		"environments": func(n *yaml.Node) { d.environments(n, m) },
		"services":     func(n *yaml.Node) { d.services(n, m) },
		"evidence":     func(n *yaml.Node) { m.Evidence = d.evidence(n) },
		"mesh":         func(n *yaml.Node) { d.mesh(n, &m.Mesh) },
		"metrics":      func(n *yaml.Node) { d.metrics(n, &m.Metrics) },
	})
	if given == nil {
		return
	}
	for _, key := range []string{"version", "environments", "services"} {
		if !given[key] {
			d.errorf(root, "the manifest has no %q; it needs version, environments and services (see docs/manifest.md)", key)
		}
	}
	if m.Defaults.Rollout.Initial == 0 {
		m.Defaults.Rollout.Initial = m.Defaults.MaxParallel
	}
	if m.Defaults.Rollout.Step == 0 {
		m.Defaults.Rollout.Step = 1
	}
}

func (d *decoder) mesh(n *yaml.Node, mesh *Mesh) {
	d.fields(n, "mesh", map[string]func(*yaml.Node){
		"paths": func(n *yaml.Node) {
			d.list(n, "mesh.paths", func(n *yaml.Node) {
				var p string
				d.str(n, "mesh.paths", &p)
				if p != "" {
					d.relative(n, "mesh.paths", p)
					mesh.Paths = append(mesh.Paths, p)
				}
			})
		},
		"root_namespace": func(n *yaml.Node) { d.str(n, "mesh.root_namespace", &mesh.RootNamespace) },
		"monitoring_namespaces": func(n *yaml.Node) {
			d.list(n, "mesh.monitoring_namespaces", func(n *yaml.Node) {
				var ns string
				d.str(n, "mesh.monitoring_namespaces", &ns)
				if ns != "" {
					mesh.MonitoringNamespaces = append(mesh.MonitoringNamespaces, ns)
				}
			})
		},
	})
}

func (d *decoder) defaults(n *yaml.Node, def *Defaults) {
	d.fields(n, "defaults", map[string]func(*yaml.Node){
		"max_parallel": func(n *yaml.Node) { d.integer(n, "defaults.max_parallel", 1, 1000, &def.MaxParallel) },
		"retries":      func(n *yaml.Node) { d.integer(n, "defaults.retries", 0, 10, &def.Retries) },
		"timeout": func(n *yaml.Node) {
			d.duration(n, "defaults.timeout", &def.Timeout)
			if def.Timeout == 0 {
				d.errorf(resolveAliases(n), "defaults.timeout: must be longer than 0s")
			}
		},
		"on_failure": func(n *yaml.Node) {
			var s string
			d.oneOf(n, "defaults.on_failure", []string{string(Continue), string(FailFast)}, &s)
			if s != "" {
				def.OnFailure = FailurePolicy(s)
			}
		},
		"rollout": func(n *yaml.Node) {
			d.fields(n, "defaults.rollout", map[string]func(*yaml.Node){
				"initial": func(n *yaml.Node) { d.integer(n, "defaults.rollout.initial", 1, 1000, &def.Rollout.Initial) },
				"step":    func(n *yaml.Node) { d.integer(n, "defaults.rollout.step", 1, 1000, &def.Rollout.Step) },
			})
		},
		"expected_duration": func(n *yaml.Node) { d.duration(n, "defaults.expected_duration", &def.ExpectedDuration) },
		"deploy": func(n *yaml.Node) {
			def.Deploy = &Deploy{}
			d.deploy(n, "defaults.deploy", def.Deploy)
		},
	})
}

func (d *decoder) environments(n *yaml.Node, m *Manifest) {
	d.list(n, "environments", func(item *yaml.Node) {
		item = d.w.Resolve(item)
		env := Environment{Pos: pos(item)}
		what := fmt.Sprintf("environments[%d]", len(m.Environments))
		given := d.fields(item, what, map[string]func(*yaml.Node){
			"name": func(n *yaml.Node) {
				d.str(n, what+".name", &env.Name)
				d.name(n, what+".name", env.Name)
			},
			"github_environment": func(n *yaml.Node) {
				d.str(n, what+".github_environment", &env.GitHubEnvironment)
				d.template(n, what+".github_environment", env.GitHubEnvironment)
			},
			"protected": func(n *yaml.Node) { d.boolean(n, what+".protected", &env.Protected) },
			"gate": func(n *yaml.Node) {
				d.fields(n, what+".gate", map[string]func(*yaml.Node){
					"soak": func(n *yaml.Node) {
						d.duration(n, what+".gate.soak", &env.Soak)
						if len(m.Environments) == 0 && env.Soak > 0 {
							d.errorf(resolveAliases(n), "%s.gate.soak: the first environment has no previous one to soak in; remove it", what)
						}
					},
				})
			},
		})
		if given == nil {
			return
		}
		if !given["name"] {
			d.errorf(item, "%s has no \"name\"", what)
		}
		if env.GitHubEnvironment == "" {
			env.GitHubEnvironment = "{environment}"
		}
		m.Environments = append(m.Environments, env)
	})
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// template checks a github_environment template's placeholders.
func (d *decoder) template(n *yaml.Node, what, tmpl string) {
	for _, p := range placeholder.FindAllString(tmpl, -1) {
		if p != "{service}" && p != "{environment}" {
			d.errorf(resolveAliases(n), "%s: unknown placeholder %s (expected {service} or {environment})", what, p)
		}
	}
	if len(tmpl) > 255 {
		d.errorf(resolveAliases(n), "%s: GitHub environment names are at most 255 characters, got %d", what, len(tmpl))
	}
}

// name checks a service or environment name.
func (d *decoder) name(n *yaml.Node, what, name string) {
	if name != "" && !namePattern.MatchString(name) {
		d.errorf(resolveAliases(n), "%s: invalid name %q; %s", what, name, nameRule)
	}
}

func (d *decoder) services(n *yaml.Node, m *Manifest) {
	n = d.w.Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "services: expected a mapping of service names to services, got %s", yamlnode.Describe(n))
		return
	}
	ps := d.w.Pairs(n)
	if len(ps) == 0 {
		d.errorf(n, "services: the mapping is empty; declare at least one service")
		return
	}
	m.index = make(map[string]int, len(ps))
	for _, p := range ps {
		svc := Service{Name: p.Key.Value, Pos: pos(p.Key), Compliance: Standard}
		d.name(p.Key, "services", svc.Name)
		d.service(p.Value, &svc)
		m.index[svc.Name] = len(m.Services)
		m.Services = append(m.Services, svc)
	}
}

func (d *decoder) service(n *yaml.Node, svc *Service) {
	what := fmt.Sprintf("service %q", svc.Name)
	item := d.w.Resolve(n)
	given := d.fields(item, what, map[string]func(*yaml.Node){
		"depends_on": func(n *yaml.Node) {
			d.list(n, what+": depends_on", func(n *yaml.Node) {
				var name string
				d.str(n, what+": depends_on", &name)
				if name != "" {
					svc.DependsOn = append(svc.DependsOn, Dependency{Name: name, Pos: pos(resolveAliases(n))})
				}
			})
		},
		"deploy": func(n *yaml.Node) { d.deploy(n, what+": deploy", &svc.Deploy) },
		"paths": func(n *yaml.Node) {
			d.list(n, what+": paths", func(n *yaml.Node) {
				var glob string
				d.str(n, what+": paths", &glob)
				if glob != "" {
					d.glob(n, what+": paths", glob)
					svc.Paths = append(svc.Paths, glob)
				}
			})
		},
		"mesh": func(n *yaml.Node) {
			d.str(n, what+": mesh", &svc.Mesh)
			d.relative(n, what+": mesh", svc.Mesh)
		},
		"compliance": func(n *yaml.Node) {
			var s string
			d.oneOf(n, what+": compliance", []string{string(Sandbox), string(Standard), string(Regulated)}, &s)
			if s != "" {
				svc.Compliance = Compliance(s)
			}
		},
		"expected_duration": func(n *yaml.Node) { d.duration(n, what+": expected_duration", &svc.ExpectedDuration) },
	})
	if given != nil && !given["paths"] {
		d.errorf(item, "%s has no \"paths\"; list the globs of the files that belong to it, e.g. [\"services/%s/**\"]", what, svc.Name)
	}
}

func (d *decoder) deploy(n *yaml.Node, what string, dep *Deploy) {
	item := d.w.Resolve(n)
	given := d.fields(item, what, map[string]func(*yaml.Node){
		"workflow": func(n *yaml.Node) {
			d.str(n, what+".workflow", &dep.Workflow)
			w := dep.Workflow
			if w != "" && (strings.Contains(w, "/") || !(strings.HasSuffix(w, ".yml") || strings.HasSuffix(w, ".yaml"))) {
				d.errorf(resolveAliases(n), "%s.workflow: %q is not a workflow file name; name the file in .github/workflows, e.g. \"deploy.yml\"", what, w)
			}
		},
		"ref":     func(n *yaml.Node) { d.str(n, what+".ref", &dep.Ref) },
		"command": func(n *yaml.Node) { d.str(n, what+".command", &dep.Command) },
		"inputs": func(n *yaml.Node) {
			n = d.w.Resolve(n)
			if n.Kind != yaml.MappingNode {
				d.errorf(n, "%s.inputs: expected a mapping of input names to strings, got %s", what, yamlnode.Describe(n))
				return
			}
			dep.Inputs = map[string]string{}
			for _, p := range d.w.Pairs(n) {
				var v string
				if vn, ok := d.scalar(p.Value, fmt.Sprintf("%s.inputs.%s", what, p.Key.Value), "!!str", "a string"); ok {
					v = vn.Value
				}
				switch p.Key.Value {
				case "service", "environment", "ref", "deployment_id":
					d.errorf(p.Key, "%s.inputs: %q is set by Promote itself; remove it", what, p.Key.Value)
				}
				dep.Inputs[p.Key.Value] = v
			}
			if len(dep.Inputs) > 21 {
				d.errorf(n, "%s.inputs: %d inputs, but a workflow takes at most 25 and Promote sends 4; keep at most 21", what, len(dep.Inputs))
			}
		},
	})
	switch {
	case given == nil:
	case given["workflow"] && given["command"]:
		d.errorf(item, "%s: set either workflow or command, not both", what)
	case !given["workflow"] && !given["command"]:
		d.errorf(item, "%s: set workflow (a file in .github/workflows) or command", what)
	case given["command"] && (given["ref"] || given["inputs"]):
		d.errorf(item, "%s: ref and inputs only apply to a workflow deploy", what)
	}
}

// glob checks a path glob from a service's paths.
func (d *decoder) glob(n *yaml.Node, what, glob string) {
	n = resolveAliases(n)
	if err := validGlob(glob); err != nil {
		d.errorf(n, "%s: invalid glob %q: %v", what, glob, err)
	}
}

// relative checks a path relative to the manifest's directory.
func (d *decoder) relative(n *yaml.Node, what, path string) {
	if strings.HasPrefix(path, "/") {
		d.errorf(resolveAliases(n), "%s: %q must be relative to the directory of the manifest; drop the leading /", what, path)
	}
}

func (d *decoder) evidence(n *yaml.Node) *Evidence {
	ev := &Evidence{Store: DefaultEvidenceStore, RetentionDays: DefaultRetentionDays, Mode: LockCompliance}
	given := d.fields(n, "evidence", map[string]func(*yaml.Node){
		"store": func(n *yaml.Node) {
			d.str(n, "evidence.store", &ev.Store)
			if err := validStore(ev.Store); err != nil {
				d.errorf(resolveAliases(n), "evidence.store: %v", err)
			}
		},
		"region":         func(n *yaml.Node) { d.str(n, "evidence.region", &ev.Region) },
		"endpoint":       func(n *yaml.Node) { d.str(n, "evidence.endpoint", &ev.Endpoint) },
		"retention_days": func(n *yaml.Node) { d.integer(n, "evidence.retention_days", 1, 36500, &ev.RetentionDays) },
		"mode": func(n *yaml.Node) {
			var s string
			d.oneOf(n, "evidence.mode", []string{string(LockCompliance), string(LockGovernance)}, &s)
			if s != "" {
				ev.Mode = LockMode(s)
			}
		},
		"signer": func(n *yaml.Node) { d.signer(n, &ev.Signer) },
	})
	if given == nil {
		return nil
	}
	if !given["signer"] {
		ev.Signer.Local = &LocalSigner{Path: DefaultSigningKey, Algorithm: "ecdsa-p256"}
	}
	return ev
}

func (d *decoder) metrics(n *yaml.Node, m *Metrics) {
	d.fields(n, "metrics", map[string]func(*yaml.Node){
		"push": func(n *yaml.Node) {
			d.str(n, "metrics.push", &m.Push)
			if u, err := url.Parse(m.Push); m.Push != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				d.errorf(resolveAliases(n), "metrics.push: %q is not a Pushgateway URL; write http(s)://HOST:PORT, e.g. http://pushgateway:9091", m.Push)
			}
		},
		"job": func(n *yaml.Node) { d.str(n, "metrics.job", &m.Job) },
	})
}

func validStore(store string) error {
	switch {
	case strings.HasPrefix(store, "file://") && len(store) > len("file://"):
		return nil
	case strings.HasPrefix(store, "s3://"):
		bucket, _, _ := strings.Cut(strings.TrimPrefix(store, "s3://"), "/")
		if bucket == "" {
			return fmt.Errorf("%q names no bucket; write s3://BUCKET[/PREFIX]", store)
		}
		return nil
	}
	return fmt.Errorf("unsupported store %q; use file://DIR or s3://BUCKET[/PREFIX]", store)
}

func (d *decoder) signer(n *yaml.Node, s *Signer) {
	item := d.w.Resolve(n)
	given := d.fields(item, "evidence.signer", map[string]func(*yaml.Node){
		"local": func(n *yaml.Node) {
			s.Local = &LocalSigner{Path: DefaultSigningKey, Algorithm: "ecdsa-p256"}
			d.fields(n, "evidence.signer.local", map[string]func(*yaml.Node){
				"path": func(n *yaml.Node) { d.str(n, "evidence.signer.local.path", &s.Local.Path) },
				"algorithm": func(n *yaml.Node) {
					d.oneOf(n, "evidence.signer.local.algorithm", []string{"ecdsa-p256", "ed25519"}, &s.Local.Algorithm)
				},
			})
		},
		"vault": func(n *yaml.Node) {
			v := &VaultSigner{Mount: "transit", Auth: "jwt", JWTMount: "jwt"}
			s.Vault = v
			vn := d.w.Resolve(n)
			given := d.fields(vn, "evidence.signer.vault", map[string]func(*yaml.Node){
				"address":   func(n *yaml.Node) { d.str(n, "evidence.signer.vault.address", &v.Address) },
				"mount":     func(n *yaml.Node) { d.str(n, "evidence.signer.vault.mount", &v.Mount) },
				"key":       func(n *yaml.Node) { d.str(n, "evidence.signer.vault.key", &v.Key) },
				"auth":      func(n *yaml.Node) { d.oneOf(n, "evidence.signer.vault.auth", []string{"jwt", "token"}, &v.Auth) },
				"jwt_mount": func(n *yaml.Node) { d.str(n, "evidence.signer.vault.jwt_mount", &v.JWTMount) },
				"role":      func(n *yaml.Node) { d.str(n, "evidence.signer.vault.role", &v.Role) },
				"audience":  func(n *yaml.Node) { d.str(n, "evidence.signer.vault.audience", &v.Audience) },
			})
			if given == nil {
				return
			}
			if !given["key"] {
				d.errorf(vn, "evidence.signer.vault has no \"key\"; name the Transit key to sign with")
			}
			if v.Auth == "jwt" && !given["role"] {
				d.errorf(vn, "evidence.signer.vault has no \"role\"; JWT auth logs in with a role (or set auth: token)")
			}
		},
	})
	if given != nil && (s.Local == nil) == (s.Vault == nil) {
		d.errorf(item, "evidence.signer: set exactly one of local and vault")
	}
}
