// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var (
	t0    = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ts0   = pcommon.NewTimestampFromTime(t0)
	start = pcommon.NewTimestampFromTime(t0.Add(-time.Minute))
	ms0   = t0.UnixMilli()
)

// render prints every series of a result in a stable, readable form.
func render(res *Result) []string {
	var out []string
	for _, sh := range res.Shards {
		for _, s := range sh.Series {
			var b strings.Builder
			for i, l := range s.Labels() {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
			}
			for _, x := range s.Samples {
				v := fmt.Sprint(x.Value)
				if math.Float64bits(x.Value) == value.StaleNaN {
					v = "stale"
				}
				fmt.Fprintf(&b, " %s@%d", v, x.Timestamp-ms0)
				if x.Start != 0 {
					fmt.Fprintf(&b, "(st%d)", x.Start-ms0)
				}
			}
			for i, h := range s.Histograms() {
				fmt.Fprintf(&b, " hist{schema=%d count=%d zero=%d/%g sum=%g pos=%v/%v neg=%v/%v}@%d(st%s)", h.Schema, h.GetCountInt(), h.GetZeroCountInt(),
					h.ZeroThreshold, h.Sum, spans(h.PositiveSpans), h.PositiveDeltas, spans(h.NegativeSpans), h.NegativeDeltas, h.Timestamp-ms0, rel(s.HistStarts()[i]))
			}
			for _, e := range s.Exemplars() {
				fmt.Fprintf(&b, " ex{%s}=%g@%d", exLabels(e.Labels), e.Value, e.Timestamp-ms0)
			}
			if s.Meta != nil {
				fmt.Fprintf(&b, " meta=%s/%s/%q/%q", s.Meta.Family, s.Meta.Type, s.Meta.Help, s.Meta.Unit)
			}
			out = append(out, b.String())
		}
	}
	slices.Sort(out)
	return out
}

func rel(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return fmt.Sprint(ms - ms0)
}

func spans(s []prompb.BucketSpan) string {
	var parts []string
	for _, x := range s {
		parts = append(parts, fmt.Sprintf("%d:%d", x.Offset, x.Length))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func exLabels(l []prompb.Label) string {
	var parts []string
	for _, x := range l {
		parts = append(parts, x.Name+"="+x.Value)
	}
	return strings.Join(parts, ",")
}

// newMetric returns a metric in a resource with service.name=svc,
// service.namespace=ns, service.instance.id=i1 and host.name=h1.
func newMetric(md pmetric.Metrics, name, unit string) pmetric.Metric {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	rm.Resource().Attributes().PutStr("service.namespace", "ns")
	rm.Resource().Attributes().PutStr("service.instance.id", "i1")
	rm.Resource().Attributes().PutStr("host.name", "h1")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("lib")
	sm.Scope().SetVersion("1.2")
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription("help of " + name)
	return m
}

// cumulativeSum adds a cumulative sum (a counter when monotonic) to md, in
// newMetric's resource, and returns its data point at ts0.
func cumulativeSum(md pmetric.Metrics, name, unit string, monotonic bool) pmetric.NumberDataPoint {
	s := newMetric(md, name, unit).SetEmptySum()
	s.SetIsMonotonic(monotonic)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts0)
	return dp
}

// cumulativeHistogram adds a cumulative histogram to md, in newMetric's
// resource, and returns its data point at ts0.
func cumulativeHistogram(md pmetric.Metrics, name, unit string) pmetric.HistogramDataPoint {
	h := newMetric(md, name, unit).SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts0)
	return dp
}

// cumulativeExpHistogram adds a cumulative exponential histogram to md, in
// newMetric's resource, and returns its data point at ts0.
func cumulativeExpHistogram(md pmetric.Metrics, name, unit string) pmetric.ExponentialHistogramDataPoint {
	h := newMetric(md, name, unit).SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts0)
	return dp
}

const targetInfo = `__name__="target_info",host_name="h1",instance="i1",job="ns/svc" 1@0 meta=target_info/gauge/"Target metadata"/""`

func TestTranslate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     Settings
		build   func(md pmetric.Metrics)
		want    []string
		dropped map[DropKey]int64
	}{
		{
			name: "gauge with attributes, job/instance and target_info",
			build: func(md pmetric.Metrics) {
				dp := newMetric(md, "memory.usage", "By").SetEmptyGauge().DataPoints().AppendEmpty()
				dp.SetTimestamp(ts0)
				dp.SetDoubleValue(12.5)
				dp.Attributes().PutStr("http.method", "GET")
				dp.Attributes().PutStr("empty", "")
			},
			want: []string{
				`__name__="memory_usage_bytes",http_method="GET",instance="i1",job="ns/svc" 12.5@0 meta=memory_usage_bytes/gauge/"help of memory.usage"/"bytes"`,
				targetInfo,
			},
		},
		{
			name: "monotonic cumulative sum is a counter with start timestamp",
			build: func(md pmetric.Metrics) {
				dp := cumulativeSum(md, "http.requests", "1", true)
				dp.SetStartTimestamp(start)
				dp.SetIntValue(42)
				ex := dp.Exemplars().AppendEmpty()
				ex.SetTimestamp(ts0)
				ex.SetIntValue(1)
				ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
				ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
				ex.FilteredAttributes().PutStr("user", "u1")
			},
			want: []string{
				`__name__="http_requests_total",instance="i1",job="ns/svc" 42@0(st-60000) ex{span_id=0102030405060708,trace_id=0102030405060708090a0b0c0d0e0f10,user=u1}=1@0 meta=http_requests_total/counter/"help of http.requests"/""`,
				targetInfo,
			},
		},
		{
			name: "non-monotonic cumulative sum is a gauge without _total",
			build: func(md pmetric.Metrics) {
				dp := cumulativeSum(md, "queue.depth", "{item}", false)
				dp.SetStartTimestamp(start)
				dp.SetIntValue(-3)
			},
			want: []string{
				`__name__="queue_depth",instance="i1",job="ns/svc" -3@0 meta=queue_depth/gauge/"help of queue.depth"/""`,
				targetInfo,
			},
		},
		{
			name: "delta sums and histograms are dropped and counted",
			build: func(md pmetric.Metrics) {
				s := newMetric(md, "d.sum", "1").SetEmptySum()
				s.SetIsMonotonic(true)
				s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				s.DataPoints().AppendEmpty().SetTimestamp(ts0)
				s.DataPoints().AppendEmpty().SetTimestamp(ts0)
				h := newMetric(md, "d.hist", "s").SetEmptyHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				h.DataPoints().AppendEmpty().SetTimestamp(ts0)
			},
			dropped: map[DropKey]int64{{KindDataPoint, ReasonDeltaTemporality}: 3},
		},
		{
			name: "classic histogram with buckets, sum, count and exemplars in their bucket",
			build: func(md pmetric.Metrics) {
				dp := cumulativeHistogram(md, "rpc.duration", "s")
				dp.SetStartTimestamp(start)
				dp.ExplicitBounds().FromRaw([]float64{0.5, 1})
				dp.BucketCounts().FromRaw([]uint64{2, 3, 1})
				dp.SetCount(6)
				dp.SetSum(4.25)
				for _, v := range []float64{0.7, 9} {
					ex := dp.Exemplars().AppendEmpty()
					ex.SetTimestamp(ts0)
					ex.SetDoubleValue(v)
					ex.SetTraceID(pcommon.TraceID{0xaa, 15: 0xbb})
				}
			},
			want: []string{
				`__name__="rpc_duration_seconds_bucket",instance="i1",job="ns/svc",le="+Inf" 6@0(st-60000) ex{trace_id=aa0000000000000000000000000000bb}=9@0 meta=rpc_duration_seconds/histogram/"help of rpc.duration"/"seconds"`,
				`__name__="rpc_duration_seconds_bucket",instance="i1",job="ns/svc",le="0.5" 2@0(st-60000) meta=rpc_duration_seconds/histogram/"help of rpc.duration"/"seconds"`,
				`__name__="rpc_duration_seconds_bucket",instance="i1",job="ns/svc",le="1" 5@0(st-60000) ex{trace_id=aa0000000000000000000000000000bb}=0.7@0 meta=rpc_duration_seconds/histogram/"help of rpc.duration"/"seconds"`,
				`__name__="rpc_duration_seconds_count",instance="i1",job="ns/svc" 6@0(st-60000) meta=rpc_duration_seconds/histogram/"help of rpc.duration"/"seconds"`,
				`__name__="rpc_duration_seconds_sum",instance="i1",job="ns/svc" 4.25@0(st-60000) meta=rpc_duration_seconds/histogram/"help of rpc.duration"/"seconds"`,
				targetInfo,
			},
		},
		{
			name: "exponential histogram becomes a native histogram",
			build: func(md pmetric.Metrics) {
				dp := cumulativeExpHistogram(md, "latency", "ms")
				dp.SetStartTimestamp(start)
				dp.SetScale(2)
				dp.SetCount(10)
				dp.SetSum(33)
				dp.SetZeroCount(1)
				dp.SetZeroThreshold(0.001)
				dp.Positive().SetOffset(-1)
				dp.Positive().BucketCounts().FromRaw([]uint64{1, 2, 0, 0, 0, 3, 0, 1})
				dp.Negative().SetOffset(0)
				dp.Negative().BucketCounts().FromRaw([]uint64{2})
			},
			want: []string{
				// OTLP index i is Prometheus index i+1: positive 0,1 | gap 3 | 5 and 7 (gap 1 filled).
				`__name__="latency_milliseconds",instance="i1",job="ns/svc" hist{schema=2 count=10 zero=1/0.001 sum=33 pos=[0:2 3:3]/[1 1 1 -3 1] neg=[1:1]/[2]}@0(st-60000) meta=latency_milliseconds/histogram/"help of latency"/"milliseconds"`,
				targetInfo,
			},
		},
		{
			name: "exponential histogram scale above 8 is downscaled, below -4 dropped",
			build: func(md pmetric.Metrics) {
				h := newMetric(md, "fine", "").SetEmptyExponentialHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts0)
				dp.SetScale(10)
				dp.SetCount(7)
				dp.Positive().SetOffset(3)
				dp.Positive().BucketCounts().FromRaw([]uint64{1, 2, 4}) // OTLP 3,4,5 → scale 8: 0,1,1
				coarse := h.DataPoints().AppendEmpty()
				coarse.SetTimestamp(ts0 + 1e6)
				coarse.SetScale(-5)
			},
			want: []string{
				`__name__="fine",instance="i1",job="ns/svc" hist{schema=8 count=7 zero=0/0 sum=0 pos=[1:2]/[1 5] neg=[]/[]}@0(st-) meta=fine/histogram/"help of fine"/""`,
				targetInfo,
			},
			dropped: map[DropKey]int64{{KindHistogram, ReasonUnsupportedScale}: 1},
		},
		{
			name: "summary",
			build: func(md pmetric.Metrics) {
				dp := newMetric(md, "gc.pause", "s").SetEmptySummary().DataPoints().AppendEmpty()
				dp.SetTimestamp(ts0)
				dp.SetCount(4)
				dp.SetSum(2)
				q := dp.QuantileValues().AppendEmpty()
				q.SetQuantile(0.99)
				q.SetValue(1.5)
			},
			want: []string{
				`__name__="gc_pause_seconds",instance="i1",job="ns/svc",quantile="0.99" 1.5@0 meta=gc_pause_seconds/summary/"help of gc.pause"/"seconds"`,
				`__name__="gc_pause_seconds_count",instance="i1",job="ns/svc" 4@0 meta=gc_pause_seconds/summary/"help of gc.pause"/"seconds"`,
				`__name__="gc_pause_seconds_sum",instance="i1",job="ns/svc" 2@0 meta=gc_pause_seconds/summary/"help of gc.pause"/"seconds"`,
				targetInfo,
			},
		},
		{
			name: "no recorded value is a staleness marker; NaN and Inf pass",
			build: func(md pmetric.Metrics) {
				g := newMetric(md, "g", "").SetEmptyGauge()
				for i, v := range []float64{math.Inf(1), math.Inf(-1), 7} {
					dp := g.DataPoints().AppendEmpty()
					dp.SetTimestamp(ts0 + pcommon.Timestamp(i)*1e6)
					dp.SetDoubleValue(v)
				}
				stale := g.DataPoints().AppendEmpty()
				stale.SetTimestamp(ts0 + 3e6)
				stale.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				hdp := cumulativeHistogram(md, "h", "")
				hdp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			},
			want: []string{
				`__name__="g",instance="i1",job="ns/svc" +Inf@0 -Inf@1 7@2 stale@3 meta=g/gauge/"help of g"/""`,
				`__name__="h_bucket",instance="i1",job="ns/svc",le="+Inf" stale@0 meta=h/histogram/"help of h"/""`,
				`__name__="h_count",instance="i1",job="ns/svc" stale@0 meta=h/histogram/"help of h"/""`,
				`__name__="h_sum",instance="i1",job="ns/svc" stale@0 meta=h/histogram/"help of h"/""`,
				`__name__="target_info",host_name="h1",instance="i1",job="ns/svc" 1@0 1@3 meta=target_info/gauge/"Target metadata"/""`,
			},
		},
		{
			name: "series colliding after normalisation are counted, first wins",
			build: func(md pmetric.Metrics) {
				for i, n := range []string{"a.b", "a_b"} {
					dp := newMetric(md, n, "").SetEmptyGauge().DataPoints().AppendEmpty()
					dp.SetTimestamp(ts0)
					dp.SetIntValue(int64(i + 1))
				}
			},
			want: []string{
				`__name__="a_b",instance="i1",job="ns/svc" 1@0 meta=a_b/gauge/"help of a.b"/""`,
				targetInfo,
			},
			dropped: map[DropKey]int64{{KindSample, ReasonNameCollision}: 1},
		},
		{
			name: "scope labels, external labels, resource to labels, no target_info, namespace",
			set: Settings{ScopeLabels: true, ResourceToLabels: true, ExternalLabels: map[string]string{"cluster": "c1", "job": "ignored"},
				Namespace: "vigil"},
			build: func(md pmetric.Metrics) {
				dp := newMetric(md, "up", "").SetEmptyGauge().DataPoints().AppendEmpty()
				dp.SetTimestamp(ts0)
				dp.SetIntValue(1)
				dp.Attributes().PutStr("bad\xffkey", "v\xff")
			},
			want: []string{
				`__name__="vigil_up",bad_key="v�",cluster="c1",host_name="h1",instance="i1",job="ns/svc",otel_scope_name="lib",otel_scope_version="1.2" 1@0 meta=vigil_up/gauge/"help of up"/""`,
			},
		},
		{
			name: "missing timestamp and empty metric type are dropped and counted",
			build: func(md pmetric.Metrics) {
				newMetric(md, "no.ts", "").SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
				newMetric(md, "empty", "")
			},
			dropped: map[DropKey]int64{{KindSample, ReasonMissingTimestamp}: 1, {KindDataPoint, ReasonUnknownType}: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set := tt.set
			if set.Namespace == "" && !set.ScopeLabels {
				set.TargetInfo = true
			}
			set.Shards = 3
			md := pmetric.NewMetrics()
			tt.build(md)
			res := New(set).Translate(md)
			assert.Equal(t, tt.want, render(res))
			assert.Equal(t, tt.dropped, res.Dropped)
		})
	}
}

func TestTranslationStrategies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		strategy otlptranslator.TranslationStrategyOption
		want     string
	}{
		{otlptranslator.UnderscoreEscapingWithSuffixes, "http_server_duration_seconds_total"},
		{otlptranslator.UnderscoreEscapingWithoutSuffixes, "http_server_duration"},
		{otlptranslator.NoUTF8EscapingWithSuffixes, "http.server.duration_seconds_total"},
		{otlptranslator.NoTranslation, "http.server.duration"},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy), func(t *testing.T) {
			t.Parallel()
			md := pmetric.NewMetrics()
			cumulativeSum(md, "http.server.duration", "s", true)
			res := New(Settings{Strategy: tt.strategy}).Translate(md)
			require.Len(t, res.Shards[0].Series, 1)
			assert.Equal(t, tt.want, res.Shards[0].Series[0].Labels()[0].Value)
		})
	}
}

func TestSamplesOfOneSeriesAreMergedAndSorted(t *testing.T) {
	t.Parallel()
	md := pmetric.NewMetrics()
	for _, off := range []int64{2, 0, 1} { // three resources, one series, out of order
		dp := newMetric(md, "g", "").SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts0 + pcommon.Timestamp(off*1e6))
		dp.SetIntValue(off)
	}
	res := New(Settings{Shards: 4}).Translate(md)
	assert.Equal(t, []string{`__name__="g",instance="i1",job="ns/svc" 0@0 1@1 2@2 meta=g/gauge/"help of g"/""`}, render(res))
}

// TestSeveralBatches: exports merged by the queue are translated as one;
// their samples of one series are merged and sorted.
func TestSeveralBatches(t *testing.T) {
	t.Parallel()
	var mds []pmetric.Metrics
	for _, off := range []int64{1, 0, 2} {
		md := pmetric.NewMetrics()
		dp := newMetric(md, "g", "").SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts0 + pcommon.Timestamp(off*1e6))
		dp.SetIntValue(off)
		mds = append(mds, md)
	}
	res := New(Settings{Shards: 4}).Translate(mds...)
	assert.Equal(t, []string{`__name__="g",instance="i1",job="ns/svc" 0@0 1@1 2@2 meta=g/gauge/"help of g"/""`}, render(res))
}

// TestShardingAndFilter checks that every series of a data point is in one
// shard, and that Filter rebuilds exactly the data of the selected shards.
func TestShardingAndFilter(t *testing.T) {
	t.Parallel()
	md := pmetric.NewMetrics()
	for i := range 50 {
		dp := cumulativeHistogram(md, fmt.Sprintf("h%d", i), "s")
		dp.ExplicitBounds().FromRaw([]float64{1})
		dp.BucketCounts().FromRaw([]uint64{1, 1})
		dp.SetCount(2)
		dp.SetSum(3)
	}
	tr := New(Settings{Shards: 4})
	res := tr.Translate(md)
	shardOf := map[string]int{}
	for i, sh := range res.Shards {
		require.NotEmpty(t, sh.Series, "50 families should reach every one of 4 shards")
		for _, s := range sh.Series {
			fam := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s.Labels()[0].Value, "_bucket"), "_sum"), "_count")
			if prev, ok := shardOf[fam]; ok {
				assert.Equal(t, prev, i, "family %s split over shards", fam)
			}
			shardOf[fam] = i
		}
	}
	for want := range 4 {
		sub := tr.Filter(md, func(s int, _ uint64) bool { return s == want })
		again := tr.Translate(sub)
		for i, sh := range again.Shards {
			if i == want {
				assert.Equal(t, render(&Result{Shards: []*Shard{res.Shards[i]}}), render(&Result{Shards: []*Shard{sh}}))
			} else {
				assert.Empty(t, sh.Series)
			}
		}
	}
}

// TestTargetInfoNeverGoesBack: the retry of a partly written export holds
// only the data points not written yet, whose latest timestamp can be
// earlier than the target_info already sent for their resource. The retry's
// target_info repeats the latest sample instead of going back in time (which
// a receiver rejects as out of order); a later export moves it on, and
// another resource keeps its own time.
func TestTargetInfoNeverGoesBack(t *testing.T) {
	t.Parallel()
	gauge := func(md pmetric.Metrics, name string, off int64) { // to md's one resource
		var m pmetric.Metric
		if md.ResourceMetrics().Len() == 0 {
			m = newMetric(md, name, "")
		} else {
			m = md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
			m.SetName(name)
		}
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts0 + pcommon.Timestamp(off*1e6))
		dp.SetIntValue(off)
	}
	targetInfo := func(res *Result) []string {
		var out []string
		for _, l := range render(res) {
			if strings.HasPrefix(l, `__name__="target_info"`) {
				out = append(out, l)
			}
		}
		return out
	}
	const ti = `__name__="target_info",host_name="h1",instance="i1",job="ns/svc" 1@%d meta=target_info/gauge/"Target metadata"/""`
	tr := New(Settings{Shards: 4, TargetInfo: true})
	md := pmetric.NewMetrics()
	gauge(md, "early", 8)
	gauge(md, "late", 10)
	require.Equal(t, []string{fmt.Sprintf(ti, 10)}, targetInfo(tr.Translate(md)))

	// The shard of "late" was written, the one of "early" failed.
	retry := tr.Filter(md, func(_ int, group uint64) bool {
		return group == hashLabels([]label{{"__name__", "early"}, {"instance", "i1"}, {"job", "ns/svc"}})
	})
	require.Equal(t, 1, retry.DataPointCount())
	assert.Equal(t, []string{fmt.Sprintf(ti, 10)}, targetInfo(tr.Translate(retry)), "the retry's target_info went back in time")

	next := pmetric.NewMetrics()
	gauge(next, "early", 12)
	assert.Equal(t, []string{fmt.Sprintf(ti, 12)}, targetInfo(tr.Translate(next)))

	other := pmetric.NewMetrics()
	gauge(other, "early", 3)
	other.ResourceMetrics().At(0).Resource().Attributes().PutStr("host.name", "h2")
	assert.Equal(t, []string{`__name__="target_info",host_name="h2",instance="i1",job="ns/svc" 1@3 meta=target_info/gauge/"Target metadata"/""`}, targetInfo(tr.Translate(other)))
}

func TestTargetInfoClockIsBounded(t *testing.T) {
	t.Parallel()
	var c targetInfoClock
	for h := range uint64(3 * maxTargetInfos) {
		c.record(map[uint64]int64{h: 5})
	}
	assert.LessOrEqual(t, len(c.cur), maxTargetInfos)
	assert.LessOrEqual(t, len(c.prev), maxTargetInfos)
	// Two generations are remembered: [max, 2max) and [2max, 3max).
	assert.Equal(t, int64(5), c.last(3*maxTargetInfos-1), "a series of the current generation is forgotten")
	assert.Equal(t, int64(5), c.last(maxTargetInfos+7), "a series of the previous generation is forgotten")
	c.record(map[uint64]int64{maxTargetInfos + 7: 1})
	assert.Equal(t, int64(5), c.cur[maxTargetInfos+7], "a series of the previous generation went back in time when carried into the current one")
	assert.Equal(t, int64(math.MinInt64), c.last(0), "the oldest generation is not forgotten")
}

func TestBucketsToDeltas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		offset int32
		counts []uint64
		shift  int32
		spans  string
		deltas []int64
	}{
		{name: "empty", counts: nil, spans: "[]"},
		{name: "all zero", counts: []uint64{0, 0}, spans: "[]"},
		{name: "contiguous", offset: 0, counts: []uint64{3, 1, 4}, spans: "[1:3]", deltas: []int64{3, -2, 3}},
		{name: "leading zeros skipped", offset: 0, counts: []uint64{0, 0, 5}, spans: "[3:1]", deltas: []int64{5}},
		{name: "gap of two filled", offset: -3, counts: []uint64{1, 0, 0, 1}, spans: "[-2:4]", deltas: []int64{1, -1, 0, 1}},
		{name: "gap of three splits", offset: 0, counts: []uint64{1, 0, 0, 0, 1}, spans: "[1:1 3:1]", deltas: []int64{1, 0}},
		{name: "downscale merges pairs, negative indexes floor", offset: -3, counts: []uint64{1, 1, 1, 1}, shift: 1, spans: "[-1:3]", deltas: []int64{1, 1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := pmetric.NewExponentialHistogramDataPointBuckets()
			b.SetOffset(tt.offset)
			b.BucketCounts().FromRaw(tt.counts)
			s, d := bucketsToDeltas(b, tt.shift)
			assert.Equal(t, tt.spans, spans(s))
			assert.Equal(t, tt.deltas, d)
		})
	}
}

func sampleShard(t *testing.T) *Shard {
	t.Helper()
	md := pmetric.NewMetrics()
	dp := cumulativeSum(md, "reqs", "1", true)
	dp.SetStartTimestamp(start)
	dp.SetDoubleValue(5)
	ex := dp.Exemplars().AppendEmpty()
	ex.SetTimestamp(ts0)
	ex.SetDoubleValue(1)
	ex.SetTraceID(pcommon.TraceID{1, 15: 2})
	edp := cumulativeExpHistogram(md, "lat", "s")
	edp.SetStartTimestamp(start)
	edp.SetCount(2)
	edp.SetSum(1)
	edp.Positive().BucketCounts().FromRaw([]uint64{2})
	res := New(Settings{Shards: 1, TargetInfo: true}).Translate(md)
	return res.Shards[0]
}

func TestEncodeV1RoundTrip(t *testing.T) {
	t.Parallel()
	sh := sampleShard(t)
	body, err := MarshalV1(sh, true, &Buffers{})
	require.NoError(t, err)
	got := unmarshalBody[prompb.WriteRequest](t, "v1", body)
	require.Len(t, got.Timeseries, 3)
	var names []string
	for _, ts := range got.Timeseries {
		names = append(names, ts.ToLabels(ptr(labels.NewScratchBuilder(0)), nil).String())
	}
	slices.Sort(names)
	assert.Equal(t, []string{
		`{__name__="lat_seconds", instance="i1", job="ns/svc"}`,
		`{__name__="reqs_total", instance="i1", job="ns/svc"}`,
		`{__name__="target_info", host_name="h1", instance="i1", job="ns/svc"}`,
	}, names)
	var metaNames []string
	for _, m := range got.Metadata {
		metaNames = append(metaNames, m.MetricFamilyName+"/"+m.Type.String()+"/"+m.Unit)
	}
	slices.Sort(metaNames)
	assert.Equal(t, []string{"lat_seconds/HISTOGRAM/seconds", "reqs_total/COUNTER/", "target_info/GAUGE/"}, metaNames)
}

func TestEncodeV2RoundTrip(t *testing.T) {
	t.Parallel()
	sh := sampleShard(t)
	body, err := MarshalV2(sh, &Buffers{})
	require.NoError(t, err)
	got := unmarshalBody[writev2.Request](t, "v2", body)
	require.Equal(t, "", got.Symbols[0], "symbol 0 must be the empty string")
	byName := map[string]writev2.TimeSeries{}
	for _, ts := range got.Timeseries {
		lbls, err := ts.ToLabels(ptr(labels.NewScratchBuilder(0)), got.Symbols)
		require.NoError(t, err)
		byName[lbls.Get("__name__")] = ts
		assert.Equal(t, "ns/svc", lbls.Get("job"))
	}
	require.Len(t, byName, 3)
	reqs := byName["reqs_total"]
	assert.Equal(t, []writev2.Sample{{Value: 5, Timestamp: ms0, StartTimestamp: ms0 - 60000}}, reqs.Samples)
	meta, err := reqs.ToMetadata(got.Symbols)
	require.NoError(t, err)
	assert.Equal(t, "counter", string(meta.Type))
	assert.Equal(t, "help of reqs", meta.Help)
	require.Len(t, reqs.Exemplars, 1)
	ex, err := reqs.Exemplars[0].ToExemplar(ptr(labels.NewScratchBuilder(0)), got.Symbols)
	require.NoError(t, err)
	assert.Equal(t, `{trace_id="01000000000000000000000000000002"}`, ex.Labels.String())
	lat := byName["lat_seconds"]
	require.Len(t, lat.Histograms, 1)
	h := lat.Histograms[0].ToIntHistogram()
	assert.Equal(t, uint64(2), h.Count)
	assert.Equal(t, []int64{2}, h.PositiveBuckets)
	assert.Equal(t, ms0-60000, lat.Histograms[0].StartTimestamp)
}

func ptr[T any](v T) *T { return &v }
