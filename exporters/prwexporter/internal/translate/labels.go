// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// label is a label name and value. prompb.Label carries gogo's bookkeeping
// fields and takes twice the memory; labels are most of what a batch holds.
type label struct{ Name, Value string }

// nameResult is a cached otlptranslator name, or the error building it.
type nameResult struct {
	name string
	err  error
}

// labelName caches the label name of an attribute key (see Translator.labelNames).
func (t *Translator) labelName(k string) (string, error) {
	if v, ok := t.labelNames.Load(k); ok {
		r := v.(nameResult)
		return r.name, r.err
	}
	name, err := t.labelNamer.Build(k)
	if t.cachedNames.Load() < maxCachedNames {
		if _, loaded := t.labelNames.LoadOrStore(k, nameResult{name, err}); !loaded {
			t.cachedNames.Add(1)
		}
	}
	return name, err
}

type metricKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

// metricNames are the names a metric translates to: its family name, the
// names of a histogram's or summary's derived series, and its unit.
type metricNames struct {
	name, bucket, sum, count string
	unit                     string
	err                      error
}

// metricName caches the otlptranslator names of a metric: building them
// splits and joins the name and unit and concatenates the suffixes, several
// allocations per metric per export (the unit alone was an eighth of
// BenchmarkTranslateEncode's allocations).
func (t *Translator) metricName(m pmetric.Metric, typ otlptranslator.MetricType) *metricNames {
	k := metricKey{m.Name(), m.Unit(), typ}
	if v, ok := t.metricNames.Load(k); ok {
		return v.(*metricNames)
	}
	name, err := t.metricNamer.Build(otlptranslator.Metric{Name: k.name, Unit: k.unit, Type: typ})
	n := &metricNames{name: name, unit: t.unitNamer.Build(k.unit), err: err}
	switch typ {
	case otlptranslator.MetricTypeHistogram:
		n.bucket, n.sum, n.count = name+"_bucket", name+"_sum", name+"_count"
	case otlptranslator.MetricTypeSummary:
		n.sum, n.count = name+"_sum", name+"_count"
	}
	if t.cachedNames.Load() < maxCachedNames {
		if _, loaded := t.metricNames.LoadOrStore(k, n); !loaded {
			t.cachedNames.Add(1)
		}
	}
	return n
}

// maxCachedNames bounds the label and metric name caches together: past it,
// names are built every time (an export with endless distinct keys).
const maxCachedNames = 10000

// resourceInfo holds what every series of one resource shares.
type resourceInfo struct {
	labels     []label // job, instance, resource labels if configured
	targetInfo []label // target_info labels without __name__, nil if none
	maxTs      int64
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
//
// ints, if not nil, formats integer attribute values (see intStrings).
func (t *Translator) baseLabels(dst []label, dp dpRef, ints *intStrings, drop func(kind, reason string, n int64)) ([]label, bool) {
	name := dp.name
	if name == "" { // Filter path: compute the name again.
		typ, ok := metricType(dp.metric)
		if !ok {
			return nil, false
		}
		n := t.metricName(dp.metric, typ)
		if n.err != nil || n.name == "" {
			return nil, false
		}
		name = n.name
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
		if ints != nil && v.Type() == pcommon.ValueTypeInt {
			lbls = addLabel(lbls, ln, ints.format(v.Int()))
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

// intStrings formats the integer attribute values of one walk, reusing the
// string of a value seen before: formatting allocates (for values over 99),
// and the same few values (status codes, ports) repeat on every data point:
// it was one allocation per data point of the bench's batch. A small
// direct-mapped cache; not safe for concurrent use.
type intStrings [64]intString

type intString struct {
	v   int64
	s   string
	set bool
}

func (c *intStrings) format(v int64) string {
	e := &c[uint64(v)%uint64(len(c))]
	if e.set && e.v == v {
		return e.s
	}
	s := strconv.FormatInt(v, 10)
	*e = intString{v, s, true}
	return s
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

// labelBytes holds one data point's labels but __name__ in a byte form
// (the 1.0 encoding, or the bytes hashLabels sums), so that each series
// derived from the data point (a histogram's buckets, _sum and _count)
// copies them and adds only its own name and le or quantile label, rather
// than walking every label again.
type labelBytes struct {
	form labelForm
	b    []byte
	// offs[i] is where label i starts in b; offs[len(labels)] = len(b).
	// __name__ (at index name, -1 if none) takes no bytes.
	offs []int32
	name int
}

// labelForm is the byte form of a labelBytes. (Not a func value: one would
// make the buffer hashLabels passes escape to the heap.)
type labelForm int

const (
	formHashed labelForm = iota // appendHashed
	formV1                      // appendLabelV1
)

func (l *labelBytes) put(b []byte, name, value string) []byte {
	if l.form == formV1 {
		return appendLabelV1(b, name, value)
	}
	return appendHashed(b, name, value)
}

// set puts labels (sorted, see baseLabels) into l in the given form.
func (l *labelBytes) set(labels []label, form labelForm) {
	l.form, l.b, l.offs, l.name = form, l.b[:0], l.offs[:0], -1
	for i := range labels {
		l.offs = append(l.offs, int32(len(l.b)))
		if labels[i].Name == model.MetricNameLabel {
			l.name = i
			continue
		}
		l.b = l.put(l.b, labels[i].Name, labels[i].Value)
	}
	l.offs = append(l.offs, int32(len(l.b)))
}

// extraAt returns where a series' extra label named extra goes among its
// data point's labels: before the first label named after it (len(labels)
// for none or no extra label). ok is false if the data point has a label of
// that name (an attribute named le or quantile), which the extra label
// replaces: labelBytes cannot express that, a labelCursor can.
func extraAt(labels []label, extra string) (ins int, ok bool) {
	if extra == "" {
		return len(labels), true
	}
	for i := range labels {
		if labels[i].Name == extra {
			return 0, false
		}
		if labels[i].Name > extra {
			return i, true
		}
	}
	return len(labels), true
}

// appendSeries appends the labels of the series named name with the extra
// label, which goes before label ins (extraAt): l's bytes with the name at
// label l.name (whose bytes are empty) and extra inserted, in l's form. At
// the same index extra comes first: it sorts before the label it precedes.
func (l *labelBytes) appendSeries(b []byte, name string, extra label, ins int) []byte {
	pos := 0
	extraFirst := extra.Name != "" && (l.name < 0 || ins <= l.name)
	if extraFirst {
		b, pos = l.insert(b, pos, ins, extra.Name, extra.Value)
	}
	if l.name >= 0 {
		b, pos = l.insert(b, pos, l.name, model.MetricNameLabel, name)
	}
	if extra.Name != "" && !extraFirst {
		b, pos = l.insert(b, pos, ins, extra.Name, extra.Value)
	}
	return append(b, l.b[pos:]...)
}

// insert appends l's bytes from pos up to label idx, then the label
// name=value; it returns where l's bytes continue.
func (l *labelBytes) insert(b []byte, pos, idx int, name, value string) ([]byte, int) {
	off := int(l.offs[idx])
	b = append(b, l.b[pos:off]...)
	return l.put(b, name, value), off
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
