// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"fmt"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// benchMetrics is a typical node batch: 10 resources × (20 gauges, 20
// counters, 5 histograms with 10 buckets, 2 exponential histograms), each
// with 4 attributes and 5 data points of distinct series.
func benchMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 10 {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("service.instance.id", fmt.Sprintf("pod-%d", r))
		ra.PutStr("k8s.namespace.name", "shop")
		ra.PutStr("k8s.node.name", "node-1")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("otel-go")
		attrs := func(a pcommon.Map, i int) {
			a.PutStr("http.method", "GET")
			a.PutStr("http.route", fmt.Sprintf("/api/v1/items/%d", i))
			a.PutInt("http.status_code", 200)
			a.PutStr("net.peer.name", "db")
		}
		ts := pcommon.Timestamp(1_700_000_000_000_000_000)
		for m := range 20 {
			g := sm.Metrics().AppendEmpty()
			g.SetName(fmt.Sprintf("system.memory.usage.%d", m))
			g.SetUnit("By")
			gg := g.SetEmptyGauge()
			for i := range 5 {
				dp := gg.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(float64(i))
				attrs(dp.Attributes(), i)
			}
			c := sm.Metrics().AppendEmpty()
			c.SetName(fmt.Sprintf("http.server.requests.%d", m))
			s := c.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(ts - 60e9)
				dp.SetIntValue(int64(i))
				attrs(dp.Attributes(), i)
			}
		}
		for m := range 5 {
			h := sm.Metrics().AppendEmpty()
			h.SetName(fmt.Sprintf("http.server.duration.%d", m))
			h.SetUnit("s")
			hh := h.SetEmptyHistogram()
			hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := hh.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
				dp.SetCount(66)
				dp.SetSum(12.5)
				attrs(dp.Attributes(), i)
			}
		}
		for m := range 2 {
			h := sm.Metrics().AppendEmpty()
			h.SetName(fmt.Sprintf("rpc.latency.%d", m))
			eh := h.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := eh.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetScale(3)
				dp.SetCount(100)
				dp.SetSum(50)
				dp.Positive().SetOffset(-4)
				dp.Positive().BucketCounts().FromRaw([]uint64{5, 10, 20, 30, 20, 10, 5})
				attrs(dp.Attributes(), i)
			}
		}
	}
	return md
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
