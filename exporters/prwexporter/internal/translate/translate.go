// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package translate converts OTLP metrics into Prometheus remote-write series,
// sharded by series identity, and encodes them as remote-write 1.0 or 2.0
// requests. Naming follows github.com/prometheus/otlptranslator.
package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Drop reasons, used as the `reason` attribute of the dropped counter.
const (
	ReasonDeltaTemporality  = "delta_temporality"
	ReasonInvalidName       = "invalid_metric_name"
	ReasonInvalidLabelName  = "invalid_label_name"
	ReasonMissingTimestamp  = "missing_timestamp"
	ReasonUnsupportedScale  = "unsupported_scale"
	ReasonUnknownType       = "unknown_metric_type"
	ReasonNameCollision     = "name_collision"
	ReasonExemplarTooLong   = "exemplar_labels_too_long"
	ReasonExemplarNoSeries  = "exemplar_without_bucket"
	KindDataPoint           = "datapoint"
	KindSample              = "sample"
	KindHistogram           = "histogram"
	KindExemplar            = "exemplar"
	KindLabel               = "label"
	maxExemplarLabelsRunes  = 128 // Prometheus rejects exemplars whose labels exceed this (exemplar.ExemplarMaxLabelSetLength).
	nativeHistogramMaxScale = 8
	nativeHistogramMinScale = -4
)

// Settings configure a Translator.
type Settings struct {
	Namespace        string
	Strategy         otlptranslator.TranslationStrategyOption
	ExternalLabels   map[string]string
	ResourceToLabels bool
	TargetInfo       bool
	ScopeLabels      bool
	SendMetadata     bool
	Shards           int
}

// Translator converts pmetric.Metrics into sharded series. It is safe for
// concurrent use: it holds configuration only.
type Translator struct {
	set         Settings
	metricNamer otlptranslator.MetricNamer
	labelNamer  otlptranslator.LabelNamer
	unitNamer   otlptranslator.UnitNamer
	external    []label

	// labelNames caches attribute key → label name: sanitising allocates,
	// and the same few keys repeat in every export. Bounded by maxCachedNames.
	labelNames  sync.Map
	metricNames sync.Map // metricKey → labelNameResult, same bound
	cachedNames atomic.Int64
}

type metricKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

// metricName caches the otlptranslator name of a metric: building it splits
// and joins the name and unit, several allocations per metric per export.
func (t *Translator) metricName(m pmetric.Metric, typ otlptranslator.MetricType) (string, error) {
	k := metricKey{m.Name(), m.Unit(), typ}
	if v, ok := t.metricNames.Load(k); ok {
		r := v.(labelNameResult)
		return r.name, r.err
	}
	name, err := t.metricNamer.Build(otlptranslator.Metric{Name: k.name, Unit: k.unit, Type: typ})
	if t.cachedNames.Load() < maxCachedNames {
		if _, loaded := t.metricNames.LoadOrStore(k, labelNameResult{name, err}); !loaded {
			t.cachedNames.Add(1)
		}
	}
	return name, err
}

const maxCachedNames = 10000

type labelNameResult struct {
	name string
	err  error
}

func (t *Translator) labelName(k string) (string, error) {
	if v, ok := t.labelNames.Load(k); ok {
		r := v.(labelNameResult)
		return r.name, r.err
	}
	name, err := t.labelNamer.Build(k)
	if t.cachedNames.Load() < maxCachedNames {
		if _, loaded := t.labelNames.LoadOrStore(k, labelNameResult{name, err}); !loaded {
			t.cachedNames.Add(1)
		}
	}
	return name, err
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

// Metadata describes a metric family.
type Metadata struct {
	Family string
	Type   model.MetricType
	Help   string
	Unit   string

	// Names of the series derived from a histogram or summary family, built
	// once per metric rather than once per data point.
	bucket, sum, count string
	// The le label values of the last explicit bounds seen in this family:
	// the data points of one histogram almost always share their bounds.
	bounds    []float64
	boundStrs []string
}

// boundLabels returns the le values for bounds, formatted once per family.
func (m *Metadata) boundLabels(bounds pcommon.Float64Slice) []string {
	same := len(m.boundStrs) == bounds.Len()
	for i := 0; same && i < bounds.Len(); i++ {
		same = m.bounds[i] == bounds.At(i) || (math.IsNaN(m.bounds[i]) && math.IsNaN(bounds.At(i)))
	}
	if !same {
		m.bounds = bounds.AsRaw()
		m.boundStrs = make([]string, len(m.bounds))
		for i, b := range m.bounds {
			m.boundStrs[i] = formatFloat(b)
		}
	}
	return m.boundStrs
}

// Sample is a float sample with its start ("created") timestamp, both in ms.
type Sample struct {
	Value     float64
	Timestamp int64
	Start     int64
}

// Series is one Prometheus series with everything sent for it in a request.
//
// Its labels are not stored as one list: the series derived from one data
// point (the buckets, _sum and _count of a histogram) share the data point's
// labels and differ only in __name__ and one le or quantile label. Keeping
// them apart saves a copy of every label per derived series, which was most
// of the exporter's memory traffic; Labels and labelCursor put them together.
type Series struct {
	base  *dpLabels // the data point's labels
	name  string    // this series' __name__
	extra label     // le or quantile; Name is "" when there is none

	Samples []Sample
	Meta    *Metadata
	hash    uint64
	next    *Series // next series of the shard with the same hash
	rare    *rareData
}

// dpLabels are the labels of one data point, shared by the series derived
// from it. The series of one data point, and of every data point with the
// same labels, form a group: group is the hash of the labels, by which
// Translate shards, Chunks cuts and Filter selects.
type dpLabels struct {
	labels []label // sorted by name, with __name__
	group  uint64
	size   int // estimated encoded size of labels (baseSize)
}

// rareData is what few series have; apart, it keeps Series small.
type rareData struct {
	histograms []prompb.Histogram // native histograms (1.0 representation)
	histStarts []int64            // start timestamp (ms) of each histogram
	exemplars  []prompb.Exemplar
}

// Histograms returns the series' native histograms (1.0 representation).
func (s *Series) Histograms() []prompb.Histogram {
	if s.rare == nil {
		return nil
	}
	return s.rare.histograms
}

// HistStarts returns the start timestamp (ms) of each histogram.
func (s *Series) HistStarts() []int64 {
	if s.rare == nil {
		return nil
	}
	return s.rare.histStarts
}

// Exemplars returns the series' exemplars.
func (s *Series) Exemplars() []prompb.Exemplar {
	if s.rare == nil {
		return nil
	}
	return s.rare.exemplars
}

func (s *Series) rareData() *rareData {
	if s.rare == nil {
		s.rare = &rareData{}
	}
	return s.rare
}

// Shard is the part of a request that goes to one sender.
type Shard struct {
	Series []*Series
	index  map[uint64]*Series
	arena  *arena
	// est is an upper bound of the shard's encoded size (1.0 or 2.0,
	// before compression), summed as series and samples are added.
	est int
}

// Counts returns the number of samples, histograms and exemplars in the shard.
// label is a label name and value. prompb.Label carries gogo's bookkeeping
// fields and takes twice the memory; labels are most of what a batch holds.
type label struct{ Name, Value string }

// Labels returns the series' labels sorted by name. It allocates; the
// encoders use a labelCursor.
func (s *Series) Labels() []prompb.Label {
	lbls := appendLabels(nil, s.cursor())
	out := make([]prompb.Label, len(lbls))
	for i, l := range lbls {
		out[i] = prompb.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

// labelCursor walks the labels of a series in name order (base with
// __name__ set to name and extra inserted, replacing a label of that name)
// without building them. It is a cursor rather than a
// callback because a callback that appends to a buffer pays a GC write
// barrier on every label (measured: a fifth of the encoding time).
type labelCursor struct {
	base  []label
	name  string
	extra label
	i     int
	added bool
}

func newCursor(base []label, name string, extra label) labelCursor {
	return labelCursor{base: base, name: name, extra: extra, added: extra.Name == ""}
}

func (s *Series) cursor() labelCursor { return newCursor(s.base.labels, s.name, s.extra) }

// next returns the next label; ok is false at the end.
func (c *labelCursor) next() (name, value string, ok bool) {
	for c.i < len(c.base) {
		l := &c.base[c.i]
		if !c.added && l.Name > c.extra.Name {
			c.added = true
			return c.extra.Name, c.extra.Value, true
		}
		c.i++
		switch {
		case !c.added && l.Name == c.extra.Name: // replaced by extra
		case l.Name == model.MetricNameLabel:
			return l.Name, c.name, true
		default:
			return l.Name, l.Value, true
		}
	}
	if !c.added {
		c.added = true
		return c.extra.Name, c.extra.Value, true
	}
	return "", "", false
}

func (s *Shard) Counts() (samples, histograms, exemplars int) {
	for _, ts := range s.Series {
		samples += len(ts.Samples)
		histograms += len(ts.Histograms())
		exemplars += len(ts.Exemplars())
	}
	return
}

// DropKey identifies a drop counter.
type DropKey struct{ Kind, Reason string }

// Result is the output of Translate.
type Result struct {
	Shards     []*Shard
	Dropped    map[DropKey]int64
	Collisions int64
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

// resourceInfo holds what every series of one resource shares.
type resourceInfo struct {
	labels     []label // job, instance, resource labels if configured
	targetInfo []label // target_info labels without __name__, nil if none
	maxTs      int64
}

// Translate converts one export made of one or more batches (queued exports
// merged by the queue's batching); the samples of a series found in several
// are merged in timestamp order.
func (t *Translator) Translate(mds ...pmetric.Metrics) *Result {
	res := &Result{Shards: make([]*Shard, t.set.Shards)}
	// Most data points are one series; histograms and summaries add a few.
	dps := 0
	for _, md := range mds {
		dps += md.DataPointCount()
	}
	perShard := dps/t.set.Shards + 1
	a := newArena(perShard * t.set.Shards)
	for i := range res.Shards {
		res.Shards[i] = &Shard{index: make(map[uint64]*Series, perShard), Series: make([]*Series, 0, perShard), arena: a}
	}
	for _, md := range mds {
		t.walk(md, func(dp dpRef, shard int, base []label, h uint64) {
			t.emit(res, res.Shards[shard], dp, base, h)
		}, func(kind, reason string, n int64) { res.drop(kind, reason, n) }, func(ri *resourceInfo) {
			if ri.targetInfo == nil || ri.maxTs == 0 {
				return
			}
			lbls := append([]label{{Name: model.MetricNameLabel, Value: otlptranslator.TargetInfoMetricName}}, ri.targetInfo...)
			lbls = t.finishLabels(lbls)
			h := hashLabels(lbls)
			sh := res.Shards[h%uint64(t.set.Shards)]
			s, dup := sh.get(&seriesKey{base: lbls, group: h, name: otlptranslator.TargetInfoMetricName}, h, &Metadata{Family: otlptranslator.TargetInfoMetricName, Type: model.MetricTypeGauge, Help: "Target metadata"})
			if dup != nil && dup.hasSampleAt(ri.maxTs) {
				return // target_info for the same resource seen twice: identical, not a collision
			}
			sh.addSample(s, Sample{Value: 1, Timestamp: ri.maxTs})
		})
	}
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

// Filter returns the data points of md selected by keep, which is given the
// data point's shard and group (the hash of its labels, see Shard.Chunks). It is
// used to retry only what was not written, so that series which were written
// are not sent again (which a receiver would reject as out of order).
func (t *Translator) Filter(md pmetric.Metrics, keep func(shard int, group uint64) bool) pmetric.Metrics {
	out := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		ri := t.resourceInfo(rm.Resource(), nil)
		var orm pmetric.ResourceMetrics
		haveRM := false
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			var osm pmetric.ScopeMetrics
			haveSM := false
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var om pmetric.Metric
				haveM := false
				forEachDP(m, func(idx int) {
					dp := dpRef{metric: m, scope: sm.Scope(), res: ri, idx: idx}
					base, ok := t.baseLabels(nil, dp, nil)
					if !ok {
						return
					}
					if h := hashLabels(base); !keep(int(h%uint64(t.set.Shards)), h) {
						return
					}
					if !haveRM {
						orm = out.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(orm.Resource())
						orm.SetSchemaUrl(rm.SchemaUrl())
						haveRM = true
					}
					if !haveSM {
						osm = orm.ScopeMetrics().AppendEmpty()
						sm.Scope().CopyTo(osm.Scope())
						osm.SetSchemaUrl(sm.SchemaUrl())
						haveSM = true
					}
					if !haveM {
						om = osm.Metrics().AppendEmpty()
						copyMetricShell(m, om)
						haveM = true
					}
					copyDP(m, idx, om)
				})
			}
		}
	}
	return out
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

func copyMetricShell(m, om pmetric.Metric) {
	om.SetName(m.Name())
	om.SetDescription(m.Description())
	om.SetUnit(m.Unit())
	m.Metadata().CopyTo(om.Metadata())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		om.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		om.SetEmptySum().SetIsMonotonic(m.Sum().IsMonotonic())
		om.Sum().SetAggregationTemporality(m.Sum().AggregationTemporality())
	case pmetric.MetricTypeHistogram:
		om.SetEmptyHistogram().SetAggregationTemporality(m.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		om.SetEmptyExponentialHistogram().SetAggregationTemporality(m.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		om.SetEmptySummary()
	}
}

func copyDP(m pmetric.Metric, idx int, om pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().At(idx).CopyTo(om.Gauge().DataPoints().AppendEmpty())
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().At(idx).CopyTo(om.Sum().DataPoints().AppendEmpty())
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().At(idx).CopyTo(om.Histogram().DataPoints().AppendEmpty())
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().At(idx).CopyTo(om.ExponentialHistogram().DataPoints().AppendEmpty())
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().At(idx).CopyTo(om.Summary().DataPoints().AppendEmpty())
	}
}

// walk visits every translatable data point with its shard; per resource it
// calls done after the resource's data points were visited.
func (t *Translator) walk(md pmetric.Metrics, visit func(dp dpRef, shard int, base []label, hash uint64), drop func(kind, reason string, n int64), done func(*resourceInfo)) {
	var scratch []label // base labels of the current data point, copied when kept
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
				name, err := t.metricName(m, typ)
				if err != nil || name == "" || (!t.set.Strategy.ShouldEscape() && !utf8.ValidString(name)) {
					drop(KindDataPoint, ReasonInvalidName, n)
					continue
				}
				meta := &Metadata{Family: name, Type: promType(typ), Help: m.Description(), Unit: t.unitNamer.Build(m.Unit())}
				switch typ {
				case otlptranslator.MetricTypeHistogram:
					meta.bucket, meta.sum, meta.count = name+"_bucket", name+"_sum", name+"_count"
				case otlptranslator.MetricTypeSummary:
					meta.sum, meta.count = name+"_sum", name+"_count"
				}
				forEachDP(m, func(idx int) {
					dp := dpRef{metric: m, scope: sm.Scope(), res: ri, idx: idx, name: name, typ: typ, meta: meta}
					base, ok := t.baseLabels(scratch[:0], dp, drop)
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

func (t *Translator) resourceInfo(r pcommon.Resource, drop func(kind, reason string, n int64)) *resourceInfo {
	ri := &resourceInfo{}
	attrs := r.Attributes()
	name, hasName := attrs.Get("service.name")
	job := ""
	if hasName {
		job = name.AsString()
		if ns, ok := attrs.Get("service.namespace"); ok && ns.AsString() != "" {
			job = ns.AsString() + "/" + job
		}
	}
	instance := ""
	if id, ok := attrs.Get("service.instance.id"); ok {
		instance = id.AsString()
	}
	var extra []label
	attrs.Range(func(k string, v pcommon.Value) bool {
		switch k {
		case "service.name", "service.namespace", "service.instance.id":
			return true
		}
		ln, err := t.labelName(k)
		if err != nil {
			if drop != nil {
				drop(KindLabel, ReasonInvalidLabelName, 1)
			}
			return true
		}
		extra = addLabel(extra, ln, v.AsString())
		return true
	})
	if job != "" {
		ri.labels = addLabel(ri.labels, model.JobLabel, job)
	}
	if instance != "" {
		ri.labels = addLabel(ri.labels, model.InstanceLabel, instance)
	}
	if t.set.TargetInfo && len(extra) > 0 {
		ri.targetInfo = append(slices.Clone(ri.labels), extra...)
	}
	if t.set.ResourceToLabels {
		for _, l := range extra {
			if findLabel(ri.labels, l.Name) < 0 {
				ri.labels = append(ri.labels, l)
			}
		}
	}
	return ri
}

// addLabel appends a label; a name seen before gets its values joined with
// ";" as the compatibility specification requires for names that collide
// after sanitisation. Empty values are omitted (Prometheus treats them as absent).
func addLabel(lbls []label, name, val string) []label {
	if val == "" {
		return lbls
	}
	if !utf8.ValidString(val) {
		val = strings.ToValidUTF8(val, "\uFFFD")
	}
	if i := findLabel(lbls, name); i >= 0 {
		lbls[i].Value += ";" + val
		return lbls
	}
	return append(lbls, label{Name: name, Value: val})
}

func findLabel(lbls []label, name string) int {
	for i := range lbls {
		if lbls[i].Name == name {
			return i
		}
	}
	return -1
}

// baseLabels returns the labels of the data point's family: __name__ is the
// family name, without _bucket/_sum/_count or quantile/le. All series derived
// from one data point share it, and so the shard.
func (t *Translator) baseLabels(dst []label, dp dpRef, drop func(kind, reason string, n int64)) ([]label, bool) {
	name := dp.name
	if name == "" { // Filter path: compute the name again.
		typ, ok := metricType(dp.metric)
		if !ok {
			return nil, false
		}
		n, err := t.metricName(dp.metric, typ)
		if err != nil || n == "" {
			return nil, false
		}
		name = n
	}
	lbls := append(dst, label{Name: model.MetricNameLabel, Value: name})
	dp.attrs().Range(func(k string, v pcommon.Value) bool {
		ln, err := t.labelName(k)
		if err != nil {
			if drop != nil {
				drop(KindLabel, ReasonInvalidLabelName, 1)
			}
			return true
		}
		if ln == model.MetricNameLabel {
			return true
		}
		lbls = addLabel(lbls, ln, v.AsString())
		return true
	})
	if t.set.ScopeLabels {
		if n := dp.scope.Name(); n != "" && findLabel(lbls, otlptranslator.ScopeNameLabelKey) < 0 {
			lbls = addLabel(lbls, otlptranslator.ScopeNameLabelKey, n)
		}
		if v := dp.scope.Version(); v != "" && findLabel(lbls, otlptranslator.ScopeVersionLabelKey) < 0 {
			lbls = addLabel(lbls, otlptranslator.ScopeVersionLabelKey, v)
		}
	}
	for _, l := range dp.res.labels {
		if i := findLabel(lbls, l.Name); i >= 0 {
			lbls[i].Value = l.Value // job/instance and resource labels win over data point attributes
		} else {
			lbls = append(lbls, l)
		}
	}
	return t.finishLabels(lbls), true
}

// finishLabels adds external labels that are not set and sorts by name.
func (t *Translator) finishLabels(lbls []label) []label {
	for _, l := range t.external {
		if findLabel(lbls, l.Name) < 0 {
			lbls = append(lbls, l)
		}
	}
	slices.SortFunc(lbls, func(a, b label) int { return strings.Compare(a.Name, b.Name) })
	return lbls
}

func hashLabels(lbls []label) uint64 {
	// One Sum64 over a stack buffer is several times faster than streaming
	// every name and value through a Digest.
	var arr [512]byte
	b := arr[:0]
	for _, l := range lbls {
		b = appendHashed(b, l.Name, l.Value)
	}
	return xxhash.Sum64(b)
}

// appendHashed appends one label to the bytes hashLabels and seriesKey.hash sum.
func appendHashed(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, 0xff)
	b = append(b, value...)
	return append(b, 0xff)
}

func labelsEqual(a, b []label) bool {
	return slices.EqualFunc(a, b, func(x, y label) bool { return x.Name == y.Name && x.Value == y.Value })
}

// seriesKey names a series the way Series stores it. base may be scratch
// memory: kept points at the arena copy of it, made when the first series of
// the data point is created and shared by the others.
type seriesKey struct {
	base  []label
	group uint64    // hash of base
	kept  *dpLabels // base as stored in the shard, nil until a series needs it
	name  string
	extra label
}

func (k *seriesKey) hash() uint64 {
	if k.extra.Name == "" && len(k.base) > 0 && k.base[0].Name == model.MetricNameLabel && k.base[0].Value == k.name {
		return hashLabels(k.base)
	}
	var arr [512]byte
	b := arr[:0]
	for c := newCursor(k.base, k.name, k.extra); ; {
		n, v, ok := c.next()
		if !ok {
			return xxhash.Sum64(b)
		}
		b = appendHashed(b, n, v)
	}
}

// Size estimates, upper bounds of both encodings. A label costs its 1.0
// encoding (label message tag and length, two string fields) plus 4 bytes
// of slack for 2.0, whose worst case is two 3-byte symbol references plus
// the tags and lengths of two new symbol table entries. A series adds its
// message tag and length and 2.0's metadata references; a float sample is
// at most 22 bytes, 33 with 2.0's start timestamp.
const (
	v2LabelSlack   = 4
	seriesOverhead = 16
	sampleEst      = 22
	startEst       = 11
)

// labelSize estimates one label (see above).
func labelSize(name, value string) int {
	n := labelLen(name, value)
	return 1 + varintLen(uint64(n)) + n + v2LabelSlack
}

// baseSize estimates the labels of a data point, without the value of
// __name__, which each series replaces with its own name.
func baseSize(base []label) int {
	n := 0
	for _, l := range base {
		if l.Name == model.MetricNameLabel {
			n += labelSize(l.Name, "")
			continue
		}
		n += labelSize(l.Name, l.Value)
	}
	return n
}

// metaSize estimates metadata: its strings once (1.0 sends them once per
// family, 2.0 once per request in the symbol table) and a series' references.
func metaSize(meta *Metadata) int {
	if meta == nil {
		return 0
	}
	return labelSize(meta.Family, "") + labelSize(meta.Help, meta.Unit)
}

// sampleSize estimates a float sample.
func sampleSize(x Sample) int {
	if x.Start != 0 {
		return sampleEst + startEst
	}
	return sampleEst
}

// histogramSize estimates a native histogram: its 1.0 size, tag and length,
// and 2.0's start timestamp.
func histogramSize(h *prompb.Histogram) int { return h.Size() + 4 + startEst }

// seriesSize estimates a series without its base labels and metadata.
func seriesSize(name string, extra label) int {
	n := len(name) + seriesOverhead
	if extra.Name != "" {
		n += labelSize(extra.Name, extra.Value)
	}
	return n
}

// addSample adds a float sample to s and its size to the estimate.
func (sh *Shard) addSample(s *Series, x Sample) {
	sh.arena.addSample(s, x)
	sh.est += sampleSize(x)
}

// get returns the series with this key in the shard, creating it if needed;
// existing is the series if it was already there.
func (sh *Shard) get(k *seriesKey, h uint64, meta *Metadata) (s, existing *Series) {
	first := sh.index[h]
	for s := first; s != nil; s = s.next {
		if s.name == k.name && s.extra == k.extra && labelsEqual(s.base.labels, k.base) ||
			labelsEqual(appendLabels(nil, s.cursor()), appendLabels(nil, newCursor(k.base, k.name, k.extra))) {
			return s, s
		}
	}
	if k.kept == nil {
		k.kept = sh.arena.newLabels(k.base, k.group, baseSize(k.base))
		sh.est += metaSize(meta) // once per data point
	}
	sh.est += k.kept.size + seriesSize(k.name, k.extra) // every series has all labels
	s = sh.arena.newSeries()
	*s = Series{base: k.kept, name: k.name, extra: k.extra, Meta: meta, hash: h, next: first}
	sh.index[h] = s
	sh.Series = append(sh.Series, s)
	return s, nil
}

func (s *Series) hasSampleAt(ts int64) bool {
	for _, x := range s.Samples {
		if x.Timestamp == ts {
			return true
		}
	}
	for _, x := range s.Histograms() {
		if x.Timestamp == ts {
			return true
		}
	}
	return false
}

// appendLabels appends the labels a cursor walks.
func appendLabels(dst []label, c labelCursor) []label {
	for {
		n, v, ok := c.next()
		if !ok {
			return dst
		}
		dst = append(dst, label{Name: n, Value: v})
	}
}

var staleNaN = math.Float64frombits(value.StaleNaN)

// orStale returns v, or Prometheus' staleness marker for a point flagged
// "no recorded value".
func orStale(v float64, stale bool) float64 {
	if stale {
		return staleNaN
	}
	return v
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

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// emit translates one data point into the shard.
func (t *Translator) emit(res *Result, sh *Shard, dp dpRef, base []label, baseHash uint64) {
	// addHashed appends a float sample; a second OTLP series that maps to a
	// Prometheus series which already has a sample at this timestamp is a
	// name collision: counted and dropped (first one wins).
	// k is reused for every series of the data point, so that they share
	// one copy of base (k.kept).
	k := seriesKey{base: base, group: baseHash}
	key := func(name, extraName, extraValue string) *seriesKey {
		k.name, k.extra = name, label{Name: extraName, Value: extraValue}
		return &k
	}
	addHashed := func(k *seriesKey, h uint64, v float64, ts, start int64, ex []prompb.Exemplar) bool {
		s, existing := sh.get(k, h, dp.meta)
		if existing != nil && existing.hasSampleAt(ts) {
			res.Collisions++
			res.drop(KindSample, ReasonNameCollision, 1)
			return false
		}
		sh.addSample(s, Sample{Value: v, Timestamp: ts, Start: start})
		if len(ex) > 0 {
			r := s.rareData()
			r.exemplars = append(r.exemplars, ex...)
			sh.est += exemplarsSize(ex)
		}
		return true
	}
	// derived adds a sample to the series named name with an extra label.
	derived := func(name, extraName, extraValue string, v float64, ts, start int64, ex []prompb.Exemplar) {
		k := key(name, extraName, extraValue)
		addHashed(k, k.hash(), v, ts, start, ex)
	}
	m := dp.metric
	switch m.Type() {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		var p pmetric.NumberDataPoint
		if m.Type() == pmetric.MetricTypeGauge {
			p = m.Gauge().DataPoints().At(dp.idx)
		} else {
			p = m.Sum().DataPoints().At(dp.idx)
		}
		ts := msOf(p.Timestamp())
		if ts == 0 {
			res.drop(KindSample, ReasonMissingTimestamp, 1)
			return
		}
		v := orStale(numberValue(p), p.Flags().NoRecordedValue())
		start := int64(0)
		if dp.typ == otlptranslator.MetricTypeMonotonicCounter {
			start = msOf(p.StartTimestamp())
		}
		if addHashed(key(dp.name, "", ""), baseHash, v, ts, start, t.exemplars(res, p.Exemplars())) {
			dp.res.maxTs = max(dp.res.maxTs, ts)
		}
	case pmetric.MetricTypeHistogram:
		p := m.Histogram().DataPoints().At(dp.idx)
		ts := msOf(p.Timestamp())
		if ts == 0 {
			res.drop(KindSample, ReasonMissingTimestamp, int64(p.BucketCounts().Len())+2)
			return
		}
		dp.res.maxTs = max(dp.res.maxTs, ts)
		stale := p.Flags().NoRecordedValue()
		val := func(v float64) float64 { return orStale(v, stale) }
		start := msOf(p.StartTimestamp())
		exs := t.exemplars(res, p.Exemplars())
		bounds := p.ExplicitBounds()
		counts := p.BucketCounts()
		var cum uint64
		bucketExemplars := func(lower, upper float64) []prompb.Exemplar {
			var out []prompb.Exemplar
			for i := 0; i < len(exs); i++ {
				if exs[i].Value > lower && exs[i].Value <= upper {
					out = append(out, exs[i])
				}
			}
			return out
		}
		lower := math.Inf(-1)
		les := dp.meta.boundLabels(bounds)
		for i := 0; i < bounds.Len(); i++ {
			if i < counts.Len() {
				cum += counts.At(i)
			}
			b := bounds.At(i)
			derived(dp.meta.bucket, model.BucketLabel, les[i], val(float64(cum)), ts, start, bucketExemplars(lower, b))
			lower = b
		}
		derived(dp.meta.bucket, model.BucketLabel, "+Inf", val(float64(p.Count())), ts, start, bucketExemplars(lower, math.Inf(1)))
		if p.HasSum() {
			derived(dp.meta.sum, "", "", val(p.Sum()), ts, start, nil)
		}
		derived(dp.meta.count, "", "", val(float64(p.Count())), ts, start, nil)
	case pmetric.MetricTypeSummary:
		p := m.Summary().DataPoints().At(dp.idx)
		ts := msOf(p.Timestamp())
		if ts == 0 {
			res.drop(KindSample, ReasonMissingTimestamp, int64(p.QuantileValues().Len())+2)
			return
		}
		dp.res.maxTs = max(dp.res.maxTs, ts)
		stale := p.Flags().NoRecordedValue()
		val := func(v float64) float64 { return orStale(v, stale) }
		start := msOf(p.StartTimestamp())
		qs := p.QuantileValues()
		for i := 0; i < qs.Len(); i++ {
			q := qs.At(i)
			derived(dp.name, model.QuantileLabel, formatFloat(q.Quantile()), val(q.Value()), ts, start, nil)
		}
		derived(dp.meta.sum, "", "", val(p.Sum()), ts, start, nil)
		derived(dp.meta.count, "", "", val(float64(p.Count())), ts, start, nil)
	case pmetric.MetricTypeExponentialHistogram:
		p := m.ExponentialHistogram().DataPoints().At(dp.idx)
		ts := msOf(p.Timestamp())
		if ts == 0 {
			res.drop(KindHistogram, ReasonMissingTimestamp, 1)
			return
		}
		h, ok := nativeHistogram(p, ts)
		if !ok {
			res.drop(KindHistogram, ReasonUnsupportedScale, 1)
			return
		}
		s, existing := sh.get(key(dp.name, "", ""), baseHash, dp.meta)
		if existing != nil && existing.hasSampleAt(ts) {
			res.Collisions++
			res.drop(KindHistogram, ReasonNameCollision, 1)
			return
		}
		dp.res.maxTs = max(dp.res.maxTs, ts)
		r := s.rareData()
		r.histograms = append(r.histograms, h)
		r.histStarts = append(r.histStarts, msOf(p.StartTimestamp()))
		sh.est += histogramSize(&h)
		if ex := t.exemplars(res, p.Exemplars()); len(ex) > 0 {
			r.exemplars = append(r.exemplars, ex...)
			sh.est += exemplarsSize(ex)
		}
	}
}

// exemplarsSize estimates exemplars (see labelSize).
func exemplarsSize(exs []prompb.Exemplar) int {
	n := 0
	for i := range exs {
		n += exs[i].Size() + 4 + v2LabelSlack*len(exs[i].Labels) // tag and length; 2.0 refers to labels by symbol
	}
	return n
}

func numberValue(p pmetric.NumberDataPoint) float64 {
	if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(p.IntValue())
	}
	return p.DoubleValue()
}

// exemplars converts OTLP exemplars. Filtered attributes are kept only while
// the label set stays within Prometheus' 128-rune limit; trace_id and span_id
// always fit.
func (t *Translator) exemplars(res *Result, exs pmetric.ExemplarSlice) []prompb.Exemplar {
	if exs.Len() == 0 {
		return nil
	}
	out := make([]prompb.Exemplar, 0, exs.Len())
	for i := 0; i < exs.Len(); i++ {
		e := exs.At(i)
		ts := msOf(e.Timestamp())
		if ts == 0 {
			res.drop(KindExemplar, ReasonMissingTimestamp, 1)
			continue
		}
		var lbls []prompb.Label
		runes := 0
		if tid := e.TraceID(); !tid.IsEmpty() {
			lbls = append(lbls, prompb.Label{Name: otlptranslator.ExemplarTraceIDKey, Value: hex.EncodeToString(tid[:])})
			runes += len(otlptranslator.ExemplarTraceIDKey) + 32
		}
		if sid := e.SpanID(); !sid.IsEmpty() {
			lbls = append(lbls, prompb.Label{Name: otlptranslator.ExemplarSpanIDKey, Value: hex.EncodeToString(sid[:])})
			runes += len(otlptranslator.ExemplarSpanIDKey) + 16
		}
		truncated := false
		e.FilteredAttributes().Range(func(k string, v pcommon.Value) bool {
			ln, err := t.labelName(k)
			if err != nil || slices.ContainsFunc(lbls, func(l prompb.Label) bool { return l.Name == ln }) {
				return true
			}
			val := strings.ToValidUTF8(v.AsString(), "\uFFFD")
			n := utf8.RuneCountInString(ln) + utf8.RuneCountInString(val)
			if runes+n > maxExemplarLabelsRunes {
				truncated = true
				return true
			}
			runes += n
			lbls = append(lbls, prompb.Label{Name: ln, Value: val})
			return true
		})
		if truncated {
			res.drop(KindLabel, ReasonExemplarTooLong, 1)
		}
		slices.SortFunc(lbls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		v := e.DoubleValue()
		if e.ValueType() == pmetric.ExemplarValueTypeInt {
			v = float64(e.IntValue())
		}
		out = append(out, prompb.Exemplar{Labels: lbls, Value: v, Timestamp: ts})
	}
	return out
}

// nativeHistogram converts an OTLP exponential histogram data point. Scales
// above 8 are reduced to 8 by merging buckets; scales below -4 cannot be
// represented and are rejected.
func nativeHistogram(p pmetric.ExponentialHistogramDataPoint, ts int64) (prompb.Histogram, bool) {
	scale := p.Scale()
	if scale < nativeHistogramMinScale {
		return prompb.Histogram{}, false
	}
	shift := int32(0)
	if scale > nativeHistogramMaxScale {
		shift = scale - nativeHistogramMaxScale
		scale = nativeHistogramMaxScale
	}
	h := prompb.Histogram{
		Count:         &prompb.Histogram_CountInt{CountInt: p.Count()},
		Sum:           p.Sum(),
		Schema:        scale,
		ZeroThreshold: p.ZeroThreshold(),
		ZeroCount:     &prompb.Histogram_ZeroCountInt{ZeroCountInt: p.ZeroCount()},
		Timestamp:     ts,
	}
	h.PositiveSpans, h.PositiveDeltas = bucketsToDeltas(p.Positive(), shift)
	h.NegativeSpans, h.NegativeDeltas = bucketsToDeltas(p.Negative(), shift)
	if p.Flags().NoRecordedValue() {
		h.Sum = staleNaN
		h.Count = &prompb.Histogram_CountInt{}
		h.ZeroCount = &prompb.Histogram_ZeroCountInt{}
		h.PositiveSpans, h.PositiveDeltas, h.NegativeSpans, h.NegativeDeltas = nil, nil, nil, nil
	}
	return h, true
}

// bucketsToDeltas converts OTLP buckets (bucket i covers (base^i, base^(i+1)])
// into Prometheus spans and delta-encoded counts (bucket i covers
// (base^(i-1), base^i]), merging 2^shift neighbours when downscaling. Runs of
// empty buckets longer than two start a new span, as Prometheus does.
func bucketsToDeltas(b pmetric.ExponentialHistogramDataPointBuckets, shift int32) ([]prompb.BucketSpan, []int64) {
	counts := b.BucketCounts()
	if counts.Len() == 0 {
		return nil, nil
	}
	// merged (index, count) pairs in increasing index order
	type bucket struct {
		idx   int64
		count uint64
	}
	merged := make([]bucket, 0, counts.Len())
	for i := 0; i < counts.Len(); i++ {
		c := counts.At(i)
		if c == 0 {
			continue
		}
		idx := (int64(b.Offset()) + int64(i)) >> shift // arithmetic shift: floor division
		if n := len(merged); n > 0 && merged[n-1].idx == idx {
			merged[n-1].count += c
			continue
		}
		merged = append(merged, bucket{idx: idx, count: c})
	}
	if len(merged) == 0 {
		return nil, nil
	}
	var spans []prompb.BucketSpan
	var deltas []int64
	var prevCount int64
	prevIdx := int64(0)
	for i, bk := range merged {
		promIdx := bk.idx + 1
		gap := promIdx - prevIdx - 1
		switch {
		case i == 0:
			spans = append(spans, prompb.BucketSpan{Offset: int32(promIdx), Length: 1})
		case gap > 2:
			spans = append(spans, prompb.BucketSpan{Offset: int32(gap), Length: 1})
		default:
			for range gap { // short gaps are filled with empty buckets
				deltas = append(deltas, -prevCount)
				prevCount = 0
				spans[len(spans)-1].Length++
			}
			spans[len(spans)-1].Length++
		}
		deltas = append(deltas, int64(bk.count)-prevCount)
		prevCount = int64(bk.count)
		prevIdx = promIdx
	}
	return spans, deltas
}
