// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedUpToDate fails when the committed JSON differs from what the
// generator produces: run `go generate ./dashboards/`.
func TestGeneratedUpToDate(t *testing.T) {
	for name, d := range All() {
		want, err := Marshal(d)
		require.NoError(t, err)
		got, err := os.ReadFile(name)
		require.NoError(t, err)
		assert.Equalf(t, string(want), string(got), "%s is stale: run go generate ./dashboards/", name)
	}
	files, err := filepath.Glob("*.json")
	require.NoError(t, err)
	assert.ElementsMatch(t, FileNames(), files, "every JSON file comes from the generator")
}

// promqlParser parses with the default options, as Prometheus 3 does.
var promqlParser = parser.NewParser(parser.Options{})

var dsTypes = map[string]string{VarPrometheus: "prometheus", VarLoki: "loki", VarJaeger: "jaeger"}

// TestPanels checks every panel of every file: a title, a unit, a
// datasource given by a datasource variable the dashboard defines, and
// queries that parse.
func TestPanels(t *testing.T) {
	files, err := filepath.Glob("*.json")
	require.NoError(t, err)
	require.Len(t, files, 5)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			var d jsonDashboard
			require.NoError(t, json.Unmarshal(b, &d))
			var generic map[string]any
			require.NoError(t, json.Unmarshal(b, &generic))
			for _, k := range []string{"uid", "title", "schemaVersion"} {
				assert.NotEmptyf(t, generic[k], "dashboard field %s", k)
			}

			vars := map[string]map[string]any{}
			for _, v := range d.Templating.List {
				vars[v["name"].(string)] = v
			}
			for name, v := range vars {
				if v["type"] == "query" {
					ref, _ := v["datasource"].(map[string]any)
					assert.Equalf(t, VarPrometheus, dsVar(ref), "variable %s must query through $prometheus", name)
					query, _ := v["query"].(map[string]any)
					checkLabelValues(t, query["query"].(string))
				}
			}

			ids := map[float64]bool{}
			var walk func(ps []jsonPanel)
			panels := 0
			walk = func(ps []jsonPanel) {
				for _, p := range ps {
					walk(p.Panels)
					if p.Type == "row" {
						continue
					}
					panels++
					assert.NotEmpty(t, p.Title, "panel title")
					unit, _ := p.FieldConfig.Defaults["unit"].(string)
					assert.NotEmptyf(t, unit, "panel %q: unit", p.Title)
					pv := dsVar(p.Datasource)
					if assert.Containsf(t, dsTypes, pv, "panel %q: datasource must be one of ${prometheus}, ${loki}, ${jaeger}, got %v", p.Title, p.Datasource) {
						v := vars[pv]
						if assert.NotNilf(t, v, "panel %q uses $%s, which the dashboard does not define", p.Title, pv) {
							assert.Equal(t, "datasource", v["type"])
							assert.Equal(t, dsTypes[pv], v["query"], "variable %s must pick %s datasources", pv, dsTypes[pv])
						}
						assert.Equal(t, dsTypes[pv], p.Datasource["type"])
					}
					require.NotEmptyf(t, p.Targets, "panel %q: no query", p.Title)
					for _, tg := range p.Targets {
						ref, _ := tg["datasource"].(map[string]any)
						assert.Equalf(t, pv, dsVar(ref), "panel %q target %v: datasource", p.Title, tg["refId"])
						expr, _ := tg["expr"].(string)
						switch pv {
						case VarPrometheus:
							checkPromQL(t, p.Title, expr)
						case VarLoki:
							checkLogQL(t, p.Title, expr)
						case VarJaeger:
							assert.Equal(t, "search", tg["queryType"])
							assert.NotEmptyf(t, tg["service"], "panel %q: Jaeger search needs a service", p.Title)
						}
					}
				}
			}
			walk(d.Panels)
			assert.Positive(t, panels)
			for _, id := range collectIDs(generic["panels"]) {
				assert.Falsef(t, ids[id], "duplicate panel id %v", id)
				ids[id] = true
			}
		})
	}
}

func collectIDs(v any) []float64 {
	var out []float64
	ps, _ := v.([]any)
	for _, p := range ps {
		m := p.(map[string]any)
		out = append(out, m["id"].(float64))
		out = append(out, collectIDs(m["panels"])...)
	}
	return out
}

func checkPromQL(t *testing.T, panel, expr string) {
	t.Helper()
	require.NotEmptyf(t, expr, "panel %q: empty PromQL", panel)
	vars := AllValues()
	assert.Emptyf(t, Unresolved(expr, vars), "panel %q: unknown variables in %s", panel, expr)
	_, err := promqlParser.ParseExpr(Substitute(expr, vars))
	assert.NoErrorf(t, err, "panel %q: PromQL %s", panel, expr)
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func checkLabelValues(t *testing.T, q string) {
	t.Helper()
	m := labelValuesRE.FindStringSubmatch(q)
	if assert.NotNilf(t, m, "variable query %q: want label_values(<selector>, <label>)", q) {
		_, err := promqlParser.ParseExpr(Substitute(m[1], AllValues()))
		assert.NoErrorf(t, err, "variable query %q", q)
	}
}

// checkLogQL is a light LogQL check. The Loki module (the only full LogQL
// parser) is far too heavy a dependency for this test, and the e2e test runs
// every LogQL query against a real Loki anyway. Here: the stream selector
// must parse as a label matcher set (LogQL shares PromQL's matcher syntax),
// and each pipeline stage must be a line filter, a known parser/formatter
// or a label filter whose regex compiles.
func checkLogQL(t *testing.T, panel, expr string) {
	t.Helper()
	require.NotEmptyf(t, expr, "panel %q: empty LogQL", panel)
	expr = Substitute(expr, AllValues())
	if strings.HasPrefix(expr, "sum") {
		_, inner, rng, ok := SplitLogQLMetric(expr)
		require.Truef(t, ok, "panel %q: LogQL metric query %q must be sum by (labels) (count_over_time(<log query> [range]))", panel, expr)
		_, err := model.ParseDuration(rng)
		assert.NoErrorf(t, err, "panel %q: range [%s]", panel, rng)
		expr = inner
	}
	end := strings.Index(expr, "}")
	require.Truef(t, strings.HasPrefix(expr, "{") && end > 0, "panel %q: LogQL %q must start with a stream selector", panel, expr)
	sel := expr[:end+1]
	ms, err := promqlParser.ParseMetricSelector(sel)
	if assert.NoErrorf(t, err, "panel %q: stream selector %s", panel, sel) {
		nonEmpty := false
		for _, m := range ms {
			if !m.Matches("") {
				nonEmpty = true
			}
		}
		assert.Truef(t, nonEmpty, "panel %q: Loki needs at least one matcher that does not match the empty string: %s", panel, sel)
	}
	for _, stage := range splitPipeline(expr[end+1:]) {
		checkStage(t, panel, stage)
	}
}

// splitPipeline splits " |= "x" | json | a=~"b"" into stages, outside quotes.
func splitPipeline(s string) []string {
	var stages []string
	var cur strings.Builder
	inQuote, escaped := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inQuote == '"':
			escaped = true
		case inQuote != 0:
			if c == inQuote {
				inQuote = 0
			}
		case c == '"' || c == '`':
			inQuote = c
		case (c == '|' || c == '!') && i+1 < len(s) && strings.ContainsRune("|=~", rune(s[i+1])) && !(c == '|' && s[i+1] == '|'):
			if strings.TrimSpace(cur.String()) != "" {
				stages = append(stages, strings.TrimSpace(cur.String()))
			}
			cur.Reset()
		case c == '|':
			if strings.TrimSpace(cur.String()) != "" {
				stages = append(stages, strings.TrimSpace(cur.String()))
			}
			cur.Reset()
			cur.WriteByte('|')
			continue
		}
		cur.WriteByte(c)
	}
	if strings.TrimSpace(cur.String()) != "" {
		stages = append(stages, strings.TrimSpace(cur.String()))
	}
	return stages
}

var (
	lineFilterRE  = regexp.MustCompile("^(\\|=|!=|\\|~|!~)\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)$")
	labelFilterRE = regexp.MustCompile("^\\|\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|==|=|>=|<=|>|<)\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`|[0-9.]+)$")
	parserStageRE = regexp.MustCompile(`^\|\s*(json|logfmt|unpack|pattern|regexp|line_format|label_format|drop|keep|decolorize)\b`)
)

func checkStage(t *testing.T, panel, stage string) {
	t.Helper()
	if m := lineFilterRE.FindStringSubmatch(stage); m != nil {
		if strings.HasSuffix(m[1], "~") {
			_, err := regexp.Compile(unquote(m[2]))
			assert.NoErrorf(t, err, "panel %q: line filter regex %s", panel, m[2])
		}
		return
	}
	if m := labelFilterRE.FindStringSubmatch(stage); m != nil {
		if strings.HasSuffix(m[2], "~") {
			_, err := regexp.Compile(unquote(m[3]))
			assert.NoErrorf(t, err, "panel %q: label filter regex %s", panel, m[3])
		}
		return
	}
	assert.Regexpf(t, parserStageRE, stage, "panel %q: unknown LogQL stage %q", panel, stage)
}

func unquote(s string) string {
	if strings.HasPrefix(s, "`") {
		return strings.Trim(s, "`")
	}
	var out string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return s
	}
	return out
}

// logQLCheckFails runs checkLogQL on expr with a test of its own (in a
// goroutine, as it may stop it with FailNow) and reports whether it failed.
func logQLCheckFails(expr string) bool {
	ft := &testing.T{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkLogQL(ft, "bad", expr)
	}()
	<-done
	return ft.Failed()
}

func TestLogQLCheckRejects(t *testing.T) {
	// The light LogQL check must catch the mistakes it claims to catch.
	for _, bad := range []string{
		`service_name="x"`,                // no stream selector
		`{service_name=~".*"}`,            // only matchers that match ""
		`{service_name="x"} |~ "("`,       // bad regex
		`{service_name="x"} | frobnicate`, // unknown stage
		`{service_name="x} | json`,        // unbalanced quote in the selector
	} {
		assert.Truef(t, logQLCheckFails(bad), "checkLogQL accepted %q", bad)
	}
	for _, bad := range []string{
		`sum(count_over_time({a="x"}[5m]))`,               // no by clause: not the supported shape
		`sum by (level) (rate({a="x"}[5m]))`,              // another function
		`sum by (level) (count_over_time({a=~".*"}[5m]))`, // inner selector matches ""
		`sum by (level) (count_over_time({a="x"}[5q]))`,   // bad range
	} {
		assert.Truef(t, logQLCheckFails(bad), "checkLogQL accepted %q", bad)
	}
	ft := &testing.T{}
	checkLogQL(ft, "good metric", `sum by (level) (count_over_time({level=~".+", pod=~"$pod"} |= "x" [$__auto]))`)
	assert.False(t, ft.Failed(), "checkLogQL rejected a valid metric query")
	ft = &testing.T{}
	checkLogQL(ft, "good", `{service_name=~".+"} |= "error" | json | alert_rule=~"tcp_.*" | line_format "{{.alert_state}}"`)
	assert.False(t, ft.Failed(), "checkLogQL rejected a valid query")
}

// TestAlertRules parses the rule files with Prometheus' own rule parser
// (which parses every expression) and runs `promtool check rules` when the
// project's promtool is installed (required in CI).
func TestAlertRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("alerts", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
		require.Emptyf(t, errs, "%s", f)
		n := 0
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				n++
				assert.NotEmpty(t, r.Alert, "recording rules are not expected here")
				assert.NotEmptyf(t, r.Labels["severity"], "%s: severity label", r.Alert)
				assert.NotEmptyf(t, r.Annotations["summary"], "%s: summary", r.Alert)
				assert.NotEmptyf(t, r.Annotations["description"], "%s: description", r.Alert)
			}
		}
		assert.Positive(t, n)
	}

	promtool := os.Getenv("VIGIL_PROMTOOL_BIN")
	if promtool == "" {
		home, _ := os.UserHomeDir()
		promtool = filepath.Join(home, ".cache", "vigil", "prometheus-3.16.0", "promtool")
		if c := os.Getenv("VIGIL_CACHE"); c != "" {
			promtool = filepath.Join(c, "prometheus-3.16.0", "promtool")
		}
	}
	if _, err := os.Stat(promtool); err != nil {
		msg := "promtool not found at " + promtool + ": install it with `bash scripts/backends.sh install prometheus`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, files...)...).CombinedOutput()
	assert.NoErrorf(t, err, "promtool check rules:\n%s", out)
}
