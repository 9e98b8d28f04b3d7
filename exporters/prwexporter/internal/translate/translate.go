// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package translate converts OTLP metrics into Prometheus remote-write series,
// sharded by series identity, and encodes them as remote-write 1.0 or 2.0
// requests. Naming follows github.com/prometheus/otlptranslator.
//
// The files follow the steps of a translation: translate.go walks the
// export and hands each data point to the emitter of its type (number.go,
// histogram.go for explicit histograms and summaries, exponential.go for
// native histograms, exemplar.go); labels.go builds and hashes label sets;
// series.go holds the shards and series they fill, from arena.go's memory,
// with size.go's estimates of their encoded size; chunk.go cuts shards into
// requests and encode.go encodes them; filter.go selects what a partial
// failure left to retry.
package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Drop reasons, used as the `reason` attribute of the dropped counter.
const (
	ReasonDeltaTemporality = "delta_temporality"
	ReasonInvalidName      = "invalid_metric_name"
	ReasonInvalidLabelName = "invalid_label_name"
	ReasonMissingTimestamp = "missing_timestamp"
	ReasonUnsupportedScale = "unsupported_scale"
	ReasonUnknownType      = "unknown_metric_type"
	ReasonNameCollision    = "name_collision"
	ReasonExemplarTooLong  = "exemplar_labels_too_long"
	ReasonExemplarNoSeries = "exemplar_without_bucket"
	KindDataPoint          = "datapoint"
	KindSample             = "sample"
	KindHistogram          = "histogram"
	KindExemplar           = "exemplar"
	KindLabel              = "label"
)

// Settings configure a Translator.
type Settings struct {
	Namespace        string
	Strategy         otlptranslator.TranslationStrategyOption
	ExternalLabels   map[string]string
	ResourceToLabels bool
	TargetInfo       bool
	ScopeLabels      bool
	Shards           int
	// OpenMetricsFloats formats le and quantile label values as Prometheus
	// 3 stores scraped series (labels.FormatOpenMetricsFloat: 1 → "1.0");
	// otherwise as Prometheus' OTLP endpoint does (strconv 'f': "1").
	OpenMetricsFloats bool
}

// Translator converts pmetric.Metrics into sharded series. It is safe for
// concurrent use: it holds configuration, name caches and the latest
// target_info timestamps (targetInfoClock).
type Translator struct {
	set         Settings
	metricNamer otlptranslator.MetricNamer
	labelNamer  otlptranslator.LabelNamer
	unitNamer   otlptranslator.UnitNamer
	external    []label

	// labelNames caches attribute key → label name: sanitising allocates,
	// and the same few keys repeat in every export. Bounded by maxCachedNames.
	labelNames  sync.Map
	metricNames sync.Map // metricKey → *metricNames, same bound
	cachedNames atomic.Int64

	targetInfos targetInfoClock
}

// New returns a Translator for the settings. Shards below 1 are treated as 1.
func New(set Settings) *Translator {
	if set.Shards < 1 {
		set.Shards = 1
	}
	if set.Strategy == "" {
		set.Strategy = otlptranslator.UnderscoreEscapingWithSuffixes
	}
	t := &Translator{
		set:         set,
		metricNamer: otlptranslator.NewMetricNamer(set.Namespace, set.Strategy),
		labelNamer:  otlptranslator.LabelNamer{UTF8Allowed: !set.Strategy.ShouldEscape()},
		unitNamer:   otlptranslator.UnitNamer{UTF8Allowed: !set.Strategy.ShouldEscape()},
	}
	for k, v := range set.ExternalLabels {
		t.external = append(t.external, label{Name: k, Value: v})
	}
	slices.SortFunc(t.external, func(a, b label) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// Shards returns the number of shards the translator produces.
func (t *Translator) Shards() int { return t.set.Shards }

// DropKey identifies a drop counter.
type DropKey struct{ Kind, Reason string }

// Result is the output of Translate.
type Result struct {
	Shards     []*Shard
	Dropped    map[DropKey]int64
	Collisions int64

	targetInfos map[uint64]int64 // target_info series → latest sample, see targetInfoClock
}

func (r *Result) drop(kind, reason string, n int64) {
	if n <= 0 {
		return
	}
	if r.Dropped == nil {
		r.Dropped = map[DropKey]int64{}
	}
	r.Dropped[DropKey{kind, reason}] += n
}

// Translate converts one export made of one or more batches (queued exports
// merged by the queue's batching); the samples of a series found in several
// are merged in timestamp order.
func (t *Translator) Translate(mds ...pmetric.Metrics) *Result {
	res := &Result{Shards: make([]*Shard, t.set.Shards)}
	// Sized for the series to come, so that the shards' indexes never grow
	// (rehashing them was ~5 % of BenchmarkTranslateEncode).
	series := 0
	for _, md := range mds {
		series += seriesCount(md)
	}
	perShard := series/t.set.Shards + 1
	a := newArena(perShard * t.set.Shards)
	for i := range res.Shards {
		res.Shards[i] = &Shard{index: make(map[uint64]*Series, perShard), Series: make([]*Series, 0, perShard), arena: a}
	}
	for _, md := range mds {
		t.walk(md, func(dp dpRef, shard int, base []label, h uint64) {
			t.emit(res, res.Shards[shard], dp, base, h)
		}, func(kind, reason string, n int64) { res.drop(kind, reason, n) }, func(ri *resourceInfo) {
			t.addTargetInfo(res, ri)
		})
	}
	t.targetInfos.record(res.targetInfos)
	for _, sh := range res.Shards {
		// The lookup index is only needed while the shard is built; freed
		// here, the garbage collector can take it back while it is sent.
		sh.index = nil
		for _, s := range sh.Series {
			if len(s.Samples) > 1 {
				slices.SortStableFunc(s.Samples, func(a, b Sample) int { return cmpInt(a.Timestamp, b.Timestamp) })
			}
		}
	}
	return res
}

// addTargetInfo adds the target_info sample of a resource that has
// resource attributes to report and whose data points were kept, stamped
// with the latest of their timestamps.
func (t *Translator) addTargetInfo(res *Result, ri *resourceInfo) {
	if ri.targetInfo == nil || ri.maxTs == 0 {
		return
	}
	lbls := append([]label{{Name: model.MetricNameLabel, Value: otlptranslator.TargetInfoMetricName}}, ri.targetInfo...)
	lbls = t.finishLabels(lbls)
	h := hashLabels(lbls)
	sh := res.Shards[h%uint64(t.set.Shards)]
	// Not earlier than what an earlier export sent; an export may hold
	// several samples of it (one per batch merged), sorted like any series.
	ts := max(ri.maxTs, t.targetInfos.last(h))
	if res.targetInfos == nil {
		res.targetInfos = map[uint64]int64{}
	}
	res.targetInfos[h] = max(res.targetInfos[h], ts)
	s, dup := sh.get(&seriesKey{base: lbls, group: h, name: otlptranslator.TargetInfoMetricName}, h, &Metadata{Family: otlptranslator.TargetInfoMetricName, Type: model.MetricTypeGauge, Help: "Target metadata"})
	if dup != nil && dup.hasSampleAt(ts) {
		return // target_info for the same resource seen twice: identical, not a collision
	}
	sh.addSample(s, Sample{Value: 1, Timestamp: ts})
}

// maxTargetInfos bounds each of targetInfoClock's two generations.
const maxTargetInfos = 1 << 14

// targetInfoClock keeps target_info in time order across exports. Unlike
// any other series, one target_info series gets samples from every export
// that carries its resource, and an export may be older than the last one:
// the retry of a partly written export holds only the data points not
// written yet (Filter), whose latest timestamp can be earlier than one
// already sent; and the pipelines that share an exporter (the kernel
// receiver's, and the baselines that keep its resources) queue exports of
// one resource stamped at different times. A receiver rejects a sample
// older than the series' last as out of order, and the exporter would drop
// the rest of that request as a permanent failure. So a target_info sample
// is never stamped earlier than the latest one emitted for its series by an
// earlier export: it then repeats that sample (same timestamp, same value),
// which a receiver accepts as a duplicate.
//
// Memory is two generations of at most maxTargetInfos series each (a
// series' hash → its latest timestamp, about 40 bytes an entry): when the
// current one is full it becomes the previous one, and the older is
// forgotten. A series forgotten after 16,384 others have been stamped is
// unordered again: acceptable, since target_info is re-sent with every
// export of its resource.
type targetInfoClock struct {
	mu        sync.Mutex
	cur, prev map[uint64]int64
}

// last returns the latest timestamp recorded for the target_info series h,
// or math.MinInt64.
func (c *targetInfoClock) last(h uint64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts, ok := c.cur[h]; ok {
		return ts
	}
	if ts, ok := c.prev[h]; ok {
		return ts
	}
	return math.MinInt64
}

// record records the latest target_info timestamps of an export.
func (c *targetInfoClock) record(latest map[uint64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, ts := range latest {
		if last, ok := c.cur[h]; ok {
			c.cur[h] = max(last, ts)
			continue
		}
		if last, ok := c.prev[h]; ok {
			ts = max(last, ts)
		}
		if c.cur == nil || len(c.cur) >= maxTargetInfos {
			c.prev, c.cur = c.cur, make(map[uint64]int64)
		}
		c.cur[h] = ts
	}
}

// dpRef points at one data point.
type dpRef struct {
	metric pmetric.Metric
	scope  pcommon.InstrumentationScope
	res    *resourceInfo
	idx    int
	name   string
	typ    otlptranslator.MetricType
	meta   *Metadata
}

func (d dpRef) attrs() pcommon.Map {
	switch d.metric.Type() {
	case pmetric.MetricTypeGauge:
		return d.metric.Gauge().DataPoints().At(d.idx).Attributes()
	case pmetric.MetricTypeSum:
		return d.metric.Sum().DataPoints().At(d.idx).Attributes()
	case pmetric.MetricTypeHistogram:
		return d.metric.Histogram().DataPoints().At(d.idx).Attributes()
	case pmetric.MetricTypeExponentialHistogram:
		return d.metric.ExponentialHistogram().DataPoints().At(d.idx).Attributes()
	case pmetric.MetricTypeSummary:
		return d.metric.Summary().DataPoints().At(d.idx).Attributes()
	}
	return pcommon.NewMap()
}

func forEachDP(m pmetric.Metric, f func(idx int)) {
	n := 0
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		n = m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		n = m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		n = m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		n = m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		n = m.Summary().DataPoints().Len()
	}
	for i := 0; i < n; i++ {
		f(i)
	}
}

// walk visits every translatable data point with its shard; per resource it
// calls done after the resource's data points were visited.
func (t *Translator) walk(md pmetric.Metrics, visit func(dp dpRef, shard int, base []label, hash uint64), drop func(kind, reason string, n int64), done func(*resourceInfo)) {
	var scratch []label // base labels of the current data point, copied when kept
	ints := new(intStrings)
	var metas []Metadata // one per metric, allocated 64 at a time
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		ri := t.resourceInfo(rm.Resource(), drop)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				n := int64(dataPointCount(m))
				typ, ok := metricType(m)
				if !ok {
					if m.Type() == pmetric.MetricTypeEmpty {
						drop(KindDataPoint, ReasonUnknownType, max(n, 1))
					} else {
						drop(KindDataPoint, ReasonDeltaTemporality, n)
					}
					continue
				}
				names := t.metricName(m, typ)
				name := names.name
				if names.err != nil || name == "" || (!t.set.Strategy.ShouldEscape() && !utf8.ValidString(name)) {
					drop(KindDataPoint, ReasonInvalidName, n)
					continue
				}
				if len(metas) == cap(metas) {
					metas = make([]Metadata, 0, 64)
				}
				metas = append(metas, Metadata{Family: name, Type: promType(typ), Help: m.Description(), Unit: names.unit, openMetricsFloats: t.set.OpenMetricsFloats,
					bucket: names.bucket, sum: names.sum, count: names.count})
				meta := &metas[len(metas)-1]
				forEachDP(m, func(idx int) {
					dp := dpRef{metric: m, scope: sm.Scope(), res: ri, idx: idx, name: name, typ: typ, meta: meta}
					base, ok := t.baseLabels(scratch[:0], dp, ints, drop)
					scratch = base
					if !ok {
						drop(KindDataPoint, ReasonInvalidName, 1)
						return
					}
					h := hashLabels(base)
					visit(dp, int(h%uint64(t.set.Shards)), base, h)
				})
			}
		}
		if done != nil {
			done(ri)
		}
	}
}

// seriesCount is the number of series md's data points become, about: one
// per data point, and a histogram's buckets, or a summary's quantiles, and
// their _sum and _count (target_info and dropped data points aside).
func seriesCount(md pmetric.Metrics) int {
	n := 0
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						n += dp.ExplicitBounds().Len() + 3
					}
				case pmetric.MetricTypeSummary:
					for _, dp := range m.Summary().DataPoints().All() {
						n += dp.QuantileValues().Len() + 2
					}
				default:
					n += dataPointCount(m)
				}
			}
		}
	}
	return n
}

func dataPointCount(m pmetric.Metric) int {
	n := 0
	forEachDP(m, func(int) { n++ })
	return n
}

// metricType maps an OTLP metric to its Prometheus type; ok is false for
// delta temporality and unknown types. Delta data are dropped and counted
// rather than converted: a delta→cumulative conversion needs per-series state
// that is lost on restart and breaks with several collector replicas, which
// would produce wrong counters silently. Run the deltatocumulative processor
// upstream if delta sources must be exported.
func metricType(m pmetric.Metric) (otlptranslator.MetricType, bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return otlptranslator.MetricTypeGauge, true
	case pmetric.MetricTypeSum:
		if m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return 0, false
		}
		if m.Sum().IsMonotonic() {
			return otlptranslator.MetricTypeMonotonicCounter, true
		}
		return otlptranslator.MetricTypeNonMonotonicCounter, true
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return 0, false
		}
		return otlptranslator.MetricTypeHistogram, true
	case pmetric.MetricTypeExponentialHistogram:
		if m.ExponentialHistogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return 0, false
		}
		return otlptranslator.MetricTypeExponentialHistogram, true
	case pmetric.MetricTypeSummary:
		return otlptranslator.MetricTypeSummary, true
	}
	return 0, false
}

func promType(t otlptranslator.MetricType) model.MetricType {
	switch t {
	case otlptranslator.MetricTypeMonotonicCounter:
		return model.MetricTypeCounter
	case otlptranslator.MetricTypeHistogram, otlptranslator.MetricTypeExponentialHistogram:
		return model.MetricTypeHistogram
	case otlptranslator.MetricTypeSummary:
		return model.MetricTypeSummary
	}
	return model.MetricTypeGauge
}

func msOf(ts pcommon.Timestamp) int64 { return int64(ts) / 1e6 }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// emit translates one data point into its shard.
func (t *Translator) emit(res *Result, sh *Shard, dp dpRef, base []label, baseHash uint64) {
	e := pointEmitter{t: t, res: res, sh: sh, dp: dp, key: seriesKey{base: base, group: baseHash}}
	m := dp.metric
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		e.number(m.Gauge().DataPoints().At(dp.idx))
	case pmetric.MetricTypeSum:
		e.number(m.Sum().DataPoints().At(dp.idx))
	case pmetric.MetricTypeHistogram:
		e.histogram(m.Histogram().DataPoints().At(dp.idx))
	case pmetric.MetricTypeSummary:
		e.summary(m.Summary().DataPoints().At(dp.idx))
	case pmetric.MetricTypeExponentialHistogram:
		e.exponentialHistogram(m.ExponentialHistogram().DataPoints().At(dp.idx))
	}
}

// pointEmitter adds the series of one data point to its shard: one series
// for a gauge, a counter or an exponential histogram, several for a
// histogram or a summary (buckets or quantiles, _sum, _count). The series
// of a data point differ only in their name and extra label: key is reused
// for each of them, so that they all share one stored copy of the data
// point's labels (key.kept, made when the first of them is created).
type pointEmitter struct {
	t   *Translator
	res *Result
	sh  *Shard
	dp  dpRef
	key seriesKey
}

// series returns the series named name with the extra label (le or
// quantile; none if extra.Name is ""), creating it if needed. ok is false if
// the series already has a point at ts: a second OTLP series that maps to
// the same Prometheus series is a name collision, counted (as a drop of
// kind) and dropped: the first one wins.
func (e *pointEmitter) series(name string, extra label, ts int64, kind string) (s *Series, ok bool) {
	e.key.name, e.key.extra = name, extra
	h := e.key.group // the family's own series has exactly the data point's labels
	if name != e.dp.name || extra.Name != "" {
		h = e.key.hash(&e.sh.arena.hashed)
	}
	s, existing := e.sh.get(&e.key, h, e.dp.meta)
	if existing != nil && existing.hasSampleAt(ts) {
		e.res.Collisions++
		e.res.drop(kind, ReasonNameCollision, 1)
		return nil, false
	}
	return s, true
}

// sample adds a float sample, and its exemplars, to the series named name
// with the extra label; false if it was dropped as a name collision.
func (e *pointEmitter) sample(name string, extra label, x Sample, ex []prompb.Exemplar) bool {
	s, ok := e.series(name, extra, x.Timestamp, KindSample)
	if !ok {
		return false
	}
	e.sh.addSample(s, x)
	e.addExemplars(s, ex)
	return true
}

// addExemplars adds exemplars to s and their size to the shard's estimate.
func (e *pointEmitter) addExemplars(s *Series, ex []prompb.Exemplar) {
	if len(ex) == 0 {
		return
	}
	r := s.rareData()
	r.exemplars = append(r.exemplars, ex...)
	e.sh.est += exemplarsSize(ex)
}

// seen records that the data point's resource has data at ts (target_info
// is stamped with the latest).
func (e *pointEmitter) seen(ts int64) { e.dp.res.maxTs = max(e.dp.res.maxTs, ts) }

// timestamp returns the data point's timestamp in ms. A data point without
// one cannot be sent: ok is false, and it is counted as n dropped items of
// kind.
func (e *pointEmitter) timestamp(ts pcommon.Timestamp, kind string, n int64) (ms int64, ok bool) {
	if ms = msOf(ts); ms == 0 {
		e.res.drop(kind, ReasonMissingTimestamp, n)
		return 0, false
	}
	return ms, true
}

// familySample starts the samples of a histogram or summary data point:
// all its series share its timestamp and start timestamp. ok is false when
// the point has no timestamp (see timestamp; n is its number of series).
func (e *pointEmitter) familySample(ts, start pcommon.Timestamp, n int64) (x Sample, ok bool) {
	ms, ok := e.timestamp(ts, KindSample, n)
	if !ok {
		return Sample{}, false
	}
	e.seen(ms)
	return Sample{Timestamp: ms, Start: msOf(start)}, true
}
