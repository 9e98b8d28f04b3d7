// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var (
	t0      = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	traceID = pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	spanID  = pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
)

type rec struct {
	body     any
	ts       time.Time
	observed time.Time
	sevText  string
	sevNum   plog.SeverityNumber
	attrs    map[string]any
	trace    bool
}

type res struct {
	attrs   map[string]any
	records []rec
}

func makeLogs(t testing.TB, rs ...res) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	for _, r := range rs {
		rl := ld.ResourceLogs().AppendEmpty()
		putSorted(t, rl.Resource().Attributes(), r.attrs)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, x := range r.records {
			lr := lrs.AppendEmpty()
			if m, ok := x.body.(map[string]any); ok {
				putSorted(t, lr.Body().SetEmptyMap(), m)
			} else if x.body != nil {
				require.NoError(t, lr.Body().FromRaw(x.body))
			}
			if !x.ts.IsZero() {
				lr.SetTimestamp(pcommon.NewTimestampFromTime(x.ts))
			}
			if !x.observed.IsZero() {
				lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(x.observed))
			}
			lr.SetSeverityText(x.sevText)
			lr.SetSeverityNumber(x.sevNum)
			putSorted(t, lr.Attributes(), x.attrs)
			if x.trace {
				lr.SetTraceID(traceID)
				lr.SetSpanID(spanID)
			}
		}
	}
	return ld
}

// putSorted inserts raw into m in key order, so line output order is fixed.
func putSorted(t testing.TB, m pcommon.Map, raw map[string]any) {
	t.Helper()
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := raw[k].(map[string]any); ok {
			putSorted(t, m.PutEmptyMap(k), sub)
			continue
		}
		require.NoError(t, m.PutEmpty(k).FromRaw(raw[k]))
	}
}

func defaultCfg() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	return cfg
}

// streamsOf flattens a batch into tenant → streams, shard-independent.
func streamsOf(b *pushBatch) map[string][]push.Stream {
	out := map[string][]push.Stream{}
	for _, g := range b.groups {
		out[g.key.tenant] = append(out[g.key.tenant], g.streams...)
	}
	return out
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	// checkout is two records of one resource, out of order, the second
	// with trace context and a record attribute.
	checkout := []res{{
		attrs: map[string]any{"service.name": "checkout", "service.namespace": "shop", "k8s.namespace.name": "prod", "host.name": "n1"},
		records: []rec{
			{body: "second", ts: t0.Add(time.Second), sevText: "INFO", trace: true, attrs: map[string]any{"user": "bob"}},
			{body: "first", ts: t0, sevText: "INFO"},
		},
	}}
	tests := []struct {
		name   string
		mutate func(*Config)
		logs   []res
		want   map[string][]push.Stream
		// dropped/truncated during translation
		dropped   map[string]int64
		truncated int64
	}{
		{
			name: "default labels, raw line, trace context and other attributes as structured metadata, sorted",
			logs: checkout,
			want: map[string][]push.Stream{"": {{
				Labels: `{k8s_namespace_name="prod", level="info", service_name="checkout", service_namespace="shop"}`,
				Entries: []push.Entry{
					{Timestamp: t0, Line: "first", StructuredMetadata: push.LabelsAdapter{{Name: "host_name", Value: "n1"}}},
					{Timestamp: t0.Add(time.Second), Line: "second", StructuredMetadata: push.LabelsAdapter{
						{Name: "trace_id", Value: "5b8efff798038103d269b633813fc60c"},
						{Name: "span_id", Value: "eee19b7ec3c1b174"},
						{Name: "user", Value: "bob"},
						{Name: "host_name", Value: "n1"},
					}},
				},
			}}},
		},
		{
			name:   "other_attributes off: a raw line carries only trace context",
			mutate: func(c *Config) { c.StructuredMetadata.OtherAttributes = false },
			logs:   checkout,
			want: map[string][]push.Stream{"": {{
				Labels: `{k8s_namespace_name="prod", level="info", service_name="checkout", service_namespace="shop"}`,
				Entries: []push.Entry{
					{Timestamp: t0, Line: "first"},
					{Timestamp: t0.Add(time.Second), Line: "second", StructuredMetadata: push.LabelsAdapter{
						{Name: "trace_id", Value: "5b8efff798038103d269b633813fc60c"},
						{Name: "span_id", Value: "eee19b7ec3c1b174"},
					}},
				},
			}}},
		},
		{
			name: "other_attributes: record wins over resource, labels and listed attributes are not repeated",
			mutate: func(c *Config) {
				c.Labels.Attributes = []LabelRule{{Attribute: "team"}}
				c.StructuredMetadata.Attributes = []string{"k8s.pod.uid"}
			},
			logs: []res{{
				attrs:   map[string]any{"service.name": "api", "k8s.pod.uid": "u-1", "zone": "a", "empty": ""},
				records: []rec{{body: "x", ts: t0, sevText: "warn", attrs: map[string]any{"team": "t1", "zone": "b", "log.iostream": "stdout"}}},
			}},
			want: map[string][]push.Stream{"": {{
				Labels: `{level="warn", service_name="api", team="t1"}`,
				Entries: []push.Entry{{Timestamp: t0, Line: "x", StructuredMetadata: push.LabelsAdapter{
					{Name: "k8s_pod_uid", Value: "u-1"},
					{Name: "log_iostream", Value: "stdout"},
					{Name: "zone", Value: "b"},
				}}},
			}}},
		},
		{
			name: "streams split by severity, level from severity number, zero timestamp uses observed",
			logs: []res{{
				attrs: map[string]any{"service.name": "api"},
				records: []rec{
					{body: "boom", ts: t0, sevNum: plog.SeverityNumberError2},
					{body: "hello", observed: t0.Add(time.Minute), sevNum: plog.SeverityNumberInfo},
					{body: "??", ts: t0},
				},
			}},
			want: map[string][]push.Stream{"": {
				{Labels: `{level="error", service_name="api"}`, Entries: []push.Entry{{Timestamp: t0, Line: "boom"}}},
				{Labels: `{level="info", service_name="api"}`, Entries: []push.Entry{{Timestamp: t0.Add(time.Minute), Line: "hello"}}},
				{Labels: `{level="unknown", service_name="api"}`, Entries: []push.Entry{{Timestamp: t0, Line: "??"}}},
			}},
		},
		{
			name:   "no label attribute present falls back to unknown_service",
			mutate: func(c *Config) { c.Labels.Severity = "" },
			logs:   []res{{records: []rec{{body: "x", ts: t0}}}},
			want: map[string][]push.Stream{"": {
				{Labels: `{service_name="unknown_service"}`, Entries: []push.Entry{{Timestamp: t0, Line: "x"}}},
			}},
		},
		{
			name: "json line with non-label attributes, record labels with rename, sm attributes",
			mutate: func(c *Config) {
				c.LineFormat = LineFormatJSON
				c.Labels.Attributes = []LabelRule{{Attribute: "log.iostream", Label: "stream"}}
				c.StructuredMetadata.Attributes = []string{"k8s.pod.name"}
			},
			logs: []res{{
				attrs: map[string]any{"service.name": "web", "k8s.pod.name": "web-1", "host.name": "n1", "user": "shadowed"},
				records: []rec{{
					body: map[string]any{"msg": "hi", "n": 1}, ts: t0, sevText: "warn", trace: true,
					attrs: map[string]any{"log.iostream": "stderr", "user": "bob", "body": "clash", "ratio": 0.5, "ok": true, "tags": []any{"a", int64(2)}},
				}},
			}},
			want: map[string][]push.Stream{"": {{
				Labels: `{level="warn", service_name="web", stream="stderr"}`,
				Entries: []push.Entry{{
					Timestamp: t0,
					Line:      `{"body":{"msg":"hi","n":1},"attr_body":"clash","ok":true,"ratio":0.5,"tags":["a",2],"user":"bob","host.name":"n1"}`,
					StructuredMetadata: push.LabelsAdapter{
						{Name: "trace_id", Value: "5b8efff798038103d269b633813fc60c"},
						{Name: "span_id", Value: "eee19b7ec3c1b174"},
						{Name: "k8s_pod_name", Value: "web-1"},
					},
				}},
			}}},
		},
		{
			name: "logfmt line, structured metadata off puts trace context and severity in the line",
			mutate: func(c *Config) {
				c.LineFormat = LineFormatLogfmt
				c.StructuredMetadata.Enabled = false
				c.Labels.Severity = ""
			},
			logs: []res{{
				attrs: map[string]any{"service.name": "db"},
				records: []rec{{
					body: `slow query "x"`, ts: t0, sevText: "WARN", trace: true,
					attrs: map[string]any{"dur ms": 12, "q": "select 1", "m": map[string]any{"a": "b"}},
				}},
			}},
			want: map[string][]push.Stream{"": {{
				Labels: `{service_name="db"}`,
				Entries: []push.Entry{{
					Timestamp: t0,
					Line:      `body="slow query \"x\"" trace_id=5b8efff798038103d269b633813fc60c span_id=eee19b7ec3c1b174 severity=warn dur_ms=12 m="{\"a\":\"b\"}" q="select 1"`,
				}},
			}}},
		},
		{
			name: "tenant from resource attribute with fallback id",
			mutate: func(c *Config) {
				c.Tenant = TenantConfig{ID: "default", ResourceAttribute: "tenant"}
				c.Labels.Severity = ""
			},
			logs: []res{
				{attrs: map[string]any{"service.name": "a", "tenant": "team-a"}, records: []rec{{body: "1", ts: t0}}},
				{attrs: map[string]any{"service.name": "b"}, records: []rec{{body: "2", ts: t0}}},
			},
			want: map[string][]push.Stream{
				"team-a":  {{Labels: `{service_name="a"}`, Entries: []push.Entry{{Timestamp: t0, Line: "1"}}}},
				"default": {{Labels: `{service_name="b"}`, Entries: []push.Entry{{Timestamp: t0, Line: "2"}}}},
			},
		},
		{
			name: "long line truncated at a rune boundary",
			mutate: func(c *Config) {
				c.MaxLineSize = 5
				c.Labels.Severity = ""
			},
			logs: []res{{attrs: map[string]any{"service.name": "a"}, records: []rec{{body: "abcdé", ts: t0}, {body: "ok", ts: t0}}}},
			want: map[string][]push.Stream{"": {{Labels: `{service_name="a"}`, Entries: []push.Entry{
				{Timestamp: t0, Line: "abcd"}, {Timestamp: t0, Line: "ok"},
			}}}},
			truncated: 1,
		},
		{
			name: "long line dropped and counted",
			mutate: func(c *Config) {
				c.MaxLineSize = 3
				c.MaxLineSizeAction = LineSizeDrop
				c.Labels.Severity = ""
			},
			logs: []res{{attrs: map[string]any{"service.name": "a"}, records: []rec{{body: "toolong", ts: t0}, {body: "ok", ts: t0}}}},
			want: map[string][]push.Stream{"": {{Labels: `{service_name="a"}`, Entries: []push.Entry{
				{Timestamp: t0, Line: "ok"},
			}}}},
			dropped: map[string]int64{reasonLineTooLong: 1},
		},
		{
			name:   "invalid UTF-8 and quotes in label values and lines",
			mutate: func(c *Config) { c.Labels.Severity = "" },
			logs: []res{{
				attrs:   map[string]any{"service.name": "a\"b\xff"},
				records: []rec{{body: "bad\xffbyte", ts: t0}},
			}},
			want: map[string][]push.Stream{"": {{
				Labels:  `{service_name="a\"b` + "\uFFFD" + `"}`,
				Entries: []push.Entry{{Timestamp: t0, Line: "bad\uFFFDbyte"}},
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := defaultCfg()
			if tt.mutate != nil {
				tt.mutate(cfg)
			}
			require.NoError(t, cfg.Validate())
			tr := newTranslator(cfg)
			tr.now = func() time.Time { return t0 }
			b := tr.translate(makeLogs(t, tt.logs...))
			got := streamsOf(b)
			// Stream order inside a request is not part of the contract.
			for k := range got {
				sortStreams(got[k])
				sortStreams(tt.want[k])
			}
			assert.Equal(t, tt.want, got)
			if tt.dropped == nil {
				tt.dropped = map[string]int64{}
			}
			assert.Equal(t, tt.dropped, b.dropped)
			assert.Equal(t, tt.truncated, b.truncated)
		})
	}
}

func sortStreams(s []push.Stream) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Labels < s[j-1].Labels; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestTranslateShardsKeepStreamsWhole(t *testing.T) {
	t.Parallel()
	cfg := defaultCfg()
	cfg.Shards = 8
	tr := newTranslator(cfg)
	var rs []res
	for i := range 50 {
		var recs []rec
		for j := range 20 {
			recs = append(recs, rec{body: "l", ts: t0.Add(time.Duration(20-j) * time.Second)})
		}
		rs = append(rs, res{attrs: map[string]any{"service.name": "svc" + string(rune('a'+i%26)) + string(rune('a'+i/26))}, records: recs})
	}
	b := tr.translate(makeLogs(t, rs...))
	assert.Greater(t, len(b.groups), 1, "50 streams over 8 shards must use more than one request")
	seen := map[string]int{}
	for gi, g := range b.groups {
		for _, s := range g.streams {
			prev, dup := seen[s.Labels]
			assert.False(t, dup, "stream %s in requests %d and %d", s.Labels, prev, gi)
			seen[s.Labels] = gi
			assert.Len(t, s.Entries, 20)
			for k := 1; k < len(s.Entries); k++ {
				assert.False(t, s.Entries[k].Timestamp.Before(s.Entries[k-1].Timestamp), "entries of %s not sorted", s.Labels)
			}
		}
	}
	assert.Len(t, seen, 50)
}

func TestFailedLogsSelectsOnlyFailedGroups(t *testing.T) {
	t.Parallel()
	cfg := defaultCfg()
	cfg.Shards = 1
	cfg.Tenant.ResourceAttribute = "tenant"
	tr := newTranslator(cfg)
	ld := makeLogs(t,
		res{attrs: map[string]any{"service.name": "a", "tenant": "t1"}, records: []rec{{body: "a1", ts: t0}, {body: "a2", ts: t0}}},
		res{attrs: map[string]any{"service.name": "b", "tenant": "t2"}, records: []rec{{body: "b1", ts: t0}}},
	)
	b := tr.translate(ld)
	require.Len(t, b.groups, 2)
	failed := make([]bool, 2)
	failed[b.index[groupKey{tenant: "t2"}]] = true
	out := failedLogs(ld, b, failed)
	require.Equal(t, 1, out.LogRecordCount())
	assert.Equal(t, "b1", out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	v, _ := out.ResourceLogs().At(0).Resource().Attributes().Get("tenant")
	assert.Equal(t, "t2", v.Str())
}

func TestAppendJSONValueEdgeCases(t *testing.T) {
	t.Parallel()
	v := pcommon.NewValueEmpty()
	assert.Equal(t, "null", string(appendJSONValue(nil, v)))
	v.SetDouble(math.NaN())
	assert.Equal(t, `"NaN"`, string(appendJSONValue(nil, v)))
	v.SetDouble(math.Inf(-1))
	assert.Equal(t, `"-Inf"`, string(appendJSONValue(nil, v)))
	v.SetEmptyBytes().FromRaw([]byte{0, 1, 2})
	assert.Equal(t, `"AAEC"`, string(appendJSONValue(nil, v)))
	v.SetStr("tab\tnl\nctl\x01\"\\")
	assert.Equal(t, `"tab\tnl\nctl\u0001\"\\"`, string(appendJSONValue(nil, v)))
	assert.Equal(t, "a_b_c", string(appendLogfmtKey(nil, "a b=c")))
	assert.Equal(t, `""`, string(appendLogfmtString(nil, "")))
	assert.True(t, strings.HasPrefix(string(appendLogfmtString(nil, "é")), `"`))
}
