package kpi

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Markdown returns s as a job summary: the chain's state, a table per
// service and environment with the window's figures, a pie chart of the
// promotions by result and a bar chart of the success ratios (mermaid, which
// GitHub renders), the evidence figures and the mesh.
func Markdown(s *Snapshot, since time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Promote KPIs (last %s)\n\n", days(since))
	if !s.ChainOK {
		b.WriteString("> [!CAUTION]\n> The evidence chain does not verify: only the integrity figures are shown.\n")
		for _, p := range s.Problems {
			fmt.Fprintf(&b, "> - %s\n", cell(p))
		}
		b.WriteString("\n")
	}

	type row struct{ service, env string }
	var rows []row
	seen := map[row]bool{}
	for _, d := range []*Desc{PromotionsTotal, DORADeployments} {
		if f := s.Family(d); f != nil {
			for _, smp := range f.Samples {
				if r := (row{smp.Labels[0], smp.Labels[1]}); !seen[r] {
					seen[r] = true
					rows = append(rows, r)
				}
			}
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.env, b.env)) })
	if len(rows) > 0 {
		b.WriteString("| service | environment | promotions (all) | success ratio | deploys/day | change failure ratio | mean lead time | mean recovery |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			total := 0.0
			if f := s.Family(PromotionsTotal); f != nil {
				for _, smp := range f.Samples {
					if smp.Labels[0] == r.service && smp.Labels[1] == r.env {
						total += smp.Value
					}
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(r.service), cell(r.env), number(total),
				gauge(s, PromotionSuccess, r.service, r.env), gauge(s, DORAFrequency, r.service, r.env),
				gauge(s, DORAFailureRatio, r.service, r.env), mean(s, DORALeadTime, r.service, r.env), mean(s, DORARecovery, r.service, r.env))
		}
		b.WriteString("\n")
	}
	checksAndRollbacks(&b, s)

	if f := s.Family(PromotionsTotal); f != nil {
		byResult := map[string]float64{}
		for _, smp := range f.Samples {
			byResult[smp.Labels[2]] += smp.Value
		}
		b.WriteString("```mermaid\npie title Promotions by result\n")
		for _, k := range slices.Sorted(maps.Keys(byResult)) {
			fmt.Fprintf(&b, "    %q : %s\n", k, number(byResult[k]))
		}
		b.WriteString("```\n\n")
	}
	if f := s.Family(PromotionSuccess); f != nil && len(f.Samples) > 0 {
		var names, values []string
		for _, smp := range f.Samples {
			names = append(names, fmt.Sprintf("%q", smp.Labels[0]+"@"+smp.Labels[1]))
			values = append(values, fmt.Sprintf("%.3f", smp.Value))
		}
		fmt.Fprintf(&b, "```mermaid\nxychart-beta\n    title \"Success ratio, last %s\"\n    x-axis [%s]\n    y-axis \"ratio\" 0 --> 1\n    bar [%s]\n```\n\n",
			days(since), strings.Join(names, ", "), strings.Join(values, ", "))
	}

	b.WriteString("| evidence | |\n|---|---:|\n")
	for _, d := range []*Desc{EvidenceChainOK, EvidenceHead, EvidenceBroken, EvidenceFailures, EvidenceSpool, WORMObjects, WORMNoncompliant, WORMDeleteMarkers} {
		if v, ok := s.Value(d); ok {
			fmt.Fprintf(&b, "| `%s` | %s |\n", d.Name, number(v))
		}
	}
	for _, d := range []*Desc{EvidenceCheckpoint, EvidenceLastRecord, WORMMinRetain} {
		if v, ok := s.Value(d); ok {
			fmt.Fprintf(&b, "| `%s` | %s |\n", d.Name, time.Unix(int64(v), 0).UTC().Format(time.RFC3339))
		}
	}
	b.WriteString("\n")

	if f := s.Family(MeshLastCheck); f != nil {
		b.WriteString("| service | mesh findings | ignored | STRICT namespaces | policies |\n|---|---:|---:|---|---:|\n")
		for _, smp := range f.Samples {
			svc := smp.Labels[0]
			findings := 0.0
			if mf := s.Family(MeshFindings); mf != nil {
				for _, m := range mf.Samples {
					if m.Labels[0] == svc {
						findings += m.Value
					}
				}
			}
			var strict []string
			if mf := s.Family(MeshMTLSStrict); mf != nil {
				for _, m := range mf.Samples {
					if m.Labels[0] == svc {
						mark := "✗"
						if m.Value == 1 {
							mark = "✓"
						}
						strict = append(strict, m.Labels[1]+" "+mark)
					}
				}
			}
			ignored, _ := s.Value(MeshIgnored, svc)
			policies, _ := s.Value(MeshPolicies, svc)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(svc), number(findings), number(ignored), cell(strings.Join(strict, ", ")), number(policies))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func gauge(s *Snapshot, d *Desc, labels ...string) string {
	if v, ok := s.Value(d, labels...); ok {
		return number(v)
	}
	return "–"
}

// mean returns a histogram series' mean as a duration, or a dash.
func mean(s *Snapshot, d *Desc, labels ...string) string {
	if f := s.Family(d); f != nil {
		for _, smp := range f.Samples {
			if slices.Equal(smp.Labels, labels) && smp.Count > 0 {
				return (time.Duration(smp.Sum / float64(smp.Count) * float64(time.Second))).Round(time.Second).String()
			}
		}
	}
	return "–"
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
}

// checksAndRollbacks writes a table of the whole chain's post-deploy checks
// and rollbacks per service and environment, for those that had any.
func checksAndRollbacks(b *strings.Builder, s *Snapshot) {
	type row struct{ service, env string }
	// passed and failed checks, succeeded and failed rollbacks
	counts := map[row]*[4]float64{}
	add := func(d *Desc, first string, result int) {
		f := s.Family(d)
		if f == nil {
			return
		}
		for _, smp := range f.Samples {
			if smp.Value == 0 {
				continue
			}
			r := row{smp.Labels[0], smp.Labels[1]}
			if counts[r] == nil {
				counts[r] = &[4]float64{}
			}
			i := 0
			if smp.Labels[result] != first {
				i = 1
			}
			if d == RollbacksTotal {
				i += 2
			}
			counts[r][i] += smp.Value
		}
	}
	add(VerificationsTotal, "passed", 3)
	add(RollbacksTotal, "succeeded", 2)
	if len(counts) == 0 {
		return
	}
	rows := slices.SortedFunc(maps.Keys(counts), func(a, b row) int {
		return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.env, b.env))
	})
	b.WriteString("| service | environment | checks passed (all) | checks failed (all) | rollbacks succeeded (all) | rollbacks failed (all) |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		c := counts[r]
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", cell(r.service), cell(r.env), number(c[0]), number(c[1]), number(c[2]), number(c[3]))
	}
	b.WriteString("\n")
}
