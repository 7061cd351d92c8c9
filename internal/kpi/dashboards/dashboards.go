// Package dashboards builds Promote's four Grafana dashboards (Promotion
// KPIs, Service mesh status, Evidence chain integrity, WORM storage) from
// the metrics `promote kpi` exports, with the Grafana foundation SDK.
//
// The JSON in examples/grafana is what Write produces; `go generate` here
// rewrites it, and a test fails when the two differ. Every panel names the
// metric it shows in its query, wraps each counter in rate() or increase(),
// has a unit, and links to the page that explains how to trace its number
// to signed evidence.
package dashboards

//lint:file-ignore SA1019 the v1 dashboard model is the JSON every Grafana version imports; the SDK prefers v2, which only Grafana 12 with the v2 API reads

//go:generate go run ./gen -dir ../../../examples/grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// EvidenceDocs is where each panel's link leads: how to trace a number to
// the signed records it was computed from (`promote evidence verify`).
const EvidenceDocs = "https://github.com/promote-dev/promote/blob/main/docs/kpi.md#from-a-panel-to-the-evidence"

// A File is one dashboard and the name of its JSON file.
type File struct {
	Name      string
	Dashboard dashboard.Dashboard
}

// kind is a panel's visualization.
type kind int

const (
	timeSeries kind = iota // a range query, drawn over time
	statPanel              // one number: an instant query
	barGauge               // one bar per series: an instant query
	tablePanel             // one row per series, its labels as columns
)

// panel is one panel of a dashboard, before the SDK builds it.
type panel struct {
	kind        kind
	title       string
	description string
	unit        string
	width       uint32
	queries     []query
}

// query is one PromQL target; legend is Grafana's legend format.
type query struct {
	expr   string
	legend string
}

// row is a titled group of panels.
type row struct {
	title  string
	panels []panel
}

// spec is a dashboard before the SDK builds it.
type spec struct {
	file, uid, title, description string
	// serviceMetric is the metric whose labels fill the service and
	// environment variables.
	serviceMetric string
	rows          []row
}

// sel is the label matcher of the service and environment variables.
const sel = `service=~"$service",environment=~"$environment"`

// All returns the four dashboards, built.
func All() ([]File, error) {
	var files []File
	for _, s := range specs() {
		d, err := s.build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %q: %w", s.title, err)
		}
		files = append(files, File{Name: s.file, Dashboard: d})
	}
	return files, nil
}

// Marshal returns a dashboard's JSON as it is committed: indented, with a
// final newline.
func Marshal(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes every dashboard into dir, one JSON file each.
func Write(dir string) error {
	files, err := All()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		data, err := Marshal(f.Dashboard)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (s spec) build() (dashboard.Dashboard, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	b := dashboard.NewDashboardBuilder(s.title).
		Uid(s.uid).
		Description(s.description).
		Tags([]string{"promote"}).
		Editable().
		Refresh("5m").
		Time("now-7d", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(labelVariable("service", "Service", ds, fmt.Sprintf("label_values(%s, service)", s.serviceMetric))).
		WithVariable(labelVariable("environment", "Environment", ds, `label_values(promote_promotions_total{service=~"$service"}, environment)`)).
		Link(dashboard.NewDashboardLinkBuilder("Evidence behind these numbers").
			Type(dashboard.DashboardLinkTypeLink).
			Icon("doc").
			Tooltip("Each number comes from signed, hash-chained records: `promote evidence verify` proves them").
			Url(EvidenceDocs).
			TargetBlank(true)).
		Link(dashboard.NewDashboardLinkBuilder("Promote dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"promote"}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
	// Grafana keys a panel's state and links by its id: one per panel.
	id := uint32(0)
	for _, r := range s.rows {
		id++
		b.WithRow(dashboard.NewRowBuilder(r.title).Id(id))
		for _, p := range r.panels {
			id++
			b.WithPanel(p.build(id, ds))
		}
	}
	d, err := b.Build()
	if err != nil {
		return d, err
	}
	// The SDK places dashboard links in the controls menu, which only
	// recent Grafana versions have; without a placement every version shows
	// them above the panels.
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	return d, nil
}

// labelVariable is a multi-value variable of a label's values, All by
// default; All matches any value, also of series the variable's query did
// not list.
func labelVariable(name, label string, ds common.DataSourceRef, query string) *dashboard.QueryVariableBuilder {
	all := dashboard.VariableOption{
		Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr("All")},
		Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("$__all")},
	}
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(all)
}

// evidenceLink is the link every panel carries.
func evidenceLink() []cog.Builder[dashboard.DashboardLink] {
	return []cog.Builder[dashboard.DashboardLink]{
		dashboard.NewDashboardLinkBuilder("Trace this number to its evidence (promote evidence verify)").
			Url(EvidenceDocs).
			TargetBlank(true),
	}
}

// panelBuilder is what the SDK's builders of the four visualizations have
// in common.
type panelBuilder[B any] interface {
	cog.Builder[dashboard.Panel]
	Id(id uint32) B
	Title(title string) B
	Description(description string) B
	Unit(unit string) B
	Datasource(datasource common.DataSourceRef) B
	Span(w uint32) B
	Height(h uint32) B
	Links(links []cog.Builder[dashboard.DashboardLink]) B
	WithTarget(target cog.Builder[variants.Dataquery]) B
}

// fill sets what every panel has: title, unit, data source, size, the link
// to the evidence and the queries.
func fill[B panelBuilder[B]](b B, p panel, id uint32, ds common.DataSourceRef, height uint32) B {
	width := p.width
	if width == 0 {
		width = 6
	}
	b.Id(id).Title(p.title).Description(p.description).Unit(p.unit).
		Datasource(ds).Span(width).Height(height).Links(evidenceLink())
	for i, q := range p.queries {
		t := prometheus.NewDataqueryBuilder().
			RefId(string(rune('A' + i))).
			Datasource(ds).
			Expr(q.expr)
		if q.legend != "" {
			t.LegendFormat(q.legend)
		}
		switch p.kind {
		case timeSeries:
			t.Range()
		case tablePanel:
			t.Instant().Format(prometheus.PromQueryFormatTable)
		default:
			t.Instant()
		}
		b.WithTarget(t)
	}
	return b
}

func (p panel) build(id uint32, ds common.DataSourceRef) cog.Builder[dashboard.Panel] {
	switch p.kind {
	case timeSeries:
		return fill(timeseries.NewPanelBuilder(), p, id, ds, 8)
	case statPanel:
		return fill(stat.NewPanelBuilder(), p, id, ds, 4)
	case barGauge:
		return fill(bargauge.NewPanelBuilder().
			Orientation(common.VizOrientationHorizontal).
			DisplayMode(common.BarGaugeDisplayModeGradient), p, id, ds, 8)
	default:
		// A footer without a reducer list is invalid to the SDK's own
		// validation: no footer, and an empty list.
		return fill(table.NewPanelBuilder().
			Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{})), p, id, ds, 8)
	}
}
