package mesh

import (
	"fmt"
	"strconv"
)

// Severity is how bad a finding is.
type Severity int

// The severities, most severe first. They match SARIF's levels.
const (
	Error Severity = iota + 1
	Warning
	Note
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Note:
		return "note"
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// ParseSeverity parses "error", "warning" or "note" (also "info").
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "error":
		return Error, nil
	case "warning", "warn":
		return Warning, nil
	case "note", "info":
		return Note, nil
	}
	return 0, fmt.Errorf("unknown severity %q (expected error, warning or note)", s)
}

// MarshalText writes the severity's name, so JSON shows "error", not 1.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Layer is one of the layers of checks; --checks picks them.
type Layer string

// The layers, in the order they run.
const (
	LayerSchema   Layer = "schema"   // the resource decodes strictly into Istio's types
	LayerIstio    Layer = "istio"    // Istio's own validation rules (istioctl validate)
	LayerCRD      Layer = "crd"      // Istio's CRD schemas and CEL rules (the API server)
	LayerAnalysis Layer = "analysis" // cross-resource analysis over the whole file set
	LayerPolicy   Layer = "policy"   // organisation policies in Rego
)

// Layers lists every layer in the order they run.
var Layers = []Layer{LayerSchema, LayerIstio, LayerCRD, LayerAnalysis, LayerPolicy}

// Pos is a position in an input file; lines and columns are 1-based and zero
// when unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Finding is one problem found in the mesh configuration.
type Finding struct {
	Pos
	Severity Severity `json:"severity"`
	// Rule identifies the check, e.g. "schema.unknown-field" or
	// "policy.metrics-from-monitoring"; Rules describes each.
	Rule    string `json:"rule"`
	Message string `json:"message"`
	// Resource names the resource judged as "Kind namespace/name"; empty
	// for problems of a whole file.
	Resource string `json:"resource,omitempty"`
}

// String formats f as file:line:col: severity: message [rule].
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s [%s]", f.Pos, f.Severity, f.Message, f.Rule)
}

// Rule describes a check, for SARIF's rule list and for documentation.
type Rule struct {
	ID       string   `json:"id"`
	Layer    Layer    `json:"layer"`
	Severity Severity `json:"severity"` // the default severity of its findings
	Summary  string   `json:"summary"`  // one line
	Help     string   `json:"help"`     // what it checks and how to fix what it finds (Markdown)
}
