// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/internal/benchdata"
	"github.com/vigil-otel/vigil/internal/cputime"
)

// benchMetrics is a typical node batch, the one bench/loadgen sends: 10
// resources × 235 data points (benchdata.NodeBatch).
func benchMetrics() pmetric.Metrics {
	ts := pcommon.Timestamp(1_700_000_000_000_000_000)
	return benchdata.NodeBatch("bench", 10, 0, ts, ts-60e9)
}

// BenchmarkTranslateEncode measures translation plus protobuf and snappy
// encoding of one batch; ns/dp and allocs/dp are per OTLP data point.
// cpu-ns/dp is the process's CPU time (getrusage), the garbage collector's
// included, which keeps its meaning on a busy machine where ns/dp does not. The
// -parts variants cut every shard in about 3 parts (max_batch_size_bytes
// 128 KiB), as 512 KiB does with the batch processor's 8192-point batches
// that the whole-process bench sends (the default 1 MiB cuts them in 2).
func BenchmarkTranslateEncode(b *testing.B) {
	md := benchMetrics()
	dps := md.DataPointCount()
	for _, bc := range []struct {
		proto string
		limit int
	}{{"v1", 1 << 30}, {"v2", 1 << 30}, {"v1-parts", 128 << 10}, {"v2-parts", 128 << 10}} {
		proto := bc.proto[:2]
		b.Run(bc.proto, func(b *testing.B) {
			tr := New(Settings{Shards: 4, TargetInfo: true})
			var bufs Buffers
			var before, after runtime.MemStats
			b.ReportAllocs()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			cpu0 := cputime.Process()
			wire, requests := 0, 0
			for range b.N {
				res := tr.Translate(md)
				wire, requests = 0, 0
				for _, sh := range res.Shards {
					for _, part := range sh.Chunks(bc.limit, nil) {
						var (
							body []byte
							err  error
						)
						if proto == "v1" {
							body, err = MarshalV1(part, false, &bufs)
						} else {
							body, err = MarshalV2(part, &bufs)
						}
						if err != nil {
							b.Fatal(err)
						}
						wire += len(body)
						requests++
					}
				}
			}
			b.StopTimer()
			cpu := cputime.Process() - cpu0
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(dps), "ns/dp")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(dps), "cpu-ns/dp")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(dps), "allocs/dp")
			b.ReportMetric(float64(wire)/float64(dps), "wire-bytes/dp")
			b.ReportMetric(float64(requests), "requests/op")
		})
	}
}
