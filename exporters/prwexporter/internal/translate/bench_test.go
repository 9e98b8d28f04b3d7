// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/internal/benchdata"
)

// benchMetrics is a typical node batch, the one bench/loadgen sends: 10
// resources × 235 data points (benchdata.NodeBatch).
func benchMetrics() pmetric.Metrics {
	ts := pcommon.Timestamp(1_700_000_000_000_000_000)
	return benchdata.NodeBatch("bench", 10, 0, ts, ts-60e9)
}

// BenchmarkTranslateEncode measures translation plus protobuf and snappy
// encoding of one batch; ns/dp and allocs/dp are per OTLP data point.
func BenchmarkTranslateEncode(b *testing.B) {
	md := benchMetrics()
	dps := md.DataPointCount()
	for _, proto := range []string{"v1", "v2"} {
		b.Run(proto, func(b *testing.B) {
			tr := New(Settings{Shards: 4, TargetInfo: true})
			var bufs Buffers
			var before, after runtime.MemStats
			b.ReportAllocs()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			wire := 0
			for range b.N {
				res := tr.Translate(md)
				wire = 0
				for _, sh := range res.Shards {
					var (
						body []byte
						err  error
					)
					if proto == "v1" {
						body, err = MarshalV1(sh, false, &bufs)
					} else {
						body, err = MarshalV2(sh, &bufs)
					}
					if err != nil {
						b.Fatal(err)
					}
					wire += len(body)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(dps), "ns/dp")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(dps), "allocs/dp")
			b.ReportMetric(float64(wire)/float64(dps), "wire-bytes/dp")
		})
	}
}
