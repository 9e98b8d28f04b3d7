// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Datasource variable names. Every panel and query references one of them,
// so the dashboards import into any Grafana with any datasource names.
const (
	VarPrometheus = "prometheus"
	VarLoki       = "loki"
	VarJaeger     = "jaeger"
)

// DatasourceRef points at a datasource through a variable ("${prometheus}").
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func dsRef(variable string) *DatasourceRef {
	typ := map[string]string{VarPrometheus: "prometheus", VarLoki: "loki", VarJaeger: "jaeger"}[variable]
	return &DatasourceRef{Type: typ, UID: "${" + variable + "}"}
}

// Dashboard is the part of Grafana's dashboard JSON model Vigil uses.
type Dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Tags          []string   `json:"tags"`
	Timezone      string     `json:"timezone"`
	Editable      bool       `json:"editable"`
	GraphTooltip  int        `json:"graphTooltip"`
	SchemaVersion int        `json:"schemaVersion"`
	Version       int        `json:"version"`
	Refresh       string     `json:"refresh"`
	Time          TimeRange  `json:"time"`
	Templating    Templating `json:"templating"`
	Links         []Link     `json:"links"`
	Panels        []*Panel   `json:"panels"`
}

// TimeRange is the dashboard's default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []*Variable `json:"list"`
}

// Variable is a dashboard variable: a datasource picker or a label query.
type Variable struct {
	Name        string         `json:"name"`
	Label       string         `json:"label,omitempty"`
	Type        string         `json:"type"`
	Query       any            `json:"query"`
	Definition  string         `json:"definition,omitempty"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	Regex       string         `json:"regex"`
	Refresh     int            `json:"refresh"`
	IncludeAll  bool           `json:"includeAll"`
	AllValue    string         `json:"allValue,omitempty"`
	Multi       bool           `json:"multi"`
	Sort        int            `json:"sort"`
	Hide        int            `json:"hide"`
	Current     map[string]any `json:"current"`
	Options     []any          `json:"options"`
	SkipURLSync bool           `json:"skipUrlSync"`
}

// Link is a dashboard-level link.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags,omitempty"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	URL         string   `json:"url,omitempty"`
}

// Panel is a dashboard panel (timeseries, stat, logs, table, row).
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	FieldConfig *FieldConfig   `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Targets     []*Target      `json:"targets,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	// Repeat names a multi-value variable: one copy of the panel per value.
	Repeat          string   `json:"repeat,omitempty"`
	RepeatDirection string   `json:"repeatDirection,omitempty"`
	Panels          []*Panel `json:"panels,omitempty"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// FieldConfig carries the unit and thresholds of a panel's fields.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []any         `json:"overrides"`
}

// FieldDefaults are the field settings every series of a panel shares.
type FieldDefaults struct {
	Unit       string         `json:"unit"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
	Links      []DataLink     `json:"links,omitempty"`
	Thresholds *Thresholds    `json:"thresholds,omitempty"`
}

// DataLink is a link on a field's values (used for trace IDs).
type DataLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Thresholds colour a stat or a timeseries.
type Thresholds struct {
	Mode  string      `json:"mode"`
	Steps []Threshold `json:"steps"`
}

// Threshold is one step; a nil Value is the base step.
type Threshold struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Target is one query of a panel. Prometheus and Loki use Expr; Jaeger uses
// QueryType "search" with Service.
type Target struct {
	RefID        string         `json:"refId"`
	Datasource   *DatasourceRef `json:"datasource"`
	Expr         string         `json:"expr,omitempty"`
	LegendFormat string         `json:"legendFormat,omitempty"`
	Exemplar     bool           `json:"exemplar,omitempty"`
	Instant      bool           `json:"instant,omitempty"`
	Range        bool           `json:"range,omitempty"`
	QueryType    string         `json:"queryType,omitempty"`
	Service      string         `json:"service,omitempty"`
	Operation    string         `json:"operation,omitempty"`
	Limit        int            `json:"limit,omitempty"`
}

// Marshal renders a dashboard as indented JSON with a trailing newline.
func (d *Dashboard) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return buf.Bytes(), nil
}

// builder lays panels out left to right, top to bottom, and numbers them.
type builder struct {
	d      *Dashboard
	x, y   int
	rowH   int
	nextID int
}

func newDashboard(uid, title, description string, tags ...string) *builder {
	return &builder{d: &Dashboard{
		UID: uid, Title: title, Description: description,
		Tags: append([]string{"vigil"}, tags...), Timezone: "browser", Editable: true,
		GraphTooltip: 1, SchemaVersion: 39, Version: 1, Refresh: "30s",
		Time: TimeRange{From: "now-1h", To: "now"},
		Links: []Link{{
			Title: "Vigil dashboards", Type: "dashboards", Tags: []string{"vigil"},
			AsDropdown: true, IncludeVars: false, KeepTime: true,
		}},
	}, nextID: 1}
}

// datasourceVar adds a datasource picker ($prometheus, $loki, $jaeger).
func (b *builder) datasourceVar(name, label string) *builder {
	b.d.Templating.List = append(b.d.Templating.List, &Variable{
		Name: name, Label: label, Type: "datasource", Query: dsRef(name).Type,
		Refresh: 1, Current: map[string]any{}, Options: []any{},
	})
	return b
}

// labelVar adds a multi-value Prometheus label variable whose "All" value is
// ".*", so queries match series that lack the label (e.g. outside Kubernetes).
func (b *builder) labelVar(name, label, metric, labelName, regex string) *builder {
	q := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	b.d.Templating.List = append(b.d.Templating.List, &Variable{
		Name: name, Label: label, Type: "query", Datasource: dsRef(VarPrometheus),
		Query:      map[string]any{"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
		Definition: q, Regex: regex, Refresh: 2, IncludeAll: true, AllValue: ".*", Multi: true, Sort: 1,
		Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		Options: []any{},
	})
	return b
}

func (b *builder) row(title string) *builder {
	if b.x > 0 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
	collapsed := false
	b.d.Panels = append(b.d.Panels, &Panel{
		ID: b.nextID, Type: "row", Title: title, GridPos: GridPos{H: 1, W: 24, X: 0, Y: b.y},
		Collapsed: &collapsed, Panels: []*Panel{},
	})
	b.nextID++
	b.y++
	return b
}

// add places p (width w, height h) and gives it an id and datasource.
func (b *builder) add(w, h int, p *Panel) *builder {
	if b.x+w > 24 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
	p.ID = b.nextID
	b.nextID++
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	for i, t := range p.Targets {
		t.RefID = string(rune('A' + i))
		if t.Datasource == nil {
			t.Datasource = p.Datasource
		}
	}
	b.d.Panels = append(b.d.Panels, p)
	b.x += w
	if h > b.rowH {
		b.rowH = h
	}
	return b
}

// prom is one PromQL query with its legend.
type prom struct{ expr, legend string }

func q(expr, legend string) prom { return prom{expr, legend} }

func timeseries(title, description, unit string, queries ...prom) *Panel {
	p := &Panel{
		Type: "timeseries", Title: title, Description: description, Datasource: dsRef(VarPrometheus),
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Custom: map[string]any{
			"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": true,
		}}, Overrides: []any{}},
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": []string{"mean", "max"}},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}
	for _, qq := range queries {
		p.Targets = append(p.Targets, &Target{Expr: qq.expr, LegendFormat: qq.legend, Range: true})
	}
	return p
}

func stat(title, description, unit string, query prom, thresholds ...float64) *Panel {
	steps := []Threshold{{Color: "green"}}
	colors := []string{"orange", "red"}
	for i, v := range thresholds {
		v := v
		steps = append(steps, Threshold{Color: colors[min(i, len(colors)-1)], Value: &v})
	}
	return &Panel{
		Type: "stat", Title: title, Description: description, Datasource: dsRef(VarPrometheus),
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Thresholds: &Thresholds{Mode: "absolute", Steps: steps}}, Overrides: []any{}},
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "background", "graphMode": "area", "textMode": "value_and_name",
		},
		Targets: []*Target{{Expr: query.expr, LegendFormat: query.legend, Instant: true}},
	}
}

// logs is a Loki logs panel; trace IDs in lines link to Jaeger through the
// Loki datasource's derived fields (dashboards/provisioning/datasources.yaml).
func logs(title, description, expr string) *Panel {
	return &Panel{
		Type: "logs", Title: title, Description: description, Datasource: dsRef(VarLoki),
		// A logs panel shows lines, not numbers; the unit is "none" so every
		// panel still states one.
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: "none"}, Overrides: []any{}},
		Options: map[string]any{
			"showTime": true, "wrapLogMessage": true, "enableLogDetails": true,
			"sortOrder": "Descending", "dedupStrategy": "none", "prettifyLogMessage": false,
		},
		Targets: []*Target{{Expr: expr, QueryType: "range"}},
	}
}

// traces is a Jaeger search table of recent traces of a service.
func traces(title, description, service, operation string) *Panel {
	return &Panel{
		Type: "table", Title: title, Description: description, Datasource: dsRef(VarJaeger),
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: "ms"}, Overrides: []any{}},
		Options:     map[string]any{"showHeader": true, "cellHeight": "sm"},
		Targets:     []*Target{{QueryType: "search", Service: service, Operation: operation, Limit: 20}},
	}
}
