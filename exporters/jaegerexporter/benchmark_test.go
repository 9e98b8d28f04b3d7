// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// telemetrygenTraces is what the bench (bench/run.sh) feeds the exporter:
// telemetrygen's spans (two string attributes, a kind, a parent, scope
// "telemetrygen", random IDs), 8 SDK exports of 512 spans with the same
// resource, as the batch processor hands them on.
func telemetrygenTraces() ptrace.Traces {
	rng := rand.New(rand.NewPCG(1, 2))
	td := ptrace.NewTraces()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for range 8 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("telemetrygen")
		for i := range 512 {
			s := ss.Spans().AppendEmpty()
			var tid pcommon.TraceID
			var sid, pid pcommon.SpanID
			for k := range tid {
				tid[k] = byte(rng.Uint32())
			}
			for k := range sid {
				sid[k], pid[k] = byte(rng.Uint32()), byte(rng.Uint32())
			}
			s.SetTraceID(tid)
			s.SetSpanID(sid)
			s.SetParentSpanID(pid)
			s.SetName("okey-dokey-0")
			s.SetKind(ptrace.SpanKindServer)
			s.SetFlags(0x101)
			start := now.Add(time.Duration(i) * time.Millisecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(123 * time.Microsecond)))
			s.Attributes().PutStr("network.peer.address", "1.2.3.4")
			s.Attributes().PutStr("peer.service", "telemetrygen-client")
		}
	}
	return td
}

// discardCodec is the benchmark server's codec: it keeps the request bytes
// undecoded, so the server's work stays small next to the exporter's.
type discardCodec struct{}

func (discardCodec) Name() string                         { return "proto" }
func (discardCodec) Marshal(any) (mem.BufferSlice, error) { return nil, nil }
func (discardCodec) Unmarshal(d mem.BufferSlice, _ any) error {
	_ = d
	return nil
}

// serveDiscard runs a gRPC server that answers every call after reading
// its request (undecoded) until tb ends, and returns its address.
func serveDiscard(tb testing.TB) string {
	tb.Helper()
	srv := grpc.NewServer(grpc.ForceServerCodecV2(discardCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			var req struct{}
			if err := stream.RecvMsg(&req); err != nil {
				return err
			}
			return stream.SendMsg(&req)
		}))
	return serve(tb, srv)
}

// BenchmarkPushTraces is the exporter's whole send path (translation,
// encoding, gRPC with and without the default gzip) to an in-process server
// that discards the request. ns/span and allocs/span are per span; the
// server's share (reading, gunzipping) is included in ns/span.
func BenchmarkPushTraces(b *testing.B) {
	for _, comp := range []configcompression.Type{"", configcompression.TypeGzip} {
		name := "none"
		if comp != "" {
			name = string(comp)
		}
		b.Run(name, func(b *testing.B) {
			addr := serveDiscard(b)
			tel := componenttest.NewTelemetry()
			b.Cleanup(func() { require.NoError(b, tel.Shutdown(context.Background())) })
			e := startExporter(b, addr, tel, func(cfg *Config) { cfg.ClientConfig.Compression = comp })
			td := telemetrygenTraces()
			n := td.SpanCount()
			ctx := context.Background()
			require.NoError(b, e.pushTraces(ctx, td))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := e.pushTraces(ctx, td); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
		})
	}
}
