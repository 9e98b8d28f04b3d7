// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	sdklogs "github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	sdkstat "github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	sdktimeseries "github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The dashboards are built with Grafana's own typed model,
// github.com/grafana/grafana-foundation-sdk/go (generated from Grafana's
// schemas), instead of a hand-kept copy of its JSON. This file holds Vigil's
// conventions on top of it: datasource variables, layout, panel styles.

// Datasource variable names. Every panel and query references one of them,
// so the dashboards import into any Grafana with any datasource names.
const (
	VarPrometheus = "prometheus"
	VarLoki       = "loki"
	VarJaeger     = "jaeger"
)

// Dashboard is Grafana's dashboard model.
type Dashboard = dashboard.Dashboard

func dsRef(variable string) common.DataSourceRef {
	typ := map[string]string{VarPrometheus: "prometheus", VarLoki: "loki", VarJaeger: "jaeger"}[variable]
	return common.DataSourceRef{Type: cog.ToPtr(typ), Uid: cog.ToPtr("${" + variable + "}")}
}

// Marshal renders a dashboard as indented JSON with a trailing newline.
func Marshal(d *Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		uid := ""
		if d.Uid != nil {
			uid = *d.Uid
		}
		return nil, fmt.Errorf("dashboard %s: %w", uid, err)
	}
	return buf.Bytes(), nil
}

// builder lays panels out left to right, top to bottom, and numbers them.
type builder struct {
	d      *dashboard.DashboardBuilder
	x, y   int
	rowH   int
	nextID int
}

func newDashboard(uid, title, description string, tags ...string) *builder {
	return &builder{d: dashboard.NewDashboardBuilder(title).
		Uid(uid).Description(description).
		Tags(append([]string{"vigil"}, tags...)).Timezone("browser").Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).Version(1).Refresh("30s").
		Time("now-1h", "now").
		Link(dashboard.NewDashboardLinkBuilder("Vigil dashboards").Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"vigil"}).AsDropdown(true).IncludeVars(false).KeepTime(true)),
		nextID: 1}
}

// build returns the dashboard; the definitions are static, so an error is a
// programming error.
func (b *builder) build() *Dashboard {
	d, err := b.d.Build()
	if err != nil {
		panic(fmt.Sprintf("dashboard definition: %v", err))
	}
	return &d
}

// datasourceVar adds a datasource picker ($prometheus, $loki, $jaeger).
func (b *builder) datasourceVar(name, label string) *builder {
	b.d.WithVariable(dashboard.NewDatasourceVariableBuilder(name).Label(label).Type(*dsRef(name).Type))
	return b
}

// labelVar adds a multi-value Prometheus label variable whose "All" value is
// ".*", so queries match series that lack the label (e.g. outside Kubernetes).
func (b *builder) labelVar(name, label, metric, labelName, regex string) *builder {
	return b.queryVar(name, label, fmt.Sprintf("label_values(%s, %s)", metric, labelName), regex, ".*")
}

// queryVar adds a multi-value Prometheus query variable with an "All" value.
func (b *builder) queryVar(name, label, query, regex, allValue string) *builder {
	v := dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(dsRef(VarPrometheus)).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1}}).
		Definition(query).Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		IncludeAll(true).AllValue(allValue).Multi(true).Sort(dashboard.VariableSortAlphabeticalAsc).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
	if regex != "" {
		v.Regex(regex)
	}
	b.d.WithVariable(v)
	return b
}

func (b *builder) row(title string) *builder {
	if b.x > 0 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
	b.d.WithRow(dashboard.NewRowBuilder(title).Id(uint32(b.nextID)).Collapsed(false).
		GridPos(dashboard.GridPos{H: 1, W: 24, X: 0, Y: uint32(b.y)}))
	b.nextID++
	b.y++
	return b
}

// Panel is one panel as the definitions describe it; add turns it into the
// SDK's panel of its kind.
type Panel struct {
	kind                     string // timeseries, stat, logs, traces
	title, description, unit string
	queries                  []prom
	thresholds               []float64
	logExpr                  string
	logLegend                string // logvolume: legend of the LogQL metric query
	exemplars                bool   // Prometheus exemplars on a timeseries' queries
	service, operation       string
	// Repeat names a multi-value variable: one copy of the panel per value.
	Repeat string
	// RepeatDirection is "h" or "v".
	RepeatDirection string
}

// add places p (width w, height h) and gives it an id.
func (b *builder) add(w, h int, p *Panel) *builder {
	if b.x+w > 24 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
	pos := dashboard.GridPos{H: uint32(h), W: uint32(w), X: uint32(b.x), Y: uint32(b.y)}
	b.d.WithPanel(p.sdk(uint32(b.nextID), pos))
	b.nextID++
	b.x += w
	if h > b.rowH {
		b.rowH = h
	}
	return b
}

func (p *Panel) sdk(id uint32, pos dashboard.GridPos) cog.Builder[dashboard.Panel] {
	switch p.kind {
	case "timeseries":
		pb := sdktimeseries.NewPanelBuilder().Id(id).GridPos(pos).Title(p.title).Description(p.description).
			Datasource(dsRef(VarPrometheus)).Unit(p.unit).
			DrawStyle(common.GraphDrawStyleLine).LineWidth(1).FillOpacity(10).
			ShowPoints(common.VisibilityModeNever).SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(true)}).
			Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
				Placement(common.LegendPlacementBottom).ShowLegend(true).Calcs([]string{"mean", "max"})).
			Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
		for i, q := range p.queries {
			pb.WithTarget(prometheus.NewDataqueryBuilder().RefId(refID(i)).Datasource(dsRef(VarPrometheus)).
				Expr(q.expr).LegendFormat(q.legend).Range().Exemplar(p.exemplars))
		}
		if p.Repeat != "" {
			pb.Repeat(p.Repeat).RepeatDirection(dashboard.PanelRepeatDirection(p.RepeatDirection))
		}
		return pb
	case "stat":
		steps := []dashboard.Threshold{{Color: "green"}}
		colors := []string{"orange", "red"}
		for i, v := range p.thresholds {
			steps = append(steps, dashboard.Threshold{Color: colors[min(i, len(colors)-1)], Value: cog.ToPtr(v)})
		}
		pb := sdkstat.NewPanelBuilder().Id(id).GridPos(pos).Title(p.title).Description(p.description).
			Datasource(dsRef(VarPrometheus)).Unit(p.unit).
			Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)).
			ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeArea).
			TextMode(common.BigValueTextModeValueAndName)
		for i, q := range p.queries {
			pb.WithTarget(prometheus.NewDataqueryBuilder().RefId(refID(i)).Datasource(dsRef(VarPrometheus)).
				Expr(q.expr).LegendFormat(q.legend).Instant())
		}
		return pb
	case "logs":
		// A logs panel shows lines, not numbers; the unit is "none" so every
		// panel still states one.
		return sdklogs.NewPanelBuilder().Id(id).GridPos(pos).Title(p.title).Description(p.description).
			Datasource(dsRef(VarLoki)).Unit("none").
			ShowTime(true).WrapLogMessage(true).EnableLogDetails(true).
			SortOrder(common.LogsSortOrderDescending).DedupStrategy(common.LogsDedupStrategyNone).PrettifyLogMessage(false).
			WithTarget(loki.NewDataqueryBuilder().RefId(refID(0)).Datasource(dsRef(VarLoki)).Expr(p.logExpr).QueryType("range"))
	case "logvolume":
		return sdktimeseries.NewPanelBuilder().Id(id).GridPos(pos).Title(p.title).Description(p.description).
			Datasource(dsRef(VarLoki)).Unit(p.unit).
			DrawStyle(common.GraphDrawStyleBars).FillOpacity(80).Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeTable).
				Placement(common.LegendPlacementBottom).ShowLegend(true).Calcs([]string{"sum"})).
			WithTarget(loki.NewDataqueryBuilder().RefId(refID(0)).Datasource(dsRef(VarLoki)).Expr(p.logExpr).
				LegendFormat(p.logLegend).QueryType("range"))
	case "traces":
		return table.NewPanelBuilder().Id(id).GridPos(pos).Title(p.title).Description(p.description).
			Datasource(dsRef(VarJaeger)).Unit("ms").ShowHeader(true).CellHeight(common.TableCellHeightSm).
			WithTarget(jaegerSearch{RefID: refID(0), Datasource: dsRef(VarJaeger), QueryType: "search",
				Service: p.service, Operation: p.operation, Limit: 20})
	}
	panic("unknown panel kind " + p.kind)
}

func refID(i int) string { return string(rune('A' + i)) }

// prom is one PromQL query with its legend.
type prom struct{ expr, legend string }

func q(expr, legend string) prom { return prom{expr, legend} }

func timeseries(title, description, unit string, queries ...prom) *Panel {
	return &Panel{kind: "timeseries", title: title, description: description, unit: unit, queries: queries}
}

func stat(title, description, unit string, query prom, thresholds ...float64) *Panel {
	return &Panel{kind: "stat", title: title, description: description, unit: unit, queries: []prom{query}, thresholds: thresholds}
}

// logs is a Loki logs panel; trace IDs in lines link to Jaeger through the
// Loki datasource's derived fields (dashboards/provisioning/datasources.yaml).
func logs(title, description, expr string) *Panel {
	return &Panel{kind: "logs", title: title, description: description, logExpr: expr}
}

// logVolume is a Loki metric query (sum by (...) (count_over_time(...)))
// drawn as stacked bars.
func logVolume(title, description, expr, legend string) *Panel {
	return &Panel{kind: "logvolume", title: title, description: description, unit: "short", logExpr: expr, logLegend: legend}
}

// traces is a Jaeger search table of recent traces of a service.
func traces(title, description, service, operation string) *Panel {
	return &Panel{kind: "traces", title: title, description: description, service: service, operation: operation}
}

// jaegerSearch is a Jaeger datasource search query. The SDK has no Jaeger
// query type, so this is ours: a variants.Dataquery and its own builder.
type jaegerSearch struct {
	RefID      string               `json:"refId"`
	Datasource common.DataSourceRef `json:"datasource"`
	QueryType  string               `json:"queryType"`
	Service    string               `json:"service"`
	Operation  string               `json:"operation,omitempty"`
	Limit      int                  `json:"limit"`
}

func (jaegerSearch) ImplementsDataqueryVariant() {}
func (jaegerSearch) DataqueryType() string       { return "jaeger" }
func (jaegerSearch) Validate() error             { return nil }
func (j jaegerSearch) Equals(other variants.Dataquery) bool {
	return reflect.DeepEqual(variants.Dataquery(j), other)
}
func (j jaegerSearch) Build() (variants.Dataquery, error) { return j, nil }
