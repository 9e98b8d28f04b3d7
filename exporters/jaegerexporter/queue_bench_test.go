// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadatatest"
	"github.com/vigil-otel/vigil/internal/cputime"
	"github.com/vigil-otel/vigil/internal/queuekeep"
	"github.com/vigil-otel/vigil/internal/queuekeep/queuekeeptest"
	"github.com/vigil-otel/vigil/internal/telemetrytest"
)

// BenchmarkDurableQueue is the default config's traces exporter on its own:
// batching inside a file_storage persistent queue, gzip, sending to an
// in-process server that discards each request. One op is one export of
// 512 telemetrygen spans (an SDK batch) consumed and sent, at most 8
// exports queued and unsent (an exporter that keeps up, as in the bench).
// cpu-ms/op is the process's CPU time (getrusage; the server's share
// included), which keeps its meaning on a busy machine where ns/op does
// not. kept reads the entries back from memory (internal/queuekeep),
// decoded decodes them from the file as exporterhelper does (keeping
// disabled): the A/B of keeping, in one binary.
func BenchmarkDurableQueue(b *testing.B) {
	b.Run("kept", func(b *testing.B) { benchmarkDurableQueue(b, queuekeep.DefaultMaxBytes) })
	b.Run("decoded", func(b *testing.B) { benchmarkDurableQueue(b, 0) })
}

func benchmarkDurableQueue(b *testing.B, keptBytes int) {
	ctx := context.Background()
	addr := serveDiscard(b)
	host, sid := queuekeeptest.StartFileStorage(b, "")
	cfg := durableConfig(addr, sid)
	tel := componenttest.NewTelemetry()
	b.Cleanup(func() { require.NoError(b, tel.Shutdown(ctx)) })
	exp, _, err := newTraces(ctx, metadatatest.NewSettings(tel), cfg, keptBytes)
	require.NoError(b, err)
	require.NoError(b, exp.Start(ctx, host))
	b.Cleanup(func() { require.NoError(b, exp.Shutdown(ctx)) })

	export := ptrace.NewTraces()
	telemetrygenTraces().ResourceSpans().At(0).CopyTo(export.ResourceSpans().AppendEmpty())
	spans := int64(export.SpanCount())
	sent := func() int64 { return telemetrytest.CounterSum(b, tel, "otelcol_exporter_sent_spans") }
	cpu0 := cputime.Process()
	n := int64(0)
	for b.Loop() {
		td := ptrace.NewTraces() // the exporter owns what it is given (batching moves it)
		export.CopyTo(td)
		if err := exp.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		n++
		for n-sent()/spans > 8 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	for sent() < n*spans {
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}
