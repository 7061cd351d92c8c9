// Package plan turns a promotion graph into a plan: the versioned JSON
// document (plan.json) that `promote run` executes, and its renderings for
// people (a terminal table, a job summary with a mermaid flowchart) and for
// workflows (a matrix per wave).
package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/promote-dev/promote/internal/dag"
	"github.com/promote-dev/promote/internal/manifest"
)

// Version is the plan format this package writes and reads.
const Version = 1

// Plan is everything `promote run` needs to execute a promotion, computed and
// shown before anything runs. Nodes are in execution order: topological,
// critical path first.
type Plan struct {
	Version        int           `json:"version"`
	Manifest       string        `json:"manifest"`
	ManifestSHA256 string        `json:"manifest_sha256"`
	Commit         string        `json:"commit,omitempty"`
	Selection      Selection     `json:"selection"`
	Settings       Settings      `json:"settings"`
	Environments   []Environment `json:"environments"`
	Nodes          []Node        `json:"nodes"`
	Edges          []Edge        `json:"edges"`
	Waves          [][]string    `json:"waves"`
	CriticalPath   CriticalPath  `json:"critical_path"`
	Excluded       []Excluded    `json:"excluded"`
}

// Selection records what the plan was asked to cover.
type Selection struct {
	From           string   `json:"from"`
	To             string   `json:"to"`
	Services       []string `json:"services,omitempty"`
	ChangedSince   string   `json:"changed_since,omitempty"`
	ChangedFiles   int      `json:"changed_files,omitempty"`
	WithDependents bool     `json:"with_dependents,omitempty"`
}

// Settings are the manifest's promotion defaults, copied so that the plan
// alone drives a run.
type Settings struct {
	MaxParallel     int    `json:"max_parallel"`
	Retries         int    `json:"retries"`
	TimeoutSeconds  int64  `json:"timeout_seconds"`
	OnFailure       string `json:"on_failure"`
	RolloutInitial  int    `json:"rollout_initial"`
	RolloutStep     int    `json:"rollout_step"`
	EvidenceEnabled bool   `json:"evidence_enabled"`
}

// Environment is one environment of the plan's range.
type Environment struct {
	Name        string `json:"name"`
	Protected   bool   `json:"protected"`
	SoakSeconds int64  `json:"soak_seconds"`
}

// Node is one service in one environment.
type Node struct {
	ID                string `json:"id"`
	Service           string `json:"service"`
	Environment       string `json:"environment"`
	GitHubEnvironment string `json:"github_environment"`
	Protected         bool   `json:"protected"`
	Compliance        string `json:"compliance"`
	Deploy            Deploy `json:"deploy"`
	Wave              int    `json:"wave"`
	// Needs are the plan's nodes this one waits for.
	Needs []string `json:"needs"`
	// Requires is the node of the previous environment, outside the plan
	// (before --from), that must have succeeded for the same commit.
	Requires          *Requirement `json:"requires,omitempty"`
	SoakSeconds       int64        `json:"soak_seconds"`
	ExpectedSeconds   int64        `json:"expected_seconds"`
	EarliestStartSecs int64        `json:"earliest_start_seconds"`
	// PrioritySeconds is the node's expected duration plus the longest chain
	// that must follow it; the scheduler starts the largest first.
	PrioritySeconds int64 `json:"priority_seconds"`
	Critical        bool  `json:"critical"`
}

// Requirement is a node outside the plan that must already have succeeded.
type Requirement struct {
	ID                string `json:"id"`
	Environment       string `json:"environment"`
	GitHubEnvironment string `json:"github_environment"`
}

// Deploy is how a node is deployed.
type Deploy struct {
	Workflow string            `json:"workflow,omitempty"`
	Ref      string            `json:"ref,omitempty"`
	Inputs   map[string]string `json:"inputs,omitempty"`
	Command  string            `json:"command,omitempty"`
}

// Edge is a wait: To starts after From succeeded.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Kind is "dependency" (within an environment) or "promotion" (the same
	// service in the previous environment).
	Kind string `json:"kind"`
}

// CriticalPath is the longest chain of expected durations and soak times.
type CriticalPath struct {
	Nodes           []string `json:"nodes"`
	DurationSeconds int64    `json:"duration_seconds"`
}

// Excluded is a node the selection covers that may not be promoted.
type Excluded struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Meta is what the plan records beyond the graph.
type Meta struct {
	ManifestBytes []byte
	Commit        string
	Selection     Selection
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// New builds the plan of an analysed graph.
func New(g *dag.Graph, a *dag.Analysis, meta Meta) *Plan {
	m := g.Manifest
	sum := sha256.Sum256(meta.ManifestBytes)
	p := &Plan{
		Version:        Version,
		Manifest:       m.File,
		ManifestSHA256: hex.EncodeToString(sum[:]),
		Commit:         meta.Commit,
		Selection:      meta.Selection,
		Settings: Settings{
			MaxParallel:     m.Defaults.MaxParallel,
			Retries:         m.Defaults.Retries,
			TimeoutSeconds:  seconds(m.Defaults.Timeout),
			OnFailure:       string(m.Defaults.OnFailure),
			RolloutInitial:  m.Defaults.Rollout.Initial,
			RolloutStep:     m.Defaults.Rollout.Step,
			EvidenceEnabled: m.Evidence != nil,
		},
		Nodes:    make([]Node, 0, len(g.Nodes)),
		Edges:    make([]Edge, 0, g.EdgeCount()),
		Waves:    make([][]string, len(a.Waves)),
		Excluded: make([]Excluded, 0, len(g.Excluded)),
	}
	p.Selection.From = m.Environments[g.From].Name
	p.Selection.To = m.Environments[g.To].Name
	for _, e := range m.Environments[g.From : g.To+1] {
		p.Environments = append(p.Environments, Environment{Name: e.Name, Protected: e.Protected, SoakSeconds: seconds(e.Soak)})
	}

	ids := make([]string, len(g.Nodes))
	for v := range g.Nodes {
		ids[v] = g.ID(v)
	}
	critical := make([]bool, len(g.Nodes))
	for _, v := range a.Critical {
		critical[v] = true
		p.CriticalPath.Nodes = append(p.CriticalPath.Nodes, ids[v])
	}
	p.CriticalPath.DurationSeconds = seconds(a.Length)

	for _, v := range a.Order {
		n := g.Nodes[v]
		svc, env := m.Services[n.Service], m.Environments[n.Env]
		node := Node{
			ID:                ids[v],
			Service:           svc.Name,
			Environment:       env.Name,
			GitHubEnvironment: env.GitHubName(svc.Name),
			Protected:         env.Protected,
			Compliance:        string(svc.Compliance),
			Deploy:            Deploy(svc.Deploy),
			Wave:              a.Wave[v],
			Needs:             make([]string, 0, len(g.Preds(v))),
			SoakSeconds:       seconds(env.Soak),
			ExpectedSeconds:   seconds(g.Duration(v)),
			EarliestStartSecs: seconds(a.Start[v]),
			PrioritySeconds:   seconds(a.Tail[v]),
			Critical:          critical[v],
		}
		if n.Requires {
			prev := m.Environments[n.Env-1]
			node.Requires = &Requirement{ID: svc.Name + "@" + prev.Name, Environment: prev.Name, GitHubEnvironment: prev.GitHubName(svc.Name)}
		}
		for _, w := range g.Preds(v) {
			u := int(w)
			node.Needs = append(node.Needs, ids[u])
			kind := "dependency"
			if g.IsPromotion(u, v) {
				kind = "promotion"
			}
			p.Edges = append(p.Edges, Edge{From: ids[u], To: ids[v], Kind: kind})
		}
		p.Nodes = append(p.Nodes, node)
	}
	for w, wave := range a.Waves {
		p.Waves[w] = make([]string, len(wave))
		for i, v := range wave {
			p.Waves[w][i] = ids[v]
		}
	}
	for _, x := range g.Excluded {
		p.Excluded = append(p.Excluded, Excluded{
			ID:     m.Services[x.Service].Name + "@" + m.Environments[x.Env].Name,
			Reason: x.Reason,
		})
	}
	return p
}

// Build parses nothing: it computes the plan of a manifest for a selection.
func Build(m *manifest.Manifest, sel dag.Selection, meta Meta) (*Plan, error) {
	g, err := dag.Build(m, sel)
	if err != nil {
		return nil, err
	}
	return New(g, g.Analyze(), meta), nil
}

// JSON returns the plan as indented JSON with a final newline.
func (p *Plan) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrVersion is returned by Read for a plan of another format version.
var ErrVersion = errors.New("unsupported plan version")

// Read decodes a plan written by JSON, strictly.
func Read(data []byte) (*Plan, error) {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	if head.Version != Version {
		return nil, fmt.Errorf("plan version %d, but this promote reads version %d; plan again with this promote: %w", head.Version, Version, ErrVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	return &p, nil
}

// Load reads a plan file.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	p, err := Read(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Services lists the services that have at least one node, in the order of
// their first node.
func (p *Plan) Services() []string {
	seen := map[string]bool{}
	out := []string{}
	for _, n := range p.Nodes {
		if !seen[n.Service] {
			seen[n.Service] = true
			out = append(out, n.Service)
		}
	}
	return out
}

// MatrixEntry is one job of a wave's matrix.
type MatrixEntry struct {
	Node              string `json:"node"`
	Service           string `json:"service"`
	Environment       string `json:"environment"`
	GitHubEnvironment string `json:"github_environment"`
}

// Matrix is a GitHub Actions matrix: `strategy: {matrix: ...}`.
type Matrix struct {
	Include []MatrixEntry `json:"include"`
}

// MaxMatrixJobs is the most jobs GitHub runs from one matrix.
const MaxMatrixJobs = 256

// Matrices returns one matrix per wave, for workflows that deploy each wave as
// a matrix job.
func (p *Plan) Matrices() []Matrix {
	byID := make(map[string]*Node, len(p.Nodes))
	for i := range p.Nodes {
		byID[p.Nodes[i].ID] = &p.Nodes[i]
	}
	out := make([]Matrix, len(p.Waves))
	for w, wave := range p.Waves {
		out[w].Include = make([]MatrixEntry, len(wave))
		for i, id := range wave {
			n := byID[id]
			out[w].Include[i] = MatrixEntry{Node: n.ID, Service: n.Service, Environment: n.Environment, GitHubEnvironment: n.GitHubEnvironment}
		}
	}
	return out
}
