// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-otel/vigil/dashboards"
)

// logQLToLogsQL translates a LogQL log query into the LogsQL query that
// selects the same entries from VictoriaLogs, where the loki exporter's
// pushes arrive as VictoriaLogs stores them: stream labels as stream fields,
// structured metadata as fields, the line as _msg. The dashboards' log panels
// are written in LogQL for a Loki datasource; the e2e suite checks them
// against the same data through this translation.
//
// It covers the log-query subset whose meaning carries over exactly:
//
//	{stream selector}           the same stream filter (Prometheus matcher semantics, anchored regexps)
//	|= "s"  != "s"              | filter _msg:~"<quoted s>"  (negated with !)
//	|~ "re" !~ "re"             | filter _msg:~"re"          (unanchored, as in LogQL)
//	| json  | logfmt            | unpack_json  | unpack_logfmt
//	| name = "v"   (or ==, !=)  | filter name:="v"           (negated with !)
//	| name =~ "re" (or !~)      | filter name:~"^(?:re)$"    (LogQL anchors label regexps)
//
// Everything else, metric queries (count_over_time, rate, ...), unwrap,
// line_format, label_format, numeric or duration comparisons, and json or
// logfmt with parameters, is refused with an error that names it.
func logQLToLogsQL(logql string) (string, error) {
	s := strings.TrimSpace(logql)
	if !strings.HasPrefix(s, "{") {
		return "", errors.New("not a log query (a metric query such as count_over_time or rate has no equivalent checked here)")
	}
	end, err := selectorEnd(s)
	if err != nil {
		return "", err
	}
	sel := s[:end]
	// The selector is Prometheus matcher syntax in both languages.
	if _, err := parser.NewParser(parser.Options{}).ParseMetricSelector(sel); err != nil {
		return "", fmt.Errorf("stream selector %s: %w", sel, err)
	}
	out := []string{sel}
	rest := s[end:]
	for {
		rest = strings.TrimLeft(rest, " \t\n")
		if rest == "" {
			return strings.Join(out, " | "), nil
		}
		// Line filters.
		if op := prefixOf(rest, "|=", "|~", "!=", "!~"); op != "" {
			arg, after, err := quotedArg(rest[len(op):])
			if err != nil {
				return "", fmt.Errorf("line filter %s: %w", op, err)
			}
			re := arg
			if op == "|=" || op == "!=" {
				re = regexp.QuoteMeta(arg)
			}
			neg := ""
			if op[0] == '!' {
				neg = "!"
			}
			out = append(out, "filter "+neg+"_msg:~"+strconv.Quote(re))
			rest = after
			continue
		}
		if rest[0] != '|' {
			return "", fmt.Errorf("unexpected %q", rest)
		}
		rest = strings.TrimLeft(rest[1:], " \t\n")
		name := identPrefix(rest)
		if name == "" {
			return "", fmt.Errorf("stage %q has no equivalent checked here", rest)
		}
		after := strings.TrimLeft(rest[len(name):], " \t\n")
		if name == "json" || name == "logfmt" {
			if after != "" && after[0] != '|' && prefixOf(after, "!=", "!~") == "" {
				return "", fmt.Errorf("| %s with parameters has no equivalent checked here", name)
			}
			out = append(out, "unpack_"+name)
			rest = after
			continue
		}
		op := prefixOf(after, "==", "=~", "!=", "!~", "=")
		if op == "" {
			return "", fmt.Errorf("stage | %s%s has no equivalent checked here", name, cut(after))
		}
		arg, next, err := quotedArg(after[len(op):])
		if err != nil {
			return "", fmt.Errorf("label filter %s %s: %w (numeric and duration comparisons have no equivalent checked here)", name, op, err)
		}
		neg := ""
		if op[0] == '!' {
			neg = "!"
		}
		if strings.HasSuffix(op, "~") {
			if _, err := regexp.Compile(arg); err != nil {
				return "", fmt.Errorf("label filter %s %s: %w", name, op, err)
			}
			out = append(out, "filter "+neg+name+":~"+strconv.Quote("^(?:"+arg+")$"))
		} else {
			out = append(out, "filter "+neg+name+":="+strconv.Quote(arg))
		}
		rest = next
	}
}

// logQLMetricToLogsQL translates the one LogQL metric-query shape the
// dashboards use, sum by (labels) (count_over_time(<log query> [range])),
// into the LogsQL that counts the same entries per label set over the
// queried time range: <translated log query> | stats by (labels) count()
// hits. Loki counts per step of [range]; the check asks whether any entry
// is counted at all, which does not depend on the step. The labels are
// stream labels in both (VictoriaLogs's stream fields).
func logQLMetricToLogsQL(logql string) (string, error) {
	by, inner, _, ok := dashboards.SplitLogQLMetric(logql)
	if !ok {
		return "", errors.New("not sum by (labels) (count_over_time(<log query> [range])), the only metric query checked here")
	}
	sel, err := logQLToLogsQL(inner)
	if err != nil {
		return "", err
	}
	return sel + " | stats by (" + strings.Join(by, ", ") + ") count() hits", nil
}

// selectorEnd returns the index just past the stream selector's closing
// brace, skipping quoted strings.
func selectorEnd(s string) (int, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"', '`':
			q, err := strconv.QuotedPrefix(s[i:])
			if err != nil {
				return 0, fmt.Errorf("stream selector: %w", err)
			}
			i += len(q) - 1
		case '}':
			return i + 1, nil
		}
	}
	return 0, errors.New("stream selector without a closing brace")
}

// quotedArg reads one LogQL string ("..." or `...`) after optional spaces.
func quotedArg(s string) (value, rest string, err error) {
	s = strings.TrimLeft(s, " \t\n")
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("want a quoted string at %q", cut(s))
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", "", err
	}
	return v, s[len(q):], nil
}

func prefixOf(s string, ops ...string) string {
	for _, op := range ops {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

func identPrefix(s string) string {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	return s[:i]
}

func cut(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// TestLogQLToLogsQL pins the translation the dashboard check relies on, and
// that what it cannot translate is refused rather than approximated.
func TestLogQLToLogsQL(t *testing.T) {
	for _, tc := range []struct{ logql, want, err string }{
		{`{level=~".+"} | alert_rule=~".+"`, `{level=~".+"} | filter alert_rule:~"^(?:.+)$"`, ""},
		{`{service_name="a b"} | trace_id="t1" | span_id!="s"`, `{service_name="a b"} | filter trace_id:="t1" | filter !span_id:="s"`, ""},
		{`{a="x}"} |= "a.b" != "c" |~ "d+" !~ "e"`, `{a="x}"} | filter _msg:~"a\\.b" | filter !_msg:~"c" | filter _msg:~"d+" | filter !_msg:~"e"`, ""},
		{"{a=`x`} | json | user=\"alice\"", "{a=`x`} | unpack_json | filter user:=\"alice\"", ""},
		{`{a="x"} | logfmt | n!~"1|2"`, `{a="x"} | unpack_logfmt | filter !n:~"^(?:1|2)$"`, ""},
		{`sum(count_over_time({a="x"}[5m]))`, "", "not a log query"},
		{`sum by (level) (count_over_time({level=~".+", pod=~"p.*"} [1m]))`, `{level=~".+", pod=~"p.*"} | stats by (level) count() hits`, ""},
		{`sum by (level, pod) (count_over_time({a="x"} |= "e" [5m]))`, `{a="x"} | filter _msg:~"e" | stats by (level, pod) count() hits`, ""},
		{`sum by (level) (rate({a="x"}[5m]))`, "", "only metric query"},
		{`{a="x"} | line_format "{{.b}}"`, "", "line_format"},
		{`{a="x"} | json b="c"`, "", "parameters"},
		{`{a="x"} | n > 5`, "", "no equivalent"},
		{`{a="x"} | unwrap n`, "", "unwrap"},
		{`{a=~"("}`, "", "stream selector"},
	} {
		got, err := logQLToLogsQL(tc.logql)
		if strings.HasPrefix(tc.logql, "sum by") {
			got, err = logQLMetricToLogsQL(tc.logql)
		}
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one containing %q", tc.logql, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.logql, err)
		case got != tc.want:
			t.Errorf("%s\n got %s\nwant %s", tc.logql, got, tc.want)
		}
	}
}
