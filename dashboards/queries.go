// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Query is one query of one panel of a dashboard file, as Grafana would send
// it to the datasource the panel's variable selects.
type Query struct {
	File       string // dashboard file name, e.g. kernel-network.json
	Panel      string // panel title
	RefID      string
	Datasource string // variable name: prometheus, loki or jaeger
	Expr       string // PromQL or LogQL; empty for Jaeger
	Service    string // Jaeger search: service
}

func (q Query) String() string {
	return fmt.Sprintf("%s / %q / %s", q.File, q.Panel, q.RefID)
}

// jsonDashboard is the generic shape the JSON files are read into, so that
// the checks read the files as Grafana does, not the generator's types.
type jsonDashboard struct {
	Templating struct {
		List []map[string]any `json:"list"`
	} `json:"templating"`
	Panels []jsonPanel `json:"panels"`
}

type jsonPanel struct {
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Datasource  map[string]any `json:"datasource"`
	FieldConfig struct {
		Defaults map[string]any `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []map[string]any `json:"targets"`
	Panels  []jsonPanel      `json:"panels"`
}

// dsVar turns "${prometheus}" into "prometheus" ("" when it is not a
// variable reference).
func dsVar(ref map[string]any) string {
	uid, _ := ref["uid"].(string)
	if m := regexp.MustCompile(`^\$\{(\w+)\}$`).FindStringSubmatch(uid); m != nil {
		return m[1]
	}
	if m := regexp.MustCompile(`^\$(\w+)$`).FindStringSubmatch(uid); m != nil {
		return m[1]
	}
	return ""
}

// eachDashboard reads every dashboard JSON file in dir, in name order, and
// calls fn with its path and contents.
func eachDashboard(dir string, fn func(f string, d *jsonDashboard) error) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var d jsonDashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := fn(f, &d); err != nil {
			return err
		}
	}
	return nil
}

// LoadQueries reads every dashboard JSON file in dir and returns its queries.
func LoadQueries(dir string) ([]Query, error) {
	var out []Query
	err := eachDashboard(dir, func(f string, d *jsonDashboard) error {
		var walk func(ps []jsonPanel)
		walk = func(ps []jsonPanel) {
			for _, p := range ps {
				walk(p.Panels)
				for _, t := range p.Targets {
					ds := t["datasource"]
					ref, _ := ds.(map[string]any)
					if ref == nil {
						ref = p.Datasource
					}
					q := Query{File: filepath.Base(f), Panel: p.Title, Datasource: dsVar(ref)}
					q.RefID, _ = t["refId"].(string)
					q.Expr, _ = t["expr"].(string)
					q.Service, _ = t["service"].(string)
					out = append(out, q)
				}
			}
		}
		walk(d.Panels)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// Substitute replaces Grafana variable references ($name, ${name},
// ${name:format}, [[name]]) with values from vars; unknown names are left
// as they are. Built-ins like $__rate_interval are ordinary entries of vars.
func Substitute(expr string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// Unresolved lists the variable references Substitute would leave in expr.
func Unresolved(expr string, vars map[string]string) []string {
	var out []string
	for _, sub := range varRef.FindAllStringSubmatch(expr, -1) {
		name := sub[1] + sub[2] + sub[3]
		if _, ok := vars[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// AllValues are the values Grafana sends when every variable is at "All"
// and the dashboard covers the last few minutes: label variables match any
// value, or none (allValue ".*"), the tracked-metric variable any name.
func AllValues() map[string]string {
	return map[string]string{
		"__rate_interval": "1m",
		"__interval":      "15s",
		"__range":         "5m",
		"__auto":          "1m",
		"instance":        ".*",
		"namespace":       ".*",
		"pod":             ".*",
		"node":            ".*",
		"service":         ".*",
		"operation":       ".*",
		"metric":          ".+",
	}
}

// LabelVariable is a dashboard variable filled by label_values(selector, label).
type LabelVariable struct {
	File     string
	Name     string
	Selector string // may reference other variables
	Label    string
	Regex    string // Grafana's regex on the values, "" for none
}

var labelValuesCall = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// LoadLabelVariables reads the label_values variables of every dashboard
// JSON file in dir.
func LoadLabelVariables(dir string) ([]LabelVariable, error) {
	var out []LabelVariable
	err := eachDashboard(dir, func(f string, d *jsonDashboard) error {
		for _, v := range d.Templating.List {
			if v["type"] != "query" {
				continue
			}
			q, _ := v["query"].(map[string]any)
			s, _ := q["query"].(string)
			m := labelValuesCall.FindStringSubmatch(s)
			if m == nil {
				return fmt.Errorf("%s: variable %v: query %q is not label_values(selector, label)", f, v["name"], s)
			}
			lv := LabelVariable{File: filepath.Base(f), Selector: m[1], Label: m[2]}
			lv.Name, _ = v["name"].(string)
			lv.Regex, _ = v["regex"].(string)
			out = append(out, lv)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// logQLMetric matches the one LogQL metric-query shape the dashboards use:
// sum by (labels) (count_over_time(<log query> [range])).
var logQLMetric = regexp.MustCompile(`^sum\s+by\s*\(\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\)\s*\(\s*count_over_time\s*\(\s*(\{.*\S)\s*\[\s*([^\]\s]+)\s*\]\s*\)\s*\)$`)

// SplitLogQLMetric splits a LogQL metric query of the form
// sum by (a, b) (count_over_time(<log query> [range])) into its grouping
// labels, its log query and its range. ok is false for any other query.
func SplitLogQLMetric(expr string) (by []string, logQuery, rng string, ok bool) {
	m := logQLMetric.FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		return nil, "", "", false
	}
	for _, l := range strings.Split(m[1], ",") {
		by = append(by, strings.TrimSpace(l))
	}
	return by, m[2], m[3], true
}
