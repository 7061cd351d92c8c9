package evidence

import (
	"errors"
	"fmt"
)

// MeshSummary is what a mesh check found, in figures (predicate v2, field
// "mesh" of a mesh-check record): the report itself stays a subject, by
// digest, and this summary lets KPIs chart the mesh without the report.
type MeshSummary struct {
	// Findings counts the findings by rule and severity.
	Findings []MeshFindingCount `json:"findings"`
	// Ignored is how many findings an ignore annotation or rule
	// suppressed.
	Ignored int `json:"ignored"`
	// MTLS is the mutual TLS mode in force per namespace and workload;
	// an empty workload stands for the namespace's default.
	MTLS []MeshMTLS `json:"mtls"`
	// Policies names the policies in force.
	Policies []string `json:"policies"`
}

// MeshFindingCount is how many findings of one rule and severity a check
// found.
type MeshFindingCount struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Count    int    `json:"count"`
}

// MeshMTLS is the mutual TLS mode of a namespace or workload: STRICT,
// PERMISSIVE, DISABLE or UNSET.
type MeshMTLS struct {
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	Mode      string `json:"mode"`
}

var (
	meshSummaryFields = []string{"findings", "ignored", "mtls", "policies"}
	meshFindingFields = []string{"rule", "severity", "count"}
	meshMTLSFields    = []string{"namespace", "workload", "mode"}
)

// meshFields are the mesh-check record's fields (predicate v2).
var meshFields = []predicateField{{
	name: "mesh", since: predicateV2, kinds: []Kind{KindMeshCheck},
	check: func(r *Record) error {
		if r.Mesh == nil {
			return nil
		}
		return r.Mesh.validate()
	},
	put: func(r *Record, m map[string]any) {
		s := r.Mesh
		if s == nil {
			return
		}
		findings := make([]any, len(s.Findings))
		for i, f := range s.Findings {
			findings[i] = map[string]any{"rule": f.Rule, "severity": f.Severity, "count": float64(f.Count)}
		}
		mtls := make([]any, len(s.MTLS))
		for i, t := range s.MTLS {
			mtls[i] = map[string]any{"namespace": t.Namespace, "workload": t.Workload, "mode": t.Mode}
		}
		policies := make([]any, len(s.Policies))
		for i, p := range s.Policies {
			policies[i] = p
		}
		m["mesh"] = map[string]any{"findings": findings, "ignored": float64(s.Ignored), "mtls": mtls, "policies": policies}
	},
	read: func(r *jsonReader, p *Predicate) error {
		s := &MeshSummary{Findings: []MeshFindingCount{}, MTLS: []MeshMTLS{}, Policies: []string{}}
		seen, err := r.fields("mesh", meshSummaryFields, func(i int) error {
			switch i {
			case 0:
				return r.array(func() error {
					var f MeshFindingCount
					seen, err := r.fields("mesh finding", meshFindingFields, func(i int) error {
						var err error
						switch i {
						case 0:
							f.Rule, err = r.str()
						case 1:
							f.Severity, err = r.str()
						case 2:
							var n uint64
							n, err = r.integer(maxSeq)
							f.Count = int(n)
						}
						return err
					})
					if err == nil {
						err = missing(seen, meshFindingFields)
					}
					s.Findings = append(s.Findings, f)
					return err
				})
			case 1:
				n, err := r.integer(maxSeq)
				s.Ignored = int(n)
				return err
			case 2:
				return r.array(func() error {
					var t MeshMTLS
					seen, err := r.fields("mesh mtls", meshMTLSFields, func(i int) error {
						var err error
						switch i {
						case 0:
							t.Namespace, err = r.str()
						case 1:
							t.Workload, err = r.str()
						case 2:
							t.Mode, err = r.str()
						}
						return err
					})
					if err == nil {
						err = missing(seen, meshMTLSFields)
					}
					s.MTLS = append(s.MTLS, t)
					return err
				})
			}
			var err error
			s.Policies, err = r.strings()
			return err
		})
		if err == nil {
			err = missing(seen, meshSummaryFields)
		}
		if err != nil {
			return fmt.Errorf("mesh: %w", err)
		}
		p.Mesh = s
		return nil
	},
}}

// validate checks what the JSON Schema checks of a mesh summary.
func (s *MeshSummary) validate() error {
	if s.Ignored < 0 || s.Ignored > maxSeq {
		return fmt.Errorf("mesh ignored findings %d: want 0 or more", s.Ignored)
	}
	for _, f := range s.Findings {
		if f.Rule == "" || f.Severity == "" || f.Count < 1 || f.Count > maxSeq {
			return fmt.Errorf("mesh finding count %+v: want a rule, a severity and a count of 1 or more", f)
		}
	}
	for _, t := range s.MTLS {
		if t.Namespace == "" || t.Mode == "" {
			return fmt.Errorf("mesh mtls %+v: want a namespace and a mode", t)
		}
	}
	for _, p := range s.Policies {
		if p == "" {
			return errors.New("a mesh policy name is empty")
		}
	}
	return nil
}
