// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
)

// Skip reasons, the `reason` attribute of connector_ewma_baseline_skipped_points.
const (
	reasonNaNInf = iota
	reasonOutOfOrder
	reasonDuplicate
	reasonTypeChange
	reasonUnsupportedType
	reasonCounterReset
	reasonNoValue
	reasonEmptyInterval
	reasonMaxSeries
	numReasons
)

var reasonNames = [numReasons]string{
	"nan_inf", "out_of_order", "duplicate_timestamp", "type_change", "unsupported_type",
	"counter_reset", "no_value", "empty_interval", "max_series",
}

// Output metric suffixes (after the value-kind suffix, see ValueKind.outputSuffix).
const (
	outBaseline = iota
	outUpper
	outLower
	outScore
	outAlert
	numOutputs
)

var (
	outputNames    = [numOutputs]string{"baseline", "upper", "lower", "score", "alert"}
	outputSuffixes = [numOutputs]string{"_baseline", "_upper", "_lower", "_score", "_alert"}
)

var outputDescriptions = [numOutputs]string{
	"EWMA baseline the sample was judged against.",
	"Upper band: baseline + k·σ.",
	"Lower band: baseline − k·σ.",
	"Anomaly score |x − baseline| / σ.",
	"Alert state: 1 while firing, else 0.",
}

// maxNameCache bounds the metric name → rules cache; it is cleared when full.
const maxNameCache = 4096

type compiledRule struct {
	cfg    *RuleConfig
	p      params
	re     *regexp.Regexp
	seed   uint64 // hash of the rule name: part of every series key of the rule
	suffix string
	emit   []int // output indexes to emit, in output order
}

// engine holds the state table shared by the connector's instances.
type engine struct {
	cfg   *Config
	id    component.ID
	set   component.TelemetrySettings
	tb    *metadata.TelemetryBuilder
	rules []compiledRule
	now   func() time.Time

	reasonOpts [numReasons]metric.AddOption
	transOpts  [5]metric.AddOption

	mu    sync.Mutex
	index seriesIndex
	slab  []series
	free  []int32
	// slots holds the seasonal slots of all series, p.slots consecutive
	// ones per series of a seasonal rule (series.soff); freeSlots lists
	// released runs by length. Kept apart so series has no pointers.
	slots     []slot
	freeSlots map[int][]int32
	nameCache map[string][]uint16
	// alerts holds, for firing series only, what Alertmanager needs to
	// re-send them (labels are strings, so they stay out of series).
	alerts map[uint64]*alertInfo

	// set while the factory builds the instances, read-only after Start
	metricsOut consumer.Metrics
	logsOut    consumer.Logs

	// lifecycle (guarded by lifeMu)
	lifeMu    sync.Mutex
	instances int
	started   bool
	stopCh    chan struct{}
	wg        sync.WaitGroup
	store     storage.Client
	am        *amClient
	lastSave  time.Time
	release   func() // removes the engine from its factory

	trackedReported int64 // guarded by mu
}

func newEngine(cfg *Config, id component.ID, set component.TelemetrySettings) (*engine, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, fmt.Errorf("ewma_baseline: telemetry: %w", err)
	}
	e := &engine{
		cfg:       cfg,
		id:        id,
		set:       set,
		tb:        tb,
		now:       time.Now,
		nameCache: make(map[string][]uint16),
		alerts:    make(map[uint64]*alertInfo),
		freeSlots: make(map[int][]int32),
	}
	for i := range reasonNames {
		e.reasonOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNames[i])))
	}
	for t := transPending; t <= transCancelled; t++ {
		e.transOpts[t] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", t.String())))
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		cr := compiledRule{cfg: r, p: newParams(r), seed: xxhash.Sum64String("rule\x00" + r.Name), suffix: r.Value.outputSuffix()}
		for o := range numOutputs {
			for _, name := range r.Outputs {
				if name == outputNames[o] {
					cr.emit = append(cr.emit, o)
				}
			}
		}
		if r.MetricRegex != "" {
			re, err := regexp.Compile("^(?:" + r.MetricRegex + ")$")
			if err != nil {
				return nil, fmt.Errorf("rules[%d]: `metric_regex` (%q): %w", i, r.MetricRegex, err)
			}
			cr.re = re
		}
		e.rules = append(e.rules, cr)
	}
	return e, nil
}

// rulesFor returns the indexes of the rules that match a metric name.
func (e *engine) rulesFor(name string) []uint16 {
	if rs, ok := e.nameCache[name]; ok {
		return rs
	}
	var rs []uint16
	for i := range e.rules {
		r := &e.rules[i]
		if (r.re == nil && r.cfg.Metric == name) || (r.re != nil && r.re.MatchString(name)) {
			rs = append(rs, uint16(i))
		}
	}
	if len(e.nameCache) >= maxNameCache {
		clear(e.nameCache)
	}
	e.nameCache[name] = rs
	return rs
}

// batch collects the outputs of one ConsumeMetrics call.
type batch struct {
	now     int64
	skipped [numReasons]int64
	trans   [5]int64
	points  int64
	metrics pmetric.Metrics
	logs    plog.Logs
	// per resource, created lazily
	logSL plog.ScopeLogs
	hasSL bool
	res   pcommon.Resource
	resN  int // index of res in the input, to group output resources
	// what the derived series need, recorded under the lock and turned
	// into pdata after it (see emitOutputs)
	sc *scratch
}

// scratch holds the derived values of one batch between the state update
// (under e.mu) and building the output pdata (outside it). Pooled: a batch
// of 1000 points needs ~64 KB of records.
type scratch struct {
	groups []outGroup
	recs   []outRec
	keys   []uint64 // series key of each point of the current metric
	hints  []int32  // their slab index found by probe, -1 if not (yet) tracked
	// touched keeps probe's reads of the series live (the value is unused).
	touched int64
}

// outGroup is one (input metric, rule) pair with points to emit: its
// output metrics hold the recs from start to the next group's start (records
// are only appended to the group opened last).
type outGroup struct {
	res   pcommon.Resource
	resN  int
	m     pmetric.Metric
	r     *compiledRule
	start int
}

// outRec is one emitted sample: the output values at the timestamp of the
// group's input point dp (whose attributes the outputs copy). No pointers,
// so the GC does not scan the scratch.
type outRec struct {
	ts   int64
	dp   int
	vals [numOutputs]float64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledRecs bounds what a pooled scratch keeps (64k records, ~3.5 MB).
const maxPooledRecs = 1 << 16

func (b *batch) scopeLogs() plog.ScopeLogs {
	if !b.hasSL {
		rl := b.logs.ResourceLogs().AppendEmpty()
		b.res.CopyTo(rl.Resource())
		b.logSL = rl.ScopeLogs().AppendEmpty()
		b.logSL.Scope().SetName(metadata.ScopeName)
		b.hasSL = true
	}
	return b.logSL
}

// consume runs one batch through the engine and forwards the outputs.
func (e *engine) consume(ctx context.Context, md pmetric.Metrics) error {
	b := e.process(md)
	var errs []error
	if e.metricsOut != nil && b.metrics.DataPointCount() > 0 {
		if err := e.metricsOut.ConsumeMetrics(ctx, b.metrics); err != nil {
			errs = append(errs, err)
		}
	}
	if e.logsOut != nil && b.logs.LogRecordCount() > 0 {
		if err := e.logsOut.ConsumeLogs(ctx, b.logs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// process updates the state with md and returns the derived metrics and logs.
//
// The lock covers only the state: hashing, lookup, update, verdict and the
// (rare) transition records. The derived pdata points, most of the cost
// (an allocation per point, per attribute slice and per string value), are
// built after it from the recorded values, so concurrent callers do not
// serialise on them.
func (e *engine) process(md pmetric.Metrics) *batch {
	b := &batch{metrics: pmetric.NewMetrics(), logs: plog.NewLogs(), sc: scratchPool.Get().(*scratch)}
	e.mu.Lock()
	b.now = e.now().UnixNano()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		b.res, b.resN, b.hasSL = rm.Resource(), i, false
		resHash, resHashed := uint64(0), false
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				rs := e.rulesFor(m.Name())
				if len(rs) == 0 {
					continue
				}
				if !resHashed {
					resHash, resHashed = mapHash(rm.Resource().Attributes()), true
				}
				nameHash := xxhash.Sum64String(m.Name())
				for _, ri := range rs {
					e.processMetric(b, ri, m, nameHash, resHash)
				}
			}
		}
	}
	tracked := int64(e.index.len())
	dTracked := tracked - e.trackedReported
	e.trackedReported = tracked
	e.mu.Unlock()
	e.emitOutputs(b)
	e.record(b, dTracked)
	return b
}

// emitOutputs builds the derived metrics from the recorded values and
// returns the scratch to its pool.
func (e *engine) emitOutputs(b *batch) {
	sc := b.sc
	b.sc = nil
	resN := -1
	var sm pmetric.ScopeMetrics
	for gi := range sc.groups {
		g := &sc.groups[gi]
		if g.resN != resN {
			rm := b.metrics.ResourceMetrics().AppendEmpty()
			g.res.CopyTo(rm.Resource())
			sm = rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(metadata.ScopeName)
			resN = g.resN
		}
		end := len(sc.recs)
		if gi+1 < len(sc.groups) {
			end = sc.groups[gi+1].start
		}
		recs := sc.recs[g.start:end]
		o := newOutputs(sm, g.m, g.r, len(recs))
		all := len(g.r.cfg.Attributes) == 0
		attrsOf := pointAttrs(g.m)
		for k := range recs {
			rec := &recs[k]
			attrs := attrsOf(rec.dp)
			for _, i := range g.r.emit {
				dp := o[i].AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(rec.ts))
				dp.SetDoubleValue(rec.vals[i])
				if all {
					attrs.CopyTo(dp.Attributes())
				} else {
					copySelected(attrs, g.r.cfg.Attributes, dp.Attributes())
				}
			}
		}
	}
	// Drop the references into the input before pooling; a scratch grown
	// by an unusually large batch is left to the GC rather than kept.
	clear(sc.groups)
	sc.groups, sc.recs = sc.groups[:0], sc.recs[:0]
	if cap(sc.recs) <= maxPooledRecs {
		scratchPool.Put(sc)
	}
}

// pointAttrs returns the accessor of m's data point attributes.
func pointAttrs(m pmetric.Metric) func(i int) pcommon.Map {
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		return func(i int) pcommon.Map { return dps.At(i).Attributes() }
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		return func(i int) pcommon.Map { return dps.At(i).Attributes() }
	}
	dps := numberPoints(m)
	return func(i int) pcommon.Map { return dps.At(i).Attributes() }
}

// record adds a batch's counts to the self-telemetry, outside the lock.
func (e *engine) record(b *batch, dTracked int64) {
	ctx := context.Background()
	if dTracked != 0 {
		e.tb.ConnectorEwmaBaselineTrackedSeries.Add(ctx, dTracked)
	}
	if b.points > 0 {
		e.tb.ConnectorEwmaBaselineProcessedPoints.Add(ctx, b.points)
	}
	for r, n := range b.skipped {
		if n > 0 {
			e.tb.ConnectorEwmaBaselineSkippedPoints.Add(ctx, n, e.reasonOpts[r])
		}
	}
	for t, n := range b.trans {
		if n > 0 {
			e.tb.ConnectorEwmaBaselineAlertTransitions.Add(ctx, n, e.transOpts[t])
		}
	}
}

// outputs are the five derived metrics of one (input metric, rule) pair.
type outputs [numOutputs]pmetric.NumberDataPointSlice

func newOutputs(sm pmetric.ScopeMetrics, m pmetric.Metric, r *compiledRule, npoints int) outputs {
	var o outputs
	unit := m.Unit()
	if r.cfg.Value == ValueCounterRate || r.cfg.Value == ValueHistogramCountRate {
		if unit == "" {
			unit = "1"
		}
		unit += "/s"
	}
	for _, i := range r.emit {
		om := sm.Metrics().AppendEmpty()
		om.SetName(m.Name() + r.suffix + outputSuffixes[i])
		om.SetDescription(outputDescriptions[i])
		// Score and alert are dimensionless but carry no unit: with "1"
		// Prometheus' OTLP naming would rename them to *_ratio.
		if i != outScore && i != outAlert {
			om.SetUnit(unit)
		}
		o[i] = om.SetEmptyGauge().DataPoints()
		o[i].EnsureCapacity(npoints)
	}
	return o
}

// probe computes the series keys of a metric's n points and looks them all
// up before any is processed. The lookups are independent, so their cache
// misses (index entry, then series) overlap instead of being paid one after
// another; with 100k series each is a likely miss to memory.
func (e *engine) probe(b *batch, r *compiledRule, nameHash, resHash uint64, n int, attrs func(i int) pcommon.Map) {
	sc := b.sc
	sc.keys = slices.Grow(sc.keys[:0], n)[:n]
	sc.hints = slices.Grow(sc.hints[:0], n)[:n]
	for i := range n {
		sc.keys[i] = e.seriesKey(r, nameHash, resHash, attrs(i), b.res)
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
	// The output metrics of this pair exist once a point reaches the state
	// (even if none of them ends up emitted), as before the split.
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
		if kind != ValueHistogramMean && kind != ValueHistogramCountRate {
			b.skipped[reasonUnsupportedType] += int64(m.Histogram().DataPoints().Len())
			return
		}
		cumulative := m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := m.Histogram().DataPoints()
		begin(dps.Len())
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			e.observePoint(b, r, ri, m, uint8(mtype), &point{dp: i, key: sc.keys[i], hint: sc.hints[i], ts: int64(dp.Timestamp()),
				start: int64(dp.StartTimestamp()), attrs: dp.Attributes(), exemplars: dp.Exemplars(),
				noValue: dp.Flags().NoRecordedValue(), cumulative: cumulative, x: dp.Sum(), x2: float64(dp.Count()),
				hasSum: dp.HasSum()})
		}
	case pmetric.MetricTypeExponentialHistogram:
		if kind != ValueHistogramMean && kind != ValueHistogramCountRate {
			b.skipped[reasonUnsupportedType] += int64(m.ExponentialHistogram().DataPoints().Len())
			return
		}
		cumulative := m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := m.ExponentialHistogram().DataPoints()
		begin(dps.Len())
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			e.observePoint(b, r, ri, m, uint8(mtype), &point{dp: i, key: sc.keys[i], hint: sc.hints[i], ts: int64(dp.Timestamp()),
				start: int64(dp.StartTimestamp()), attrs: dp.Attributes(), exemplars: dp.Exemplars(),
				noValue: dp.Flags().NoRecordedValue(), cumulative: cumulative, x: dp.Sum(), x2: float64(dp.Count()),
				hasSum: dp.HasSum()})
		}
	default:
		// Summary and Empty: nothing to baseline.
		b.skipped[reasonUnsupportedType]++
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

// seriesKey hashes the rule, metric name and identifying attributes.
//
// 64 bits: with n series the chance of any collision is about n²/2⁶⁵, 3·10⁻¹⁰
// at 100k series and 3·10⁻⁸ at 1M. A collision makes two series share one
// baseline (wrong numbers for both, never a crash); we accept that for a
// 8-byte key instead of storing label strings per series.
//
// It never returns 0, the index's empty marker.
func (e *engine) seriesKey(r *compiledRule, nameHash, resHash uint64, attrs pcommon.Map, res pcommon.Resource) uint64 {
	h := mix64(r.seed ^ nameHash)
	if len(r.cfg.Attributes) == 0 {
		return max(1, mix64(h+resHash*0x9E3779B97F4A7C15+mix64(mapHash(attrs))*0xC2B2AE3D27D4EB4F))
	}
	for _, k := range r.cfg.Attributes {
		v, ok := attrs.Get(k)
		if !ok {
			v, ok = res.Attributes().Get(k)
		}
		ph := uint64(0x51_7C_C1_B7_27_22_0A_95) // marker for "absent"
		if ok {
			ph = pairHash(k, v)
		}
		h = mix64(h ^ ph)
	}
	return max(1, h)
}

// mapHash is an order-independent hash of a map: the sum of its pair
// hashes, so the same attributes in another order give the same series.
func mapHash(m pcommon.Map) uint64 {
	var h uint64
	for k, v := range m.All() {
		h += pairHash(k, v)
	}
	return h
}

func pairHash(k string, v pcommon.Value) uint64 {
	return mix64(xxhash.Sum64String(k)*0xFF51AFD7ED558CCD ^ valueHash(v))
}

func valueHash(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return xxhash.Sum64String(v.Str())
	case pcommon.ValueTypeInt:
		return mix64(uint64(v.Int()) ^ 1)
	case pcommon.ValueTypeDouble:
		return mix64(math.Float64bits(v.Double()) ^ 2)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return 3
		}
		return 4
	case pcommon.ValueTypeBytes:
		return xxhash.Sum64(v.Bytes().AsRaw()) ^ 5
	case pcommon.ValueTypeEmpty:
		return 6
	}
	// Maps and slices: rare in metric attributes; AsString allocates.
	return xxhash.Sum64String(v.AsString()) ^ 7
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// lookup returns the series for key, creating it if there is room.
func (e *engine) lookup(key uint64, ri uint16, dtype uint8) (*series, bool) {
	if idx, ok := e.index.get(key); ok {
		return &e.slab[idx], true
	}
	if e.index.len() >= e.cfg.MaxSeries {
		return nil, false
	}
	var idx int32
	if n := len(e.free); n > 0 {
		idx = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		e.slab = append(e.slab, series{})
		idx = int32(len(e.slab) - 1)
	}
	e.slab[idx] = series{key: key, rule: ri, dtype: dtype, soff: e.allocSlots(e.rules[ri].p.slots)}
	e.index.put(key, idx)
	return &e.slab[idx], true
}

// allocSlots reserves n zeroed seasonal slots and returns the first one's
// index (0 and nothing reserved for n == 0).
func (e *engine) allocSlots(n int) int32 {
	if n == 0 {
		return 0
	}
	if fl := e.freeSlots[n]; len(fl) > 0 {
		off := fl[len(fl)-1]
		e.freeSlots[n] = fl[:len(fl)-1]
		clear(e.slots[off : int(off)+n])
		return off
	}
	off := int32(len(e.slots))
	e.slots = append(e.slots, make([]slot, n)...)
	return off
}

// seasonOf returns the seasonal slots of s (nil without seasonality).
func (e *engine) seasonOf(s *series) []slot {
	n := e.rules[s.rule].p.slots
	if n == 0 {
		return nil
	}
	return e.slots[s.soff : int(s.soff)+n : int(s.soff)+n]
}

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
			vals: [numOutputs]float64{res.baseline, upper, lower, res.score, alert}})
	}
	if res.trans != transNone {
		b.trans[res.trans]++
		e.transitionLog(b, r, m, s, pt, x, res, upper, lower)
		e.alertmanagerNotify(b, r, m, s, pt, x, res, upper, lower)
	}
}

func copySelected(from pcommon.Map, keys []string, to pcommon.Map) {
	for _, k := range keys {
		if v, ok := from.Get(k); ok {
			v.CopyTo(to.PutEmpty(k))
		}
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

var severities = [5]struct {
	num  plog.SeverityNumber
	text string
}{
	transPending:   {plog.SeverityNumberInfo, "INFO"},
	transFiring:    {plog.SeverityNumberWarn, "WARN"},
	transResolved:  {plog.SeverityNumberInfo, "INFO"},
	transCancelled: {plog.SeverityNumberDebug, "DEBUG"},
}

// transitionLog appends one log record for an alert transition.
func (e *engine) transitionLog(b *batch, r *compiledRule, m pmetric.Metric, s *series, pt *point, x float64, res result, upper, lower float64) {
	lr := b.scopeLogs().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.Timestamp(pt.ts))
	lr.SetObservedTimestamp(pcommon.Timestamp(b.now))
	sev := severities[res.trans]
	lr.SetSeverityNumber(sev.num)
	lr.SetSeverityText(sev.text)
	lr.SetEventName("vigil.ewma_baseline.alert")
	name := m.Name() + r.suffix
	lr.Body().SetStr(fmt.Sprintf("%s: %s = %s, baseline %s, band [%s, %s], score %.2f (rule %s)",
		res.trans, name, fmtFloat(x), fmtFloat(res.baseline), fmtFloat(lower), fmtFloat(upper), res.score, r.cfg.Name))
	attrs := lr.Attributes()
	if len(r.cfg.Attributes) == 0 {
		pt.attrs.CopyTo(attrs)
	} else {
		copySelected(pt.attrs, r.cfg.Attributes, attrs)
	}
	attrs.PutStr("alert.state", res.trans.String())
	attrs.PutStr("alert.rule", r.cfg.Name)
	attrs.PutStr("alert.fingerprint", fingerprint(s.key))
	attrs.PutStr("metric.name", name)
	attrs.PutDouble("alert.value", x)
	attrs.PutDouble("alert.baseline", res.baseline)
	attrs.PutDouble("alert.band.lower", lower)
	attrs.PutDouble("alert.band.upper", upper)
	attrs.PutDouble("alert.score", res.score)
	attrs.PutDouble("alert.k", r.p.k)
	// Trace-friendly: link the record to the newest exemplar's trace.
	for i := pt.exemplars.Len() - 1; i >= 0; i-- {
		ex := pt.exemplars.At(i)
		if !ex.TraceID().IsEmpty() {
			lr.SetTraceID(ex.TraceID())
			lr.SetSpanID(ex.SpanID())
			break
		}
	}
}

func fingerprint(key uint64) string {
	var buf [8]byte
	for i := range 8 {
		buf[i] = byte(key >> (56 - 8*i))
	}
	return hex.EncodeToString(buf[:])
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

// evictIdle removes series idle for longer than idle_timeout.
func (e *engine) evictIdle() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	cutoff := e.now().Add(-e.cfg.IdleTimeout).UnixNano()
	n := 0
	for i := range e.slab {
		s := &e.slab[i]
		if s.key == 0 && s.lastSeen == 0 {
			continue // free slot
		}
		if s.lastSeen < cutoff {
			e.index.del(s.key)
			delete(e.alerts, s.key)
			if n := e.rules[s.rule].p.slots; n > 0 {
				e.freeSlots[n] = append(e.freeSlots[n], s.soff)
			}
			*s = series{}
			e.free = append(e.free, int32(i))
			n++
		}
	}
	return n
}

func (e *engine) logger() *zap.Logger { return e.set.Logger }
