// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const (
	benchSeries = 100_000
	benchBatch  = 1000 // points per ConsumeMetrics call
)

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

func benchPoints(md pmetric.Metrics) pmetric.NumberDataPointSlice {
	return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
}

func setTS(md pmetric.Metrics, ts pcommon.Timestamp) {
	dps := benchPoints(md)
	for i := 0; i < dps.Len(); i++ {
		dps.At(i).SetTimestamp(ts)
	}
}

// benchFeed produces the input of call i: batch i%100 of the 100k series in
// round i/100 (timestamps 10 s apart per round).
type benchFeed interface {
	next(i int) pmetric.Metrics
}

// recycledFeed reuses one pdata batch and rewrites its "pod" values and
// timestamps before each call (series j always sits at position j%1000, so
// its value stays j%1000%97) (the connector keeps no reference to its
// input): 100k series pass through the component while only 1000 input
// points are live, as when a receiver decodes a request, hands it on and
// drops it. The rewrite (one SetStr and one SetTimestamp per point, one
// 16-byte allocation) is inside the measured loop, so the figures include
// it; BenchmarkConsumeFeedOnly measures it alone.
type recycledFeed struct {
	md   pmetric.Metrics
	pods []pcommon.Value // the "pod" value of each point of md
	dps  pmetric.NumberDataPointSlice
	// "pod-<j>" for every series j, as substrings of one string: 100k
	// separate strings would be 100k objects for the GC to mark on every
	// cycle, a cost of this fixture, not of the component.
	names string
	off   []int32 // pod j is names[off[j]:off[j+1]]
	ts0   pcommon.Timestamp
}

func newRecycledFeed() *recycledFeed {
	f := &recycledFeed{ts0: pcommon.NewTimestampFromTime(t0)}
	var sb strings.Builder
	for j := range benchSeries {
		f.off = append(f.off, int32(sb.Len()))
		fmt.Fprintf(&sb, "pod-%d", j)
	}
	f.off = append(f.off, int32(sb.Len()))
	f.names = sb.String()
	return f.clone()
}

// clone returns a feed over the same names with its own pdata batch (one
// per consumer goroutine).
func (f *recycledFeed) clone() *recycledFeed {
	c := &recycledFeed{md: benchBatches(benchBatch, benchBatch)[0], names: f.names, off: f.off, ts0: f.ts0}
	c.dps = benchPoints(c.md)
	for k := 0; k < c.dps.Len(); k++ {
		v, _ := c.dps.At(k).Attributes().Get("pod")
		c.pods = append(c.pods, v)
	}
	return c
}

func (f *recycledFeed) next(i int) pmetric.Metrics {
	block, round := i%(benchSeries/benchBatch), i/(benchSeries/benchBatch)
	ts := f.ts0 + pcommon.Timestamp(time.Duration(round)*10*time.Second)
	base := block * benchBatch
	for k := range f.pods {
		f.pods[k].SetStr(f.names[f.off[base+k]:f.off[base+k+1]])
		f.dps.At(k).SetTimestamp(ts)
	}
	return f.md
}

// pinnedFeed keeps all 100k input points live (100 batches) and re-stamps
// them once per round. The collector never holds 100k input points for the
// lifetime of the process; the GC has to mark them on every cycle, which
// is charged to the component here. Kept for comparison with the first
// published figures, which used it.
type pinnedFeed struct {
	batches []pmetric.Metrics
	ts0     pcommon.Timestamp
}

func (f *pinnedFeed) next(i int) pmetric.Metrics {
	if i%len(f.batches) == 0 {
		ts := f.ts0 + pcommon.Timestamp(time.Duration(i/len(f.batches))*10*time.Second)
		for _, m := range f.batches {
			setTS(m, ts)
		}
	}
	return f.batches[i%len(f.batches)]
}

// BenchmarkConsume pushes data points through the connector's
// ConsumeMetrics (hashing, state update, verdict, building every derived
// series with its attributes, and handing them to the next consumer) with
// 100k tracked series, 1000 points (2 point and 2 resource attributes) per
// call, on one goroutine. Reported:
//   - points/cpu-s: input data points per CPU-second of the whole process
//     (all threads, GC included): points per second per core, whatever else
//     runs on the shared machine. Run with -cpu 1 for a one-core process.
//   - ns/point, allocs/point, B/point: per input data point (wall clock).
//   - B/series: heap per tracked series (runtime.MemStats before/after the
//     100k series are created; the index included).
func BenchmarkConsume(b *testing.B) {
	for _, outs := range [][]string{
		{"baseline", "upper", "lower", "score", "alert"},
		{"baseline", "score", "alert"},
		{"score", "alert"},
		{},
	} {
		for _, feed := range []string{"recycled", "pinned"} {
			if feed == "pinned" && len(outs) != numOutputs {
				continue
			}
			b.Run(fmt.Sprintf("outputs=%d/feed=%s", len(outs), feed), func(b *testing.B) {
				benchConsume(b, outs, feed, false, false)
			})
		}
	}
}

// BenchmarkConsumeParallel is BenchmarkConsume/outputs=5/feed=recycled with
// GOMAXPROCS goroutines calling ConsumeMetrics at once, as the receivers of a
// busy collector do; each goroutine owns every GOMAXPROCS-th batch of the
// 100k series. points/cpu-s is then the per-core rate with every core busy
// (points/s divided by the cores used). With -cpu 1 it equals
// BenchmarkConsume.
func BenchmarkConsumeParallel(b *testing.B) {
	benchConsume(b, []string{"baseline", "upper", "lower", "score", "alert"}, "parallel", false, false)
}

// BenchmarkConsumeYielding is BenchmarkConsume/outputs=5/feed=recycled with
// the goroutine yielding (runtime.Gosched) after each call, as a receiver's
// goroutine does when it waits for its next request. In the tight loop of
// BenchmarkConsume, with GOMAXPROCS=1 the GC's background mark worker only
// gets the processor when the scheduler preempts the loop (every 10 ms):
// GODEBUG=gctrace=1 shows each mark phase lasting ~7 ms of a ~20 ms cycle,
// all of it with write barriers on and new objects allocated black, where
// with a yield it lasts ~1 ms. Both are reported; the tight loop is the
// worst case.
func BenchmarkConsumeYielding(b *testing.B) {
	benchConsume(b, []string{"baseline", "upper", "lower", "score", "alert"}, "recycled", true, false)
}

// BenchmarkConsumeSeasonal is BenchmarkConsume/outputs=5/feed=recycled with
// the default daily seasonality (24 slots of 16 bytes per series): its
// B/series is the memory cost of seasonality.
func BenchmarkConsumeSeasonal(b *testing.B) {
	benchConsume(b, []string{"baseline", "upper", "lower", "score", "alert"}, "recycled", false, true)
}

func benchConsume(b *testing.B, outs []string, feedKind string, yield, seasonal bool) {
	rule := testRule(func(r *RuleConfig) {
		r.Outputs = outs
		if seasonal {
			r.Seasonality = hourlySlots()
		}
	})
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{rule}
	cfg.Alertmanager = configoptional.None[AlertmanagerConfig]()
	require.NoError(b, cfg.Validate())
	set := connectortest.NewNopSettings(f.Type())
	var emitted atomic.Int64 // derived data points handed to the next consumer
	next, err := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
		emitted.Add(int64(md.DataPointCount()))
		return nil
	})
	require.NoError(b, err)
	conn, err := f.CreateMetricsToMetrics(context.Background(), set, cfg, next)
	require.NoError(b, err)
	require.NoError(b, conn.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, conn.Shutdown(context.Background())) }()
	e := conn.(*baselineConnector).e
	ctx := context.Background()

	var feed benchFeed
	var recycled *recycledFeed
	if feedKind == "pinned" {
		feed = &pinnedFeed{batches: benchBatches(benchSeries, benchBatch), ts0: pcommon.NewTimestampFromTime(t0)}
	} else {
		recycled = newRecycledFeed()
		feed = recycled
	}
	calls := benchSeries / benchBatch

	// Round 0 creates the 100k series.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range calls {
		require.NoError(b, conn.ConsumeMetrics(ctx, feed.next(i)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	e.mu.Lock()
	tracked := e.index.len()
	e.mu.Unlock()
	if tracked != benchSeries {
		b.Fatalf("tracked %d series, want %d", tracked, benchSeries)
	}
	bytesPerSeries := float64(after.HeapAlloc-before.HeapAlloc) / benchSeries
	emitted.Store(0)

	b.ResetTimer()
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	if feedKind == "parallel" {
		procs := runtime.GOMAXPROCS(0)
		var worker atomic.Int32
		b.RunParallel(func(pb *testing.PB) {
			w := int(worker.Add(1) - 1)
			f := recycled.clone()
			for c := 0; pb.Next(); c++ {
				// Goroutine w takes batches w, w+procs, ... so every series
				// stays on one goroutine and its timestamps keep increasing.
				i := calls + w + c*procs
				if err := conn.ConsumeMetrics(ctx, f.next(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for i := 0; i < b.N; i++ {
			if err := conn.ConsumeMetrics(ctx, feed.next(calls+i)); err != nil {
				b.Fatal(err)
			}
			if yield {
				runtime.Gosched()
			}
		}
	}
	after, points := reportPerPoint(b, cpu0, &before)
	// Every point after the first round yields one data point per output:
	// the loop did emit what it claims to measure.
	if want := int64(b.N) * benchBatch * int64(len(outs)); emitted.Load() != want {
		b.Fatalf("emitted %d derived points, want %d", emitted.Load(), want)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/points, "B/point")
	b.ReportMetric(bytesPerSeries, "B/series")
}

// BenchmarkConsumeFeedOnly is the cost of the recycled feed alone (no
// component), to read BenchmarkConsume's feed=recycled figures against.
func BenchmarkConsumeFeedOnly(b *testing.B) {
	feed := newRecycledFeed()
	b.ResetTimer()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		feed.next(i)
	}
	reportPerPoint(b, cpu0, &before)
}

// BenchmarkPdataFloor builds, for every input point of the recycled feed,
// five gauge data points carrying its timestamp, a value and a copy of its
// attributes, with the calls emitOutputs makes, but without the engine: no
// hashing, no state, no verdict. It is the cost of the default outputs'
// pdata alone (five allocations per derived point with two string
// attributes) and bounds what BenchmarkConsume/outputs=5 can reach.
func BenchmarkPdataFloor(b *testing.B) {
	feed := newRecycledFeed()
	var before runtime.MemStats
	b.ResetTimer()
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		in := benchPoints(feed.next(i))
		out := pmetric.NewMetrics()
		sm := out.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
		var o [numOutputs]pmetric.NumberDataPointSlice
		for j := range o {
			o[j] = sm.Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
			o[j].EnsureCapacity(in.Len())
		}
		for k := 0; k < in.Len(); k++ {
			p := in.At(k)
			attrs := p.Attributes()
			for j := range o {
				dp := o[j].AppendEmpty()
				dp.SetTimestamp(p.Timestamp())
				dp.SetDoubleValue(float64(j))
				attrs.CopyTo(dp.Attributes())
			}
		}
	}
	reportPerPoint(b, cpu0, &before)
}

// reportPerPoint stops the timer and reports input points per CPU-second,
// ns and allocations per input point since cpu0 and before.
func reportPerPoint(b *testing.B, cpu0 time.Duration, before *runtime.MemStats) (after runtime.MemStats, points float64) {
	cpu := cpuTime() - cpu0
	b.StopTimer()
	runtime.ReadMemStats(&after)
	points = float64(b.N) * benchBatch
	b.ReportMetric(points/cpu.Seconds(), "points/cpu-s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/points, "ns/point")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/points, "allocs/point")
	return after, points
}
