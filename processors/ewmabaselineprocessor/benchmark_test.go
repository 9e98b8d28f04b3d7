// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineprocessor

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const benchSeries = 100_000

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBatches builds batches that together cover n series of the gauge
// "m" (attributes host, pod), pointsPer points per batch. Timestamps are set
// per round by setTS.
func benchBatches(n, pointsPer int) []pmetric.Metrics {
	var out []pmetric.Metrics
	for i := 0; i < n; i += pointsPer {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "bench")
		rm.Resource().Attributes().PutStr("k8s.node.name", "node-1")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("m")
		dps := m.SetEmptyGauge().DataPoints()
		for j := i; j < min(i+pointsPer, n); j++ {
			dp := dps.AppendEmpty()
			dp.SetDoubleValue(float64(j % 97))
			dp.Attributes().PutStr("host", fmt.Sprintf("host-%d", j%1000))
			dp.Attributes().PutStr("pod", fmt.Sprintf("pod-%d", j))
		}
		out = append(out, md)
	}
	return out
}

func setTS(md pmetric.Metrics, ts pcommon.Timestamp) {
	dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		dps.At(i).SetTimestamp(ts)
	}
}

// BenchmarkConsume pushes data points through the engine (hashing, state
// update, derived series and their attributes) with 100k tracked series.
// Reported: data points per second (on one goroutine: per core) and the
// heap bytes per tracked series (runtime.MemStats before/after creating them).
func BenchmarkConsume(b *testing.B) {
	for _, outs := range [][]string{
		{"baseline", "upper", "lower", "score", "alert"},
		{"baseline", "score", "alert"},
		{"score", "alert"},
		{},
	} {
		b.Run(fmt.Sprintf("outputs=%d", len(outs)), func(b *testing.B) {
			rule := testRule(func(r *RuleConfig) { r.Outputs = outs })
			e := newTestEngine(b, rule)
			batches := benchBatches(benchSeries, 1000)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ts := pcommon.NewTimestampFromTime(t0)
			for _, md := range batches {
				setTS(md, ts)
				e.process(md)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if len(e.index) != benchSeries {
				b.Fatalf("tracked %d series, want %d", len(e.index), benchSeries)
			}
			bytesPerSeries := float64(after.HeapAlloc-before.HeapAlloc) / benchSeries

			cpu0 := cpuTime()
			// Pre-set timestamps for the rounds so the loop measures the engine only.
			round := 0
			b.ResetTimer()
			points := 0
			for i := 0; i < b.N; i++ {
				md := batches[i%len(batches)]
				if i%len(batches) == 0 {
					round++
					b.StopTimer()
					for _, m := range batches {
						setTS(m, ts+pcommon.Timestamp(time.Duration(round)*10*time.Second))
					}
					b.StartTimer()
				}
				e.process(md)
				points += 1000
			}
			b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
			// The machine is shared: CPU time consumed by this process (all
			// threads, GC included) gives points per core-second regardless
			// of what else runs.
			b.ReportMetric(float64(points)/(cpuTime()-cpu0).Seconds(), "points/cpu-s")
			b.ReportMetric(bytesPerSeries, "B/series")
		})
	}
}
