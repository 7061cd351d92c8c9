package dashboards

//lint:file-ignore SA1019 the committed JSON is the v1 dashboard model, which every Grafana version imports (see dashboards.go)

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func init() {
	// The panel and query kinds the strict reader knows.
	plugins.RegisterDefaultPlugins()
}

// grafanaDir holds the committed dashboards.
const grafanaDir = "../../../examples/grafana"

// TestCommittedDashboards fails when examples/grafana differs from what the
// generator writes: a change to the specs must be followed by go generate.
func TestCommittedDashboards(t *testing.T) {
	t.Parallel()
	files, err := All()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		want, err := Marshal(f.Dashboard)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(grafanaDir, f.Name))
		if err != nil {
			t.Errorf("%v; run go generate ./internal/kpi/dashboards", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("examples/grafana/%s differs from what the generator writes; run go generate ./internal/kpi/dashboards", f.Name)
		}
		// The SDK reads the file back strictly (no unknown field, every
		// panel and query of a known kind) and validates it.
		var d dashboard.Dashboard
		if err := sdkError(d.UnmarshalJSONStrict(got)); err != nil {
			t.Errorf("examples/grafana/%s: %v", f.Name, err)
		} else if err := sdkError(d.Validate()); err != nil {
			t.Errorf("examples/grafana/%s: %v", f.Name, err)
		}
	}
	committed, err := filepath.Glob(filepath.Join(grafanaDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range committed {
		if !slices.Contains(names, filepath.Base(c)) {
			t.Errorf("examples/grafana/%s is not written by the generator; remove it", filepath.Base(c))
		}
	}
	if len(files) != 4 {
		t.Errorf("All() = %d dashboards, want 4 (Promotion KPIs, Service mesh status, Evidence chain integrity, WORM storage)", len(files))
	}
}

// sdkError is err, or nil for the empty list of errors the SDK returns
// when there are none.
func sdkError(err error) error {
	if errs, ok := err.(cog.BuildErrors); ok && len(errs) == 0 {
		return nil
	}
	return err
}

// isCounter tells whether a series name is a counter's: a _total, or a
// histogram's _bucket, _sum or _count.
func isCounter(name string) bool {
	for _, s := range []string{"_total", "_bucket", "_sum", "_count"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

var (
	// A Promote metric's name, not a part of a longer name (a recording
	// rule's level:metric:operation).
	metricName   = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:])(promote_[a-z0-9_]+)`)
	rangeAfter   = regexp.MustCompile(`^(\{[^}]*\})?\[[^\]]+\]`)
	legendLabel  = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	labelValues  = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	anyVariables = strings.NewReplacer("$service", ".*", "$environment", ".*")
)

// metricRefs returns the Promote metrics expr names.
func metricRefs(expr string) []string {
	var names []string
	for _, m := range metricName.FindAllStringSubmatch(expr, -1) {
		names = append(names, m[1])
	}
	return names
}

// counterProblems returns what is wrong with how expr uses counters: each
// counter must be the range-vector argument of rate() or increase(), and a
// gauge must never be.
func counterProblems(expr string) []string {
	var problems []string
	for _, loc := range metricName.FindAllStringSubmatchIndex(expr, -1) {
		name := expr[loc[2]:loc[3]]
		before := strings.TrimRight(expr[:loc[2]], " ")
		wrapped := strings.HasSuffix(before, "rate(") || strings.HasSuffix(before, "increase(")
		switch {
		case isCounter(name) && (!wrapped || !rangeAfter.MatchString(expr[loc[3]:])):
			problems = append(problems, "counter "+name+" is not inside rate(…[range]) or increase(…[range])")
		case !isCounter(name) && wrapped:
			problems = append(problems, "gauge "+name+" is inside rate() or increase(), which only counters may be")
		}
	}
	return problems
}

func TestCounterProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		what string
		expr string
		want int
	}{
		{"rate of a counter", `sum(rate(promote_promotions_total{a="b"}[5m]))`, 0},
		{"increase of a bucket", `histogram_quantile(0.5, sum by (le) (increase(promote_x_seconds_bucket[$__range])))`, 0},
		{"bare counter", `sum(promote_promotions_total)`, 1},
		{"counter without a range", `rate(promote_promotions_total)`, 1},
		{"rate of a gauge", `rate(promote_evidence_head_seq[5m])`, 1},
		{"gauge", `time() - promote_evidence_last_record_timestamp_seconds`, 0},
		{"recording rule", `service_environment:promote_promotion_failures:ratio6h > 0.25`, 0},
	} {
		if got := counterProblems(tc.expr); len(got) != tc.want {
			t.Errorf("%s: counterProblems(%q) = %q, want %d problems", tc.what, tc.expr, got, tc.want)
		}
	}
}

// A target is one query of a committed dashboard's panel, as Grafana reads it.
type target struct {
	dashboard, panel, panelType, unit string
	expr, legend                      string
	instant                           bool
}

func (t target) String() string { return t.dashboard + ": " + t.panel + ": " + t.expr }

// A variable is a query variable of a committed dashboard:
// label_values(match, label).
type variable struct {
	dashboard, match, label string
}

// committedTargets reads every panel query of the committed dashboards, and
// checks what a dashboard must have beyond its queries.
func committedTargets(t *testing.T) []target {
	t.Helper()
	targets, _ := committed(t)
	return targets
}

// committedVariables reads the query variables of the committed dashboards.
func committedVariables(t *testing.T) []variable {
	t.Helper()
	_, variables := committed(t)
	return variables
}

func committed(t *testing.T) ([]target, []variable) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(grafanaDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards in %s (%v)", grafanaDir, err)
	}
	type jsonPanel struct {
		Type        string `json:"type"`
		Title       string `json:"title"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Links []struct {
			URL string `json:"url"`
		} `json:"links"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
			Instant      bool   `json:"instant"`
		} `json:"targets"`
	}
	var targets []target
	var variables []variable
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title      string      `json:"title"`
			Panels     []jsonPanel `json:"panels"`
			Templating struct {
				List []struct {
					Name, Type, Query string
				} `json:"list"`
			} `json:"templating"`
			Links []struct {
				URL string `json:"url"`
			} `json:"links"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var vars []string
		for _, v := range d.Templating.List {
			vars = append(vars, v.Type+" "+v.Name)
			if v.Type != "query" {
				continue
			}
			m := labelValues.FindStringSubmatch(v.Query)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(metric, label)", d.Title, v.Name, v.Query)
				continue
			}
			variables = append(variables, variable{dashboard: d.Title, match: anyVariables.Replace(m[1]), label: m[2]})
		}
		for _, want := range []string{"datasource datasource", "query service", "query environment"} {
			if !slices.Contains(vars, want) {
				t.Errorf("%s: no %s variable (has %q)", d.Title, want, vars)
			}
		}
		if !slices.ContainsFunc(d.Links, func(l struct {
			URL string `json:"url"`
		}) bool {
			return l.URL == EvidenceDocs
		}) {
			t.Errorf("%s: no dashboard link to %s", d.Title, EvidenceDocs)
		}
		for _, panel := range d.Panels {
			if panel.Type == "row" {
				continue
			}
			if panel.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: %s: no unit", d.Title, panel.Title)
			}
			if len(panel.Links) == 0 || panel.Links[0].URL != EvidenceDocs {
				t.Errorf("%s: %s: no link to the evidence", d.Title, panel.Title)
			}
			if len(panel.Targets) == 0 {
				t.Errorf("%s: %s: no query", d.Title, panel.Title)
			}
			for _, q := range panel.Targets {
				targets = append(targets, target{
					dashboard: d.Title, panel: panel.Title, panelType: panel.Type,
					unit: panel.FieldConfig.Defaults.Unit,
					expr: q.Expr, legend: q.LegendFormat, instant: q.Instant,
				})
			}
		}
	}
	return targets, variables
}

// TestPanels checks every committed panel query: counters only inside
// rate() or increase(), and only metrics of Promote's exporter.
func TestPanels(t *testing.T) {
	t.Parallel()
	targets := committedTargets(t)
	if len(targets) < 30 {
		t.Errorf("%d panel queries, want the four dashboards' 30 or more", len(targets))
	}
	for _, q := range targets {
		for _, p := range counterProblems(q.expr) {
			t.Errorf("%v: %s", q, p)
		}
		if len(metricRefs(q.expr)) == 0 {
			t.Errorf("%v: names no Promote metric", q)
		}
		if (q.panelType == "timeseries") == q.instant {
			t.Errorf("%v: a %s panel with instant=%v", q, q.panelType, q.instant)
		}
	}
}
