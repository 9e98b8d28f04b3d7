// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"testing"
	"time"

	"github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var (
	tTraceID  = pcommon.TraceID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10}
	tSpanID   = pcommon.SpanID{0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18}
	tParentID = pcommon.SpanID{0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28}
	tLinkTID  = pcommon.TraceID{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0}
	tLinkSID  = pcommon.SpanID{0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8}
	tStart    = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// newTestSpan returns traces with one resource, one scope and one span with
// the basics set; mutate customises the span.
func newTestSpan(mutate func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span)) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	s := ss.Spans().AppendEmpty()
	s.SetTraceID(tTraceID)
	s.SetSpanID(tSpanID)
	s.SetName("GET /cart")
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(tStart))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(tStart.Add(1500 * time.Millisecond)))
	if mutate != nil {
		mutate(rs, ss, s)
	}
	return td
}

func translateOne(t *testing.T, td ptrace.Traces) *model.Span {
	t.Helper()
	bs, err := tracesToBatches(td)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	require.Len(t, bs[0].batch.Spans, 1)
	return bs[0].batch.Spans[0]
}

func tagsOf(kvs []model.KeyValue) map[string]model.KeyValue {
	m := make(map[string]model.KeyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv
	}
	return m
}

func TestTranslateBasics(t *testing.T) {
	t.Parallel()
	js := translateOne(t, newTestSpan(func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
		s.SetFlags(1)
	}))
	assert.Equal(t, model.NewTraceID(0x0102030405060708, 0x090a0b0c0d0e0f10), js.TraceID)
	assert.Equal(t, model.NewSpanID(0x1112131415161718), js.SpanID)
	assert.Equal(t, "GET /cart", js.OperationName)
	assert.Equal(t, tStart, js.StartTime.UTC())
	assert.Equal(t, 1500*time.Millisecond, js.Duration)
	assert.True(t, js.Flags.IsSampled())
	assert.Empty(t, js.References)
	assert.Empty(t, js.Logs)
}

func TestTranslateMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span)
		check  func(t *testing.T, b *model.Batch, js *model.Span)
	}{
		{
			name: "process: service.name and resource attributes as tags",
			mutate: func(rs ptrace.ResourceSpans, _ ptrace.ScopeSpans, _ ptrace.Span) {
				rs.Resource().Attributes().PutStr("host.name", "node-1")
				rs.Resource().Attributes().PutInt("process.pid", 42)
			},
			check: func(t *testing.T, b *model.Batch, _ *model.Span) {
				assert.Equal(t, "checkout", b.Process.ServiceName)
				assert.ElementsMatch(t, []model.KeyValue{
					model.String("host.name", "node-1"),
					model.Int64("process.pid", 42),
				}, b.Process.Tags)
			},
		},
		{
			name: "resource dropped attributes count",
			mutate: func(rs ptrace.ResourceSpans, _ ptrace.ScopeSpans, _ ptrace.Span) {
				rs.Resource().SetDroppedAttributesCount(3)
			},
			check: func(t *testing.T, b *model.Batch, _ *model.Span) {
				assert.Equal(t, []model.KeyValue{model.Int64("otel.dropped_attributes_count", 3)}, b.Process.Tags)
			},
		},
		{
			name: "parent is CHILD_OF",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				s.SetParentSpanID(tParentID)
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				assert.Equal(t, []model.SpanRef{{
					TraceID: model.NewTraceID(0x0102030405060708, 0x090a0b0c0d0e0f10),
					SpanID:  model.NewSpanID(0x2122232425262728),
					RefType: model.SpanRefType_CHILD_OF,
				}}, js.References)
			},
		},
		{
			name: "links are FOLLOWS_FROM with attributes, trace state and dropped count kept as tags",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				s.SetParentSpanID(tParentID)
				l0 := s.Links().AppendEmpty() // no attributes: reference only
				l0.SetTraceID(tTraceID)
				l0.SetSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
				l := s.Links().AppendEmpty()
				l.SetTraceID(tLinkTID)
				l.SetSpanID(tLinkSID)
				l.TraceState().FromRaw("vendor=abc")
				l.SetDroppedAttributesCount(2)
				l.Attributes().PutStr("messaging.id", "m-1")
				l.Attributes().PutInt("batch.index", 7)
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				require.Len(t, js.References, 3)
				assert.Equal(t, model.SpanRefType_CHILD_OF, js.References[0].RefType)
				assert.Equal(t, model.SpanRef{
					TraceID: model.NewTraceID(0x0102030405060708, 0x090a0b0c0d0e0f10),
					SpanID:  model.NewSpanID(0x0909090909090909),
					RefType: model.SpanRefType_FOLLOWS_FROM,
				}, js.References[1])
				assert.Equal(t, model.SpanRef{
					TraceID: model.NewTraceID(0xa1a2a3a4a5a6a7a8, 0xa9aaabacadaeafb0),
					SpanID:  model.NewSpanID(0xb1b2b3b4b5b6b7b8),
					RefType: model.SpanRefType_FOLLOWS_FROM,
				}, js.References[2])
				tags := tagsOf(js.Tags)
				assert.Equal(t, model.String("otel.link.1.trace_id", "a1a2a3a4a5a6a7a8a9aaabacadaeafb0"), tags["otel.link.1.trace_id"])
				assert.Equal(t, model.String("otel.link.1.span_id", "b1b2b3b4b5b6b7b8"), tags["otel.link.1.span_id"])
				assert.Equal(t, model.String("otel.link.1.attributes.messaging.id", "m-1"), tags["otel.link.1.attributes.messaging.id"])
				assert.Equal(t, model.Int64("otel.link.1.attributes.batch.index", 7), tags["otel.link.1.attributes.batch.index"])
				assert.Equal(t, model.String("otel.link.1.trace_state", "vendor=abc"), tags["otel.link.1.trace_state"])
				assert.Equal(t, model.Int64("otel.link.1.dropped_attributes_count", 2), tags["otel.link.1.dropped_attributes_count"])
				assert.NotContains(t, tags, "otel.link.0.span_id", "a link without attributes needs no tags")
			},
		},
		{
			name: "span kinds",
			mutate: func(_ ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span) {
				s.SetKind(ptrace.SpanKindServer)
				for i, k := range []ptrace.SpanKind{ptrace.SpanKindClient, ptrace.SpanKindProducer, ptrace.SpanKindConsumer, ptrace.SpanKindInternal, ptrace.SpanKindUnspecified} {
					c := ss.Spans().AppendEmpty()
					s.CopyTo(c)
					c.SetSpanID(pcommon.SpanID{byte(i + 1)})
					c.SetKind(k)
				}
			},
			check: func(t *testing.T, b *model.Batch, _ *model.Span) {
				want := []string{"server", "client", "producer", "consumer", "internal", ""}
				require.Len(t, b.Spans, len(want))
				for i, w := range want {
					kv, ok := tagsOf(b.Spans[i].Tags)["span.kind"]
					if w == "" {
						assert.False(t, ok, "unspecified kind must not add span.kind")
						continue
					}
					assert.Equal(t, model.String("span.kind", w), kv)
				}
			},
		},
		{
			name: "error status: otel.status_code, otel.status_description, error=true",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				s.Status().SetCode(ptrace.StatusCodeError)
				s.Status().SetMessage("card declined")
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				tags := tagsOf(js.Tags)
				assert.Equal(t, model.String("otel.status_code", "ERROR"), tags["otel.status_code"])
				assert.Equal(t, model.String("otel.status_description", "card declined"), tags["otel.status_description"])
				assert.Equal(t, model.Bool("error", true), tags["error"])
			},
		},
		{
			name: "ok status: no error tag",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				s.Status().SetCode(ptrace.StatusCodeOk)
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				tags := tagsOf(js.Tags)
				assert.Equal(t, model.String("otel.status_code", "OK"), tags["otel.status_code"])
				assert.NotContains(t, tags, "error")
				assert.NotContains(t, tags, "otel.status_description")
			},
		},
		{
			name: "events become logs with their attributes and dropped count",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				ev := s.Events().AppendEmpty()
				ev.SetName("retry")
				ev.SetTimestamp(pcommon.NewTimestampFromTime(tStart.Add(time.Millisecond)))
				ev.Attributes().PutInt("attempt", 2)
				ev.SetDroppedAttributesCount(1)
				ev2 := s.Events().AppendEmpty()
				ev2.SetName("done")
				ev2.SetTimestamp(pcommon.NewTimestampFromTime(tStart.Add(2 * time.Millisecond)))
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				require.Len(t, js.Logs, 2)
				assert.Equal(t, tStart.Add(time.Millisecond), js.Logs[0].Timestamp.UTC())
				assert.Equal(t, []model.KeyValue{
					model.String("event", "retry"),
					model.Int64("attempt", 2),
					model.Int64("otel.dropped_attributes_count", 1),
				}, js.Logs[0].Fields)
				assert.Equal(t, []model.KeyValue{model.String("event", "done")}, js.Logs[1].Fields)
			},
		},
		{
			name: "scope name and version",
			mutate: func(_ ptrace.ResourceSpans, ss ptrace.ScopeSpans, _ ptrace.Span) {
				ss.Scope().SetName("io.vigil.shop")
				ss.Scope().SetVersion("1.2.3")
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				tags := tagsOf(js.Tags)
				assert.Equal(t, model.String("otel.scope.name", "io.vigil.shop"), tags["otel.scope.name"])
				assert.Equal(t, model.String("otel.scope.version", "1.2.3"), tags["otel.scope.version"])
			},
		},
		{
			name: "trace state",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				s.TraceState().FromRaw("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				assert.Equal(t, model.String("w3c.tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"), tagsOf(js.Tags)["w3c.tracestate"])
			},
		},
		{
			name: "dropped counts",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				s.SetDroppedAttributesCount(4)
				s.SetDroppedEventsCount(5)
				s.SetDroppedLinksCount(6)
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				tags := tagsOf(js.Tags)
				assert.Equal(t, model.Int64("otel.dropped_attributes_count", 4), tags["otel.dropped_attributes_count"])
				assert.Equal(t, model.Int64("otel.dropped_events_count", 5), tags["otel.dropped_events_count"])
				assert.Equal(t, model.Int64("otel.dropped_links_count", 6), tags["otel.dropped_links_count"])
			},
		},
		{
			name: "attribute types",
			mutate: func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				a := s.Attributes()
				a.PutStr("s", "text")
				a.PutBool("b", true)
				a.PutInt("i", -7)
				a.PutDouble("d", 2.5)
				a.PutEmptyBytes("by").FromRaw([]byte{0xde, 0xad})
				sl := a.PutEmptySlice("arr")
				sl.AppendEmpty().SetStr("x")
				sl.AppendEmpty().SetInt(1)
				m := a.PutEmptyMap("map")
				m.PutStr("k", "v")
				m.PutBool("ok", false)
			},
			check: func(t *testing.T, _ *model.Batch, js *model.Span) {
				tags := tagsOf(js.Tags)
				assert.Equal(t, model.String("s", "text"), tags["s"])
				assert.Equal(t, model.Bool("b", true), tags["b"])
				assert.Equal(t, model.Int64("i", -7), tags["i"])
				assert.Equal(t, model.Float64("d", 2.5), tags["d"])
				assert.Equal(t, model.Binary("by", []byte{0xde, 0xad}), tags["by"])
				assert.Equal(t, model.String("arr", `["x",1]`), tags["arr"])
				assert.Equal(t, model.String("map", `{"k":"v","ok":false}`), tags["map"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bs, err := tracesToBatches(newTestSpan(tt.mutate))
			require.NoError(t, err)
			require.Len(t, bs, 1)
			require.NotEmpty(t, bs[0].batch.Spans)
			tt.check(t, bs[0].batch, bs[0].batch.Spans[0])
		})
	}
}

func TestTranslateBatchPerResource(t *testing.T) {
	t.Parallel()
	td := ptrace.NewTraces()
	// 0: no attributes, no scopes: skipped upstream.
	td.ResourceSpans().AppendEmpty()
	// 1: attributes but no spans: no batch is sent.
	td.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr("service.name", "idle")
	// 2: two scopes, three spans.
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "a")
	for i := range 2 {
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope" + string(rune('0'+i)))
		for j := 0; j <= i; j++ {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(tTraceID)
			s.SetSpanID(pcommon.SpanID{byte(i), byte(j), 1})
			s.SetDroppedLinksCount(uint32(10*i + j + 1)) // marks each span for the alignment check
		}
	}
	// 3: no service.name.
	rs3 := td.ResourceSpans().AppendEmpty()
	s := rs3.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(tTraceID)
	s.SetSpanID(tSpanID)

	bs, err := tracesToBatches(td)
	require.NoError(t, err)
	require.Len(t, bs, 2)
	assert.Equal(t, 2, bs[0].resource)
	assert.Equal(t, "a", bs[0].batch.Process.ServiceName)
	require.Len(t, bs[0].batch.Spans, 3)
	for k, want := range []int64{1, 11, 12} {
		assert.Equal(t, model.Int64("otel.dropped_links_count", want), tagsOf(bs[0].batch.Spans[k].Tags)["otel.dropped_links_count"])
	}
	assert.Equal(t, "scope0", tagsOf(bs[0].batch.Spans[0].Tags)["otel.scope.name"].VStr)
	assert.Equal(t, "scope1", tagsOf(bs[0].batch.Spans[2].Tags)["otel.scope.name"].VStr)
	assert.Equal(t, 3, bs[1].resource)
	assert.Equal(t, "OTLPResourceNoServiceName", bs[1].batch.Process.ServiceName)
}

func TestTranslateEmpty(t *testing.T) {
	t.Parallel()
	bs, err := tracesToBatches(ptrace.NewTraces())
	require.NoError(t, err)
	assert.Empty(t, bs)
}

// FuzzTranslate feeds arbitrary OTLP protobuf into the translation and the
// PostSpans marshalling: it must never panic, never lose a span, and the
// encoded request must decode again.
func FuzzTranslate(f *testing.F) {
	seed := func(td ptrace.Traces) {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(newTestSpan(nil))
	seed(newTestSpan(func(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, s ptrace.Span) {
		rs.Resource().SetDroppedAttributesCount(1)
		ss.Scope().SetName("x")
		s.SetParentSpanID(tParentID)
		l := s.Links().AppendEmpty()
		l.SetSpanID(tLinkSID)
		l.Attributes().PutEmptyMap("m").PutStr("k", "\xff")
		s.Events().AppendEmpty().Attributes().PutEmptySlice("a").AppendEmpty().SetDouble(1)
		s.Status().SetCode(ptrace.StatusCodeError)
		s.SetEndTimestamp(1) // end before start
	}))
	seed(ptrace.NewTraces())
	f.Add([]byte{0x0a, 0x00, 0x0a, 0x02, 0x12, 0x00})
	f.Add([]byte("not protobuf"))

	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		bs, err := tracesToBatches(td)
		require.NoError(t, err)
		n := 0
		for _, b := range bs {
			n += len(b.batch.Spans)
			req := &api_v2.PostSpansRequest{Batch: *b.batch}
			enc, err := req.Marshal()
			require.NoError(t, err)
			var back api_v2.PostSpansRequest
			require.NoError(t, back.Unmarshal(enc))
			require.Len(t, back.Batch.Spans, len(b.batch.Spans))
		}
		assert.Equal(t, td.SpanCount(), n)
	})
}
