// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// This file walks the input: each metric that a rule selects, each of its
// points, reduced to the tracked value (gauge, counter rate, histogram mean or
// count rate) and handed to the series' statistics.

// probe computes the series keys of a metric's n points and looks them all
// up before any is processed. The lookups are independent, so their cache
// misses (index entry, then series) overlap instead of being paid one after
// another; with 100k series each is a likely miss to memory.
func (e *engine) probe(b *batch, r *compiledRule, nameHash, resHash uint64, n int, attrs func(i int) pcommon.Map) {
	sc := b.sc
	sc.keys = slices.Grow(sc.keys[:0], n)[:n]
	sc.hints = slices.Grow(sc.hints[:0], n)[:n]
	for i := range n {
		sc.keys[i] = seriesKey(r, nameHash, resHash, attrs(i), b.res)
	}
	for i, k := range sc.keys {
		idx, ok := e.index.get(k)
		if !ok {
			idx = -1
		}
		sc.hints[i] = idx
	}
	var touch int64
	for _, idx := range sc.hints {
		if idx >= 0 {
			s := &e.slab[idx]
			touch += s.lastSeen + int64(s.samples) // the hot fields' first and second cache line
		}
	}
	sc.touched = touch
}

// point is one input data point reduced to what the engine needs.
type point struct {
	ts, start  int64
	x, x2      float64 // value; histograms: sum, count
	attrs      pcommon.Map
	exemplars  pmetric.ExemplarSlice
	dp         int    // index in its metric's data points
	key        uint64 // series key (probe)
	hint       int32  // slab index from probe, -1: look up again
	noValue    bool
	cumulative bool
	hasSum     bool
}

func (e *engine) processMetric(b *batch, ri uint16, m pmetric.Metric, nameHash, resHash uint64) {
	r := &e.rules[ri]
	mtype := m.Type()
	sc := b.sc
	// The pair's output metrics are created once it has points, even if
	// every one of them is then skipped: the downstream metric set does not
	// depend on the values.
	// begin opens the pair's group and probes its n points (called at most
	// once: from the one case of the switch that takes the metric).
	begin := func(n int) {
		if n == 0 {
			return
		}
		sc.groups = append(sc.groups, outGroup{res: b.res, resN: b.resN, m: m, r: r, start: len(sc.recs)})
		sc.recs = slices.Grow(sc.recs, n)
		e.probe(b, r, nameHash, resHash, n, pointAttrs(m))
	}
	kind := r.cfg.Value
	switch mtype {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		if kind != ValueGauge && (kind != ValueCounterRate || mtype != pmetric.MetricTypeSum) {
			b.skipped[reasonUnsupportedType] += int64(numberPoints(m).Len())
			return
		}
		cumulative := mtype == pmetric.MetricTypeSum && m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := numberPoints(m)
		begin(dps.Len())
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			pt := point{ts: int64(dp.Timestamp()), start: int64(dp.StartTimestamp()), attrs: dp.Attributes(),
				exemplars: dp.Exemplars(), noValue: dp.Flags().NoRecordedValue(), cumulative: cumulative,
				dp: i, key: sc.keys[i], hint: sc.hints[i]}
			switch dp.ValueType() {
			case pmetric.NumberDataPointValueTypeDouble:
				pt.x = dp.DoubleValue()
			case pmetric.NumberDataPointValueTypeInt:
				pt.x = float64(dp.IntValue())
			default:
				pt.noValue = true
			}
			e.observePoint(b, r, ri, m, uint8(mtype), &pt)
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		observeHistogram(e, b, r, ri, m, kind, begin, h.DataPoints(), h.AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		observeHistogram(e, b, r, ri, m, kind, begin, h.DataPoints(), h.AggregationTemporality())
	default:
		// Summary and Empty: nothing to baseline.
		b.skipped[reasonUnsupportedType]++
	}
}

// histogramPoint is what the walk reads of a histogram or an exponential
// histogram point: pmetric's two point types have these accessors in common.
type histogramPoint interface {
	Timestamp() pcommon.Timestamp
	StartTimestamp() pcommon.Timestamp
	Attributes() pcommon.Map
	Exemplars() pmetric.ExemplarSlice
	Flags() pmetric.DataPointFlags
	Sum() float64
	Count() uint64
	HasSum() bool
}

// histogramPoints is a histogram's or an exponential histogram's point slice.
type histogramPoints[P histogramPoint] interface {
	Len() int
	At(i int) P
}

// observeHistogram hands the points of a histogram or an exponential
// histogram to the series' statistics: x is the sum, x2 the count. Only the
// histogram value kinds track them; under any other kind the points are
// skipped as unsupported.
func observeHistogram[P histogramPoint, S histogramPoints[P]](e *engine, b *batch, r *compiledRule, ri uint16, m pmetric.Metric,
	kind ValueKind, begin func(n int), dps S, temporality pmetric.AggregationTemporality,
) {
	if kind != ValueHistogramMean && kind != ValueHistogramCountRate {
		b.skipped[reasonUnsupportedType] += int64(dps.Len())
		return
	}
	sc := b.sc
	cumulative := temporality == pmetric.AggregationTemporalityCumulative
	begin(dps.Len())
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		e.observePoint(b, r, ri, m, uint8(m.Type()), &point{dp: i, key: sc.keys[i], hint: sc.hints[i], ts: int64(dp.Timestamp()),
			start: int64(dp.StartTimestamp()), attrs: dp.Attributes(), exemplars: dp.Exemplars(),
			noValue: dp.Flags().NoRecordedValue(), cumulative: cumulative, x: dp.Sum(), x2: float64(dp.Count()),
			hasSum: dp.HasSum()})
	}
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeGauge {
		return m.Gauge().DataPoints()
	}
	return m.Sum().DataPoints()
}

// finite reports whether x is neither NaN nor ±Inf: x − x is 0 for every
// finite x and NaN otherwise (one subtraction instead of two tests).
func finite(x float64) bool { return x-x == 0 }

func (e *engine) observePoint(b *batch, r *compiledRule, ri uint16, m pmetric.Metric, dtype uint8, pt *point) {
	if pt.noValue {
		b.skipped[reasonNoValue]++
		return
	}
	if !finite(pt.x) || !finite(pt.x2) {
		b.skipped[reasonNaNInf]++
		return
	}
	var s *series
	if pt.hint >= 0 {
		s = &e.slab[pt.hint]
	} else {
		// New in this batch, or created by an earlier point of it.
		var ok bool
		if s, ok = e.lookup(pt.key, ri, dtype); !ok {
			b.skipped[reasonMaxSeries]++
			return
		}
	}
	s.lastSeen = b.now
	if s.dtype != dtype {
		b.skipped[reasonTypeChange]++
		return
	}
	if s.hasPrev && pt.ts <= s.prevTS {
		if pt.ts == s.prevTS {
			b.skipped[reasonDuplicate]++
		} else {
			b.skipped[reasonOutOfOrder]++
		}
		return
	}
	x, ok := e.derive(b, r, s, pt)
	if !ok {
		return
	}
	if !finite(x) {
		b.skipped[reasonNaNInf]++
		return
	}
	seasonal := e.seasonOf(s)
	if len(seasonal) != r.p.slots {
		// Only on a 64-bit key collision between rules of different
		// seasonality: the state cannot take this point.
		b.skipped[reasonTypeChange]++
		return
	}
	res := s.observe(&r.p, seasonal, pt.ts, x)
	if res.rejected {
		b.skipped[reasonNaNInf]++
		return
	}
	b.points++
	if !res.emit {
		return
	}
	upper, lower := res.baseline+r.p.k*res.sigma, res.baseline-r.p.k*res.sigma
	representable := finite(upper) && finite(lower) && finite(res.score)
	if !representable {
		b.skipped[reasonNaNInf]++ // the state took it; its band is not representable
	}
	alert := 0.0
	if s.state == stateFiring {
		alert = 1
	}
	if representable && len(r.emit) > 0 {
		b.sc.recs = append(b.sc.recs, outRec{dp: pt.dp, ts: pt.ts,
			vals: [numOutputs]float64{res.baseline, upper, lower, res.reported, alert}})
	}
	if res.trans != transNone {
		b.trans[res.trans]++
		e.transitionLog(b, r, m, s, pt, x, res, upper, lower)
		e.alertmanagerNotify(b, r, m, s, pt, x, res, upper, lower)
	}
}

// derive turns a raw point into the tracked value, keeping the previous raw
// point for rates. ok is false when the point only seeds or resets.
func (e *engine) derive(b *batch, r *compiledRule, s *series, pt *point) (float64, bool) {
	first := !s.hasPrev
	prevTS := s.prevTS
	s.hasPrev, s.prevTS = true, pt.ts
	switch r.cfg.Value {
	case ValueGauge:
		return pt.x, true
	case ValueCounterRate:
		if !pt.cumulative {
			s.countIncrement(pt.x)
			return deltaRate(pt.x, pt.ts, pt.start, prevTS, first, b)
		}
		prev, prevStart := s.prev, s.prevStart
		s.prev, s.prevStart = pt.x, pt.start
		if first {
			return 0, false
		}
		if pt.x < prev || (pt.start != 0 && prevStart != 0 && pt.start != prevStart) {
			// Reset: the increase across it is unknown, so the interval
			// is skipped rather than guessed (a guess would poison the mean).
			b.skipped[reasonCounterReset]++
			return 0, false
		}
		s.countIncrement(pt.x - prev)
		return (pt.x - prev) / (float64(pt.ts-prevTS) / 1e9), true
	case ValueHistogramMean, ValueHistogramCountRate:
		if kindMean := r.cfg.Value == ValueHistogramMean; kindMean && !pt.hasSum {
			b.skipped[reasonNoValue]++
			return 0, false
		}
		sum, count := pt.x, pt.x2
		if pt.cumulative {
			prevSum, prevCount, prevStart := s.prev, s.prev2, s.prevStart
			s.prev, s.prev2, s.prevStart = sum, count, pt.start
			if first {
				return 0, false
			}
			if count < prevCount || (pt.start != 0 && prevStart != 0 && pt.start != prevStart) {
				b.skipped[reasonCounterReset]++
				return 0, false
			}
			sum, count = sum-prevSum, count-prevCount
		}
		if r.cfg.Value == ValueHistogramCountRate {
			s.countIncrement(count)
			if pt.cumulative {
				return count / (float64(pt.ts-prevTS) / 1e9), true
			}
			return deltaRate(count, pt.ts, pt.start, prevTS, first, b)
		}
		if count == 0 {
			b.skipped[reasonEmptyInterval]++
			return 0, false
		}
		return sum / count, true
	}
	return 0, false
}

// deltaRate is the per-second rate of a delta point: over its own
// [start, ts] window when it has one, else since the previous point.
func deltaRate(x float64, ts, start, prevTS int64, first bool, b *batch) (float64, bool) {
	switch {
	case start > 0 && start < ts:
		return x / (float64(ts-start) / 1e9), true
	case !first:
		return x / (float64(ts-prevTS) / 1e9), true
	}
	b.skipped[reasonEmptyInterval]++
	return 0, false
}
