// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerproto

import (
	"testing"
	"time"

	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	jaegertranslator "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/jaeger"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// benchTraces is a typical instrumented-service batch: 2 resources x 500
// spans, each with 8 attributes, one event, and a parent; every tenth span
// has a link with attributes and an error status.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	now := time.Now()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("k8s.pod.name", "checkout-7d9f8b-x2x9z")
		ra.PutStr("k8s.namespace.name", "shop")
		ra.PutStr("host.name", "node-3")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss.Scope().SetVersion("0.61.0")
		for i := range 500 {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{byte(r), byte(i), byte(i >> 8), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			s.SetSpanID(pcommon.SpanID{byte(r), byte(i), byte(i >> 8), 1, 2, 3, 4, 5})
			s.SetParentSpanID(pcommon.SpanID{byte(r), byte(i), byte(i >> 8), 9, 9, 9, 9, 9})
			s.SetName("GET /api/cart/{id}")
			s.SetKind(ptrace.SpanKindServer)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(3 * time.Millisecond)))
			a := s.Attributes()
			a.PutStr("http.request.method", "GET")
			a.PutStr("url.path", "/api/cart/1234")
			a.PutInt("http.response.status_code", 200)
			a.PutStr("server.address", "checkout.shop.svc")
			a.PutInt("server.port", 8080)
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
			a.PutDouble("app.cart.value", 129.95)
			a.PutBool("app.cart.cached", true)
			ev := s.Events().AppendEmpty()
			ev.SetName("cache.lookup")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
			ev.Attributes().PutStr("cache.key", "cart:1234")
			if i%10 == 0 {
				l := s.Links().AppendEmpty()
				l.SetTraceID(pcommon.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, byte(i)})
				l.SetSpanID(pcommon.SpanID{8, 8, 8, 8, 8, 8, 8, byte(i)})
				l.Attributes().PutStr("messaging.message.id", "m-1")
				s.Status().SetCode(ptrace.StatusCodeError)
				s.Status().SetMessage("upstream timeout")
			}
		}
	}
	return td
}

// benchPerSpan runs op on benchTraces' batch once per iteration and reports
// the time per span, the figure the README compares.
func benchPerSpan(b *testing.B, op func(td ptrace.Traces)) {
	td := benchTraces()
	n := td.SpanCount()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		op(td)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
}

// BenchmarkEncode is what the exporter does per request before the network:
// translation and protobuf encoding of one PostSpansRequest per resource (the
// exporter hands header, spans and process to gRPC as three buffers, so no
// further copy is made here), and the release of the buffers once the
// request is answered.
func BenchmarkEncode(b *testing.B) {
	benchPerSpan(b, func(td ptrace.Traces) {
		bs := Encode(td, DefaultOptions())
		for _, rb := range bs {
			_ = rb.RequestHeader(nil, 0, rb.NumSpans())
		}
		Release(bs)
	})
}

// BenchmarkReference is the same work through contrib's translator, the
// jaeger-idl model structs and gogo marshalling (the first implementation).
func BenchmarkReference(b *testing.B) {
	benchPerSpan(b, func(td ptrace.Traces) {
		bs, err := referenceBatches(td)
		if err != nil {
			b.Fatal(err)
		}
		for _, rb := range bs {
			req := api_v2.PostSpansRequest{Batch: *rb.batch}
			if _, err := req.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReferenceUpstreamOnly is contrib's translator alone, without
// encoding.
func BenchmarkReferenceUpstreamOnly(b *testing.B) {
	benchPerSpan(b, func(td ptrace.Traces) {
		_ = jaegertranslator.ProtoFromTraces(td)
	})
}

// BenchmarkOTLPMarshal is the OTLP exporter's per-request work on the same
// data (encoding only), for comparison.
func BenchmarkOTLPMarshal(b *testing.B) {
	benchPerSpan(b, func(td ptrace.Traces) {
		if _, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto(); err != nil {
			b.Fatal(err)
		}
	})
}
