// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package benchdata // import "github.com/vigil-otel/vigil/internal/benchdata"

import (
	"encoding/binary"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpanBatch is what an OTel SDK's batch span processor exports: spans
// spans (512 is the SDK's default max_export_batch_size) of one service,
// in traces of 8 spans (a server span and its children), each with HTTP
// and database attributes, one event per span and, on every fourth span, a
// link to a span of the previous trace. seq makes the IDs of one batch
// differ from the others'.
func SpanBatch(instance string, seq, spans int, start pcommon.Timestamp) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	podResource(ra, instance)
	ra.PutStr("telemetry.sdk.language", "go")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("vigil-bench")
	out := ss.Spans()
	out.EnsureCapacity(spans)
	var prev pcommon.TraceID
	for i := range spans {
		trace, pos := i/8, i%8
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], uint64(seq)+1)
		binary.BigEndian.PutUint64(tid[8:], uint64(trace)+1)
		s := out.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(spanID(trace, pos))
		t0 := start + pcommon.Timestamp(i)*1000
		s.SetStartTimestamp(t0)
		s.SetEndTimestamp(t0 + pcommon.Timestamp(50_000+1000*pos))
		a := s.Attributes()
		if pos == 0 {
			s.SetName("GET /api/v1/items/{id}")
			s.SetKind(ptrace.SpanKindServer)
			a.PutStr("http.request.method", "GET")
			a.PutStr("http.route", "/api/v1/items/{id}")
			a.PutStr("url.path", fmt.Sprintf("/api/v1/items/%d", trace))
			a.PutInt("http.response.status_code", 200)
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) bench")
		} else {
			s.SetParentSpanID(spanID(trace, 0))
			s.SetName("SELECT items")
			s.SetKind(ptrace.SpanKindClient)
			a.PutStr("db.system.name", "postgresql")
			a.PutStr("db.query.text", "SELECT id, name, price FROM items WHERE id = $1")
			a.PutStr("server.address", "db.shop.svc")
			a.PutInt("server.port", 5432)
		}
		e := s.Events().AppendEmpty()
		e.SetName("cache.miss")
		e.SetTimestamp(t0 + 10_000)
		e.Attributes().PutStr("cache.key", fmt.Sprintf("item:%d", trace))
		if pos%4 == 1 && trace > 0 {
			l := s.Links().AppendEmpty()
			l.SetTraceID(prev)
			l.SetSpanID(spanID(trace-1, 0))
			l.Attributes().PutStr("link.kind", "follows_from")
		}
		if pos == 7 {
			prev = tid
		}
	}
	return td
}

func spanID(trace, pos int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], uint64(trace)<<8|uint64(pos)+1)
	return id
}
