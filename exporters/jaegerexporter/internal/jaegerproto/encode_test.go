// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerproto

import (
	"bytes"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// assertSameAsReference checks that every encoded span and process is
// byte-for-byte the gogo encoding of the reference translation (contrib +
// layer), that resources with the same process share one batch, and that no
// span is lost or duplicated.
func assertSameAsReference(t *testing.T, td ptrace.Traces) {
	t.Helper()
	ref, err := referenceBatches(td)
	require.NoError(t, err)
	refByRes := map[int]*model.Batch{}
	for _, r := range ref {
		refByRes[r.resource] = r.batch
	}
	got := Encode(td, DefaultOptions())
	seen := map[string]bool{}
	total := 0
	for bi := range got {
		b := &got[bi]
		n := b.NumSpans()
		require.Len(t, b.Origins, n)
		require.Positive(t, n)
		require.False(t, seen[string(b.Process)], "two batches with the same process")
		seen[string(b.Process)] = true
		req := b.AppendRequest(nil, 0, n)
		require.Equal(t, len(req), b.RequestSize(0, n))
		var dec api_v2.PostSpansRequest
		require.NoError(t, dec.Unmarshal(req))
		require.Len(t, dec.Batch.Spans, n)
		for k, o := range b.Origins {
			rb := refByRes[o.Resource]
			require.NotNil(t, rb, "resource %d", o.Resource)
			wantProc, err := (&model.Batch{Process: rb.Process}).Marshal()
			require.NoError(t, err)
			require.Equal(t, wantProc, b.Process, "process of resource %d", o.Resource)
			flat := o.Span
			for si := 0; si < o.Scope; si++ {
				flat += td.ResourceSpans().At(o.Resource).ScopeSpans().At(si).Spans().Len()
			}
			wantSpan, err := (&model.Batch{Spans: []*model.Span{rb.Spans[flat]}}).Marshal()
			require.NoError(t, err)
			if gotSpan := b.Spans[b.Offsets[k]:b.Offsets[k+1]]; !bytes.Equal(wantSpan, gotSpan) {
				t.Fatalf("span %+v differs from reference\nwant %x\ngot  %x\nreference %+v", o, wantSpan, gotSpan, rb.Spans[flat])
			}
			if k > 0 { // input order is kept
				p := b.Origins[k-1]
				require.True(t, p.Resource < o.Resource || p.Resource == o.Resource && (p.Scope < o.Scope || p.Scope == o.Scope && p.Span < o.Span))
			}
			total++
		}
	}
	require.Equal(t, td.SpanCount(), total)
}

func richTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	now := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	td.ResourceSpans().AppendEmpty() // skipped: nothing in it
	idle := td.ResourceSpans().AppendEmpty()
	idle.Resource().Attributes().PutStr("service.name", "idle") // no spans: no batch
	for r := range 3 {
		rs := td.ResourceSpans().AppendEmpty()
		switch r {
		case 0:
			a := rs.Resource().Attributes()
			a.PutStr("service.name", "checkout")
			a.PutInt("pid", 7)
			a.PutEmptySlice("list").AppendEmpty().SetStr("x")
			rs.Resource().SetDroppedAttributesCount(2)
		case 1:
			rs.Resource().Attributes().PutInt("service.name", 5) // not a string
		}
		for sc := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			if sc == 1 {
				ss.Scope().SetName("lib")
				ss.Scope().SetVersion("v1")
			}
			for i := range 4 {
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(pcommon.TraceID{1, 2, 3, byte(r), 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
				s.SetSpanID(pcommon.SpanID{byte(r), byte(sc), byte(i), 1, 1, 1, 1, 1})
				s.SetName(strings.Repeat("op", i*40)) // 0 to 240 bytes: multi-byte lengths
				s.SetFlags(uint32(i % 2))
				s.SetKind(ptrace.SpanKind(i + sc*3))
				s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
				s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i-1) * 1500 * time.Millisecond))) // includes negative
				if i > 0 {
					s.SetParentSpanID(pcommon.SpanID{9, 9, 9, byte(i)})
				}
				s.Status().SetCode(ptrace.StatusCode(i % 3))
				if i == 2 {
					s.Status().SetMessage("bad")
					s.TraceState().FromRaw("a=b")
					s.SetDroppedAttributesCount(1)
					s.SetDroppedEventsCount(2)
					s.SetDroppedLinksCount(3)
				}
				a := s.Attributes()
				a.PutStr("s", "v")
				a.PutStr("empty", "")
				a.PutBool("t", true)
				a.PutBool("f", false)
				a.PutInt("zero", 0)
				a.PutInt("neg", -5)
				a.PutDouble("d", 1.5)
				a.PutDouble("dz", 0)
				a.PutDouble("nan", math.NaN())
				a.PutEmptyBytes("by").FromRaw([]byte{1, 2})
				a.PutEmptyBytes("byempty")
				a.PutEmptyMap("m").PutStr("k", "v")
				a.PutEmpty("nil")
				a.PutInt("http.response.status_code", 404)
				a.PutStr("long", strings.Repeat("z", 300))
				ev := s.Events().AppendEmpty()
				ev.SetName("e")
				ev.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
				ev.Attributes().PutInt("http.status_code", 500)
				ev.SetDroppedAttributesCount(uint32(i))
				ev2 := s.Events().AppendEmpty()
				ev2.SetName("named")
				ev2.Attributes().PutStr("event", "override")
				s.Events().AppendEmpty() // no name, no time
				l := s.Links().AppendEmpty()
				l.SetTraceID(s.TraceID())
				l.SetSpanID(pcommon.SpanID{9, 9, 9, byte(i)}) // the parent (when there is one)
				if i == 3 {
					l.Attributes().PutStr("opentracing.ref_type", "child_of")
				}
				l2 := s.Links().AppendEmpty()
				l2.SetTraceID(pcommon.TraceID{7})
				l2.SetSpanID(pcommon.SpanID{8})
				l2.Attributes().PutStr("why", "batch")
				l2.TraceState().FromRaw("x=y")
				l2.SetDroppedAttributesCount(4)
				l3 := s.Links().AppendEmpty()
				l3.Attributes().PutStr("opentracing.ref_type", "child_of")
			}
		}
	}
	return td
}

func TestEncodeMatchesReference(t *testing.T) {
	t.Parallel()
	assertSameAsReference(t, richTraces())
	assertSameAsReference(t, ptrace.NewTraces())
}

// Timestamps at the ends of the range: the encoder computes seconds,
// nanoseconds and the saturated duration itself, and must agree with
// time.Time (which the reference uses) everywhere, including end before
// start and differences that overflow int64.
func TestEncodeExtremeTimes(t *testing.T) {
	t.Parallel()
	edges := []uint64{0, 1, 999_999_999, 1_000_000_000, 1<<63 - 1, 1 << 63, 1<<63 + 1, math.MaxUint64, math.MaxUint64 - 999_999_999}
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, start := range edges {
		for j, end := range edges {
			s := ss.Spans().AppendEmpty()
			s.SetSpanID(pcommon.SpanID{byte(i), byte(j), 1})
			s.SetStartTimestamp(pcommon.Timestamp(start))
			s.SetEndTimestamp(pcommon.Timestamp(end))
			s.Events().AppendEmpty().SetTimestamp(pcommon.Timestamp(end))
		}
	}
	assertSameAsReference(t, td)
}

// Encoding into released buffers gives the same bytes as into fresh ones.
func TestReleaseReuse(t *testing.T) {
	td := richTraces()
	want := Encode(td, DefaultOptions())
	for range 3 {
		got := Encode(td, DefaultOptions())
		require.Len(t, got, len(want))
		for i := range got {
			assert.Equal(t, want[i].Spans, got[i].Spans)
			assert.Equal(t, want[i].Offsets, got[i].Offsets)
			assert.Equal(t, want[i].Origins, got[i].Origins)
			assert.Equal(t, want[i].Process, got[i].Process)
		}
		Release(got)
		// A smaller request into the same buffers.
		small := Encode(newSmallTraces(), DefaultOptions())
		assertSameAsReference(t, newSmallTraces())
		Release(small)
	}
}

// The buffers of the last request released are the next request's, even
// after garbage collections (which empty the sync.Pool behind them).
func TestReleasedBuffersSurviveGC(t *testing.T) {
	spare.Store(nil) // what earlier tests left
	td := richTraces()
	first := Encode(td, DefaultOptions())
	spans := unsafe.SliceData(first[0].Spans[:1])
	Release(first[:1])
	runtime.GC()
	runtime.GC()
	again := Encode(td, DefaultOptions())
	assert.Same(t, spans, unsafe.SliceData(again[0].Spans[:1]))
	assertSameAsReference(t, td)
	Release(again)
	Release(first[1:])
}

func newSmallTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("x")
	s.SetSpanID(pcommon.SpanID{1})
	return td
}

func TestRequestSizeAndRanges(t *testing.T) {
	t.Parallel()
	bs := Encode(richTraces(), DefaultOptions())
	require.Len(t, bs, 3)
	assert.Equal(t, []int{2, 3, 4}, []int{bs[0].Origins[0].Resource, bs[1].Origins[0].Resource, bs[2].Origins[0].Resource})
	b := bs[0]
	for i := 0; i <= b.NumSpans(); i++ {
		for j := i; j <= b.NumSpans(); j++ {
			req := b.AppendRequest(nil, i, j)
			assert.Equal(t, len(req), b.RequestSize(i, j))
			assert.Equal(t, append(b.RequestHeader(nil, i, j), append(append([]byte(nil), b.Spans[b.Offsets[i]:b.Offsets[j]]...), b.Process...)...), req)
			var dec api_v2.PostSpansRequest
			require.NoError(t, dec.Unmarshal(req))
			assert.Len(t, dec.Batch.Spans, j-i)
			assert.Equal(t, "checkout", dec.Batch.Process.ServiceName)
		}
	}
}

// Resources with the same attributes (one per SDK export, as the batch
// processor leaves them) go out in one batch; different ones do not.
func TestSameProcessMerged(t *testing.T) {
	t.Parallel()
	td := ptrace.NewTraces()
	for i, svc := range []string{"a", "b", "a", "a", "b"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
	}
	// Same service, other attributes: a separate process.
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "a")
	rs.Resource().Attributes().PutStr("host.name", "h")
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetSpanID(pcommon.SpanID{9})

	bs := Encode(td, DefaultOptions())
	require.Len(t, bs, 3)
	res := func(b Batch) []int {
		var r []int
		for _, o := range b.Origins {
			r = append(r, o.Resource)
		}
		return r
	}
	assert.Equal(t, []int{0, 2, 3}, res(bs[0]))
	assert.Equal(t, []int{1, 4}, res(bs[1]))
	assert.Equal(t, []int{5}, res(bs[2]))
	assertSameAsReference(t, td)
}

func TestHTTPStatusOptions(t *testing.T) {
	t.Parallel()
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.Attributes().PutInt("http.response.status_code", 503)
	keys := func(o Options) []string {
		b := Encode(td, o)[0]
		var dec api_v2.PostSpansRequest
		require.NoError(t, dec.Unmarshal(b.AppendRequest(nil, 0, 1)))
		var ks []string
		for _, kv := range dec.Batch.Spans[0].Tags {
			ks = append(ks, kv.Key)
			assert.Equal(t, int64(503), kv.VInt64)
		}
		return ks
	}
	assert.Equal(t, []string{"http.status_code"}, keys(Options{}))
	assert.Equal(t, []string{"http.response.status_code"}, keys(DefaultOptions()))
	assert.Equal(t, []string{"http.status_code", "http.response.status_code"}, keys(Options{EmitV1HTTPStatus: true}))
	assert.Equal(t, []string{"http.response.status_code"}, keys(Options{DontEmitV0HTTPStatus: true, EmitV1HTTPStatus: true}))
}

// FuzzEncode: for any OTLP input, the direct encoder never panics and
// produces exactly the reference translation's bytes.
func FuzzEncode(f *testing.F) {
	for _, td := range []ptrace.Traces{richTraces(), ptrace.NewTraces()} {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x00, 0x0a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		assertSameAsReference(t, td)
	})
}
