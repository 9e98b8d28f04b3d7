// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// modelRequest is one push request of the model: tenant, shard, streams.
type modelRequest struct {
	tenant string
	shard  int
	order  []string // label strings in order of first entry
	byL    map[string][]push.Entry
}

// modelTranslate is what translate does, written record by record the plain
// way (a label string per record with strconv.Quote, a stable sort of the
// entries), to check the optimised translate against on any input. It
// shares only the line writers with translate.
func modelTranslate(tr *translator, ld plog.Logs) (reqs []*modelRequest, recordGroup []int32, dropped map[string]int64, truncated int64) {
	dropped = map[string]int64{}
	now := pcommon.NewTimestampFromTime(tr.now())
	find := func(tenant string, shard int) int {
		for i, r := range reqs {
			if r.tenant == tenant && r.shard == shard {
				return i
			}
		}
		reqs = append(reqs, &modelRequest{tenant: tenant, shard: shard, byL: map[string][]push.Entry{}})
		return len(reqs) - 1
	}
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		tenant := tr.tenantID
		if v, ok := res.Get(tr.tenantAttr); ok && tr.tenantAttr != "" && v.AsString() != "" {
			tenant = strings.ToValidUTF8(v.AsString(), "\uFFFD")
		}
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				line := string(tr.appendLine(nil, res, lr))
				if tr.maxLine > 0 && len(line) > tr.maxLine {
					if tr.dropLong {
						dropped[reasonLineTooLong]++
						recordGroup = append(recordGroup, -1)
						continue
					}
					line = string(truncateUTF8([]byte(line), tr.maxLine))
					truncated++
				}
				var pairs []string
				for _, l := range tr.labels {
					var v pcommon.Value
					ok := false
					switch l.source {
					case fromResource:
						v, ok = res.Get(l.attr)
					case fromRecord:
						v, ok = lr.Attributes().Get(l.attr)
					case fromSeverity:
						v, ok = pcommon.NewValueStr(modelSeverity(lr)), true
					}
					if !ok {
						continue
					}
					if s := strings.ToValidUTF8(v.AsString(), "\uFFFD"); s != "" {
						pairs = append(pairs, l.name+"="+strconv.Quote(s))
					}
				}
				labels := "{" + strings.Join(pairs, ", ") + "}"
				if len(pairs) == 0 {
					labels = fallbackLabels
				}
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if ts == 0 {
					ts = now
				}
				gi := find(tenant, int(xxhash.Sum64String(labels)%uint64(tr.shards)))
				r := reqs[gi]
				if _, ok := r.byL[labels]; !ok {
					r.order = append(r.order, labels)
				}
				r.byL[labels] = append(r.byL[labels], push.Entry{
					Timestamp: ts.AsTime(), Line: line, StructuredMetadata: modelMetadata(tr, res, lr),
				})
				recordGroup = append(recordGroup, int32(gi))
			}
		}
	}
	for _, r := range reqs {
		for _, es := range r.byL {
			slices.SortStableFunc(es, func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) })
		}
	}
	return reqs, recordGroup, dropped, truncated
}

// modelSeverity is the severity label as it was first written: any text,
// lower-cased by strings.ToLower.
func modelSeverity(lr plog.LogRecord) string {
	if s := lr.SeverityText(); s != "" {
		return strings.ToLower(strings.ToValidUTF8(s, "\uFFFD"))
	}
	return severityLevel(lr) // from the number
}

// modelMetadata is a record's structured metadata: trace and span ID, the
// configured attributes, and with other_attributes every attribute that is
// not a label, the record's before the resource's.
func modelMetadata(tr *translator, res pcommon.Map, lr plog.LogRecord) push.LabelsAdapter {
	if !tr.smEnabled {
		return nil
	}
	var out push.LabelsAdapter
	add := func(name string, v pcommon.Value) {
		if s := strings.ToValidUTF8(v.AsString(), "\uFFFD"); s != "" {
			out = append(out, push.LabelAdapter{Name: name, Value: s})
		}
	}
	if !lr.TraceID().IsEmpty() {
		add("trace_id", pcommon.NewValueStr(lr.TraceID().String()))
	}
	if !lr.SpanID().IsEmpty() {
		add("span_id", pcommon.NewValueStr(lr.SpanID().String()))
	}
	listed := map[string]bool{}
	for _, s := range tr.sm {
		listed[s.attr] = true
		if v, ok := lr.Attributes().Get(s.attr); ok {
			add(s.name, v)
		} else if v, ok := res.Get(s.attr); ok {
			add(s.name, v)
		}
	}
	if !tr.smOthers {
		return out
	}
	recLabel, resLabel := map[string]bool{}, map[string]bool{tr.tenantAttr: tr.tenantAttr != ""}
	for _, l := range tr.labels {
		switch l.source {
		case fromRecord:
			recLabel[l.attr] = true
		case fromResource:
			resLabel[l.attr] = true
		}
	}
	for k, v := range lr.Attributes().All() {
		if !recLabel[k] && !listed[k] {
			add(sanitizeLabelName(k), v)
		}
	}
	for k, v := range res.All() {
		if _, own := lr.Attributes().Get(k); !own && !resLabel[k] && !listed[k] {
			add(sanitizeLabelName(k), v)
		}
	}
	return out
}

// requireMatchesModel checks translate against modelTranslate: the same
// requests in the same order with the same protobuf bytes, the same record →
// request map and counts, and encodeRequest's body decoding to those bytes.
func requireMatchesModel(t testing.TB, tr *translator, ld plog.Logs) {
	t.Helper()
	b := tr.translate(ld)
	reqs, recordGroup, dropped, truncated := modelTranslate(tr, ld)
	require.Len(t, b.groups, len(reqs))
	for i, g := range b.groups {
		r := reqs[i]
		require.Equal(t, groupKey{tenant: r.tenant, shard: r.shard}, g.key, "request %d", i)
		want := push.PushRequest{}
		n := 0
		for _, l := range r.order {
			want.Streams = append(want.Streams, push.Stream{Labels: l, Entries: r.byL[l]})
			n += len(r.byL[l])
		}
		require.Equal(t, n, g.entries, "request %d entries", i)
		wantRaw, err := want.Marshal()
		require.NoError(t, err)
		got := push.PushRequest{Streams: g.streams}
		gotRaw, err := got.Marshal()
		require.NoError(t, err)
		if !bytes.Equal(wantRaw, gotRaw) {
			require.Equal(t, want.Streams, got.Streams, "request %d", i) // shows where
			t.Fatalf("request %d: protobuf differs", i)
		}
		body, err := encodeRequest(g)
		require.NoError(t, err)
		dec, err := snappy.Decode(nil, body)
		require.NoError(t, err)
		require.True(t, bytes.Equal(wantRaw, dec), "request %d: encodeRequest", i)
	}
	if len(recordGroup) == 0 {
		recordGroup = []int32{}
	}
	require.Equal(t, recordGroup, b.recordGroup)
	require.Equal(t, dropped, b.dropped)
	require.Equal(t, truncated, b.truncated)
}

func TestTranslateMatchesModel(t *testing.T) {
	t.Parallel()
	configs := goldenConfigs()
	for _, fn := range slices.Sorted(maps.Keys(configs)) {
		tr := newTranslator(configs[fn])
		tr.now = func() time.Time { return goldenNow }
		for seed := range uint64(60) {
			t.Run(fmt.Sprintf("%s/%d", fn, seed), func(t *testing.T) {
				requireMatchesModel(t, tr, variedLogs(seed, int(10+seed*7)))
			})
		}
		t.Run(fn+"/telemetrygen", func(t *testing.T) { requireMatchesModel(t, tr, telemetrygenLogs(2000)) })
		t.Run(fn+"/empty", func(t *testing.T) { requireMatchesModel(t, tr, plog.NewLogs()) })
	}
}

// TestTranslateSortIsStable: entries with equal timestamps keep the order
// of their records, as slices.SortStableFunc keeps it, in streams with
// thousands of entries and a few distinct timestamps.
func TestTranslateSortIsStable(t *testing.T) {
	t.Parallel()
	ld := plog.NewLogs()
	base := pcommon.NewTimestampFromTime(t0)
	type want struct {
		ts   pcommon.Timestamp
		line string
	}
	streams := map[string][]want{}
	for r := range 3 {
		rl := ld.ResourceLogs().AppendEmpty()
		svc := fmt.Sprintf("svc-%d", r)
		rl.Resource().Attributes().PutStr("service.name", svc)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range 5000 {
			lr := lrs.AppendEmpty()
			ts := base + pcommon.Timestamp((i*7919+r)%5)*pcommon.Timestamp(time.Second)
			lr.SetTimestamp(ts)
			line := fmt.Sprintf("%s record %d", svc, i)
			lr.Body().SetStr(line)
			lr.SetSeverityText([]string{"Info", "ERROR"}[i%7/6])
			key := svc + lr.SeverityText()
			streams[key] = append(streams[key], want{ts, line})
		}
	}
	b := newTranslator(defaultCfg()).translate(ld)
	got := map[string][]want{}
	for _, g := range b.groups {
		for _, s := range g.streams {
			for _, e := range s.Entries {
				svc := e.Line[:strings.IndexByte(e.Line, ' ')]
				key := svc + map[bool]string{true: "Info", false: "ERROR"}[strings.Contains(s.Labels, `level="info"`)]
				got[key] = append(got[key], want{pcommon.NewTimestampFromTime(e.Timestamp), e.Line})
			}
		}
	}
	require.Len(t, got, len(streams))
	for k, ws := range streams {
		slices.SortStableFunc(ws, func(a, b want) int { return cmp.Compare(a.ts, b.ts) })
		assert.Equal(t, ws, got[k], k)
	}
}

// TestLowerSeverity: the severity texts without an allocation give what
// strings.ToLower gives, for every spelling, non-ASCII and invalid UTF-8
// included.
func TestLowerSeverity(t *testing.T) { // not parallel: AllocsPerRun
	texts := []string{"Info", "INFO", "info", "iNFO", "Warn", "WARN", "Warning", "WARNING", "Error", "ERROR", "Debug",
		"DEBUG", "Trace", "TRACE", "Fatal", "FATAL", "Notice", "CRITICAL", "ÉRROR", "İNFO", "ΣΊΣΥΦΟΣ", "x\xffY", "\xff", "Info\x00"}
	for _, s := range texts {
		assert.Equal(t, strings.ToLower(strings.ToValidUTF8(s, "\uFFFD")), lowerSeverity(s), "%q", s)
	}
	for _, s := range []string{"Info", "INFO", "info", "Warning", "ERROR"} {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = lowerSeverity(s) }), s)
	}
}
