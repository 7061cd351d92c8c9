// Package manifest reads promotion.yaml, the file in which a repository
// declares its services, their dependencies and the environments they are
// promoted through.
//
// Parsing is strict and keeps positions: every problem is reported as
// file:line:col with what was expected, and all problems of a file are
// reported in one run.
package manifest

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// DefaultFile is the manifest's name at the root of a repository.
const DefaultFile = "promotion.yaml"

// Version is the only manifest format version this package reads.
const Version = 1

// Manifest is a parsed and validated promotion.yaml.
type Manifest struct {
	// File is the path the manifest was read from, as given.
	File         string
	Version      int
	Defaults     Defaults
	Environments []Environment // in promotion order
	Services     []Service     // in declaration order
	// Evidence is nil when the manifest configures no evidence.
	Evidence *Evidence
	// Mesh configures promote mesh check.
	Mesh Mesh
	// Metrics configures what promote run exports when it ends.
	Metrics Metrics

	index map[string]int
}

// Metrics configures the metrics promote run exports when it ends.
type Metrics struct {
	// Push is the URL of a Prometheus Pushgateway to push to, or empty.
	Push string
	// Job is the Pushgateway job, default "promote".
	Job string
}

// Defaults are the promotion settings that apply to every node.
type Defaults struct {
	MaxParallel      int
	Retries          int
	Timeout          time.Duration
	OnFailure        FailurePolicy
	Rollout          Rollout
	ExpectedDuration time.Duration
	// Deploy is used by services that declare no deploy of their own.
	Deploy *Deploy
}

// FailurePolicy says what a failed node does to the rest of a promotion.
type FailurePolicy string

// The failure policies.
const (
	// Continue skips the failed node's dependents and goes on with the rest.
	Continue FailurePolicy = "continue"
	// FailFast cancels everything that has not finished.
	FailFast FailurePolicy = "fail_fast"
)

// Rollout is a staged rollout: at first Initial nodes may run at once, and the
// window widens by Step after each success, up to MaxParallel.
type Rollout struct {
	Initial int
	Step    int
}

// Environment is one stage of the promotion path.
type Environment struct {
	Name string
	// GitHubEnvironment is a template over {service} and {environment}.
	GitHubEnvironment string
	Protected         bool
	// Soak is how long a service must have been promoted in the previous
	// environment before it may enter this one.
	Soak time.Duration
	Pos  Pos
}

// GitHubName returns the GitHub environment a service deploys into here.
func (e Environment) GitHubName(service string) string {
	return strings.NewReplacer("{service}", service, "{environment}", e.Name).Replace(e.GitHubEnvironment)
}

// Compliance is a service's compliance mode.
type Compliance string

// The compliance modes.
const (
	Sandbox   Compliance = "sandbox"
	Standard  Compliance = "standard"
	Regulated Compliance = "regulated"
)

// Service is one deployable unit of the repository.
type Service struct {
	Name             string
	DependsOn        []Dependency
	Deploy           Deploy
	Paths            []string
	Mesh             string
	Compliance       Compliance
	ExpectedDuration time.Duration
	Pos              Pos
}

// Dependency is one entry of a service's depends_on list.
type Dependency struct {
	Name string
	// Index is the dependency's position in Manifest.Services.
	Index int
	Pos   Pos
}

// Deploy says how one node is deployed: by dispatching a workflow, or by
// running a command.
type Deploy struct {
	Workflow string
	Ref      string
	Inputs   map[string]string
	Command  string
}

// Evidence configures where promotion evidence is kept and how it is signed.
type Evidence struct {
	Store         string
	Region        string
	Endpoint      string
	RetentionDays int
	Mode          LockMode
	Signer        Signer
}

// LockMode is an S3 Object Lock retention mode.
type LockMode string

// The Object Lock modes.
const (
	LockCompliance LockMode = "compliance"
	LockGovernance LockMode = "governance"
)

// Signer holds exactly one of its fields.
type Signer struct {
	Local *LocalSigner
	Vault *VaultSigner
}

// LocalSigner signs with a private key file.
type LocalSigner struct {
	Path      string
	Algorithm string
}

// VaultSigner signs with a Vault Transit key.
type VaultSigner struct {
	Address  string
	Mount    string
	Key      string
	Auth     string
	JWTMount string
	Role     string
	Audience string
}

// Service returns the index of the named service in m.Services.
func (m *Manifest) Service(name string) (int, bool) {
	i, ok := m.index[name]
	return i, ok
}

// Environment returns the index of the named environment in m.Environments.
func (m *Manifest) Environment(name string) (int, bool) {
	for i, e := range m.Environments {
		if e.Name == name {
			return i, true
		}
	}
	return 0, false
}

// EnvironmentNames lists the environments in promotion order.
func (m *Manifest) EnvironmentNames() []string {
	names := make([]string, len(m.Environments))
	for i, e := range m.Environments {
		names[i] = e.Name
	}
	return names
}

// Load reads and parses the manifest at path.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("manifest %q not found; create it (see docs/manifest.md) or pass --manifest PATH: %w", path, err)
		}
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return Parse(path, data)
}

// namePattern is what service and environment names may look like: a node is
// written service@environment, and names end up in GitHub environment names,
// matrix values and object keys.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

const nameRule = "names start with a letter or digit and hold up to 63 letters, digits, '.', '_' and '-'"

// Mesh configures promote mesh check beyond the services' own mesh
// directories.
type Mesh struct {
	// Paths are files or directories checked with every service's mesh
	// directory, relative to the manifest (platform-wide configuration).
	Paths []string
	// RootNamespace is Istio's root namespace; empty means istio-system.
	RootNamespace string
	// MonitoringNamespaces may reach metrics ports; empty means
	// ["monitoring"].
	MonitoringNamespaces []string
}
