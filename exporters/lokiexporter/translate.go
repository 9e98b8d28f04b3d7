// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter // import "github.com/vigil-otel/vigil/exporters/lokiexporter"

import (
	"cmp"
	"encoding/base64"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// fallbackLabels is the label set of a record none of whose label attributes
// is set: Loki refuses a stream without labels. It matches what Loki's own
// OTLP endpoint uses for a missing service.name.
const fallbackLabels = `{service_name="unknown_service"}`

const (
	reasonLineTooLong   = "line_too_long"
	reasonOutOfOrder    = "out_of_order"
	reasonTooOld        = "too_old"
	reasonTooNew        = "too_new"
	reasonTooManyLabels = "too_many_labels"
	reasonRateLimited   = "rate_limited"
	reasonInvalid       = "invalid"
	reasonRejected      = "rejected"
	reasonOther         = "other"
)

// labelSource says where a label's value comes from.
type labelSource uint8

const (
	fromResource labelSource = iota
	fromRecord
	fromSeverity
)

// labelSpec is one configured label, in label-name order.
type labelSpec struct {
	name   string
	attr   string
	source labelSource
	resIdx int // index into the per-resource values when source == fromResource
}

// smSpec is one configured structured-metadata attribute.
type smSpec struct {
	attr string
	name string
}

// translator turns plog.Logs into Loki streams. It is built once from the
// config and is safe for concurrent use (it holds no per-call state).
type translator struct {
	labels       []labelSpec // sorted by name, so label strings are canonical
	resLabelAttr []string    // resource attributes used as labels, by resIdx
	resLabelName []string    // their label names, by resIdx
	labelRes     map[string]bool
	labelRec     map[string]bool
	severity     bool

	smEnabled bool
	sm        []smSpec
	smAttr    map[string]bool
	// smOthers: every attribute that is neither a label nor in the line
	// goes to structured metadata (only raw lines leave any out).
	smOthers bool

	format     LineFormat
	maxLine    int
	dropLong   bool
	tenantAttr string
	tenantID   string
	shards     int
	now        func() time.Time
}

func newTranslator(cfg *Config) *translator {
	t := &translator{
		labelRes:   map[string]bool{},
		labelRec:   map[string]bool{},
		smEnabled:  cfg.StructuredMetadata.Enabled,
		smAttr:     map[string]bool{},
		format:     cfg.LineFormat,
		maxLine:    cfg.MaxLineSize,
		dropLong:   cfg.MaxLineSizeAction == LineSizeDrop,
		tenantAttr: cfg.Tenant.ResourceAttribute,
		tenantID:   cfg.Tenant.ID,
		shards:     max(cfg.Shards, 1),
		now:        time.Now,
	}
	name := func(r LabelRule) string {
		if r.Label != "" {
			return r.Label
		}
		return sanitizeLabelName(r.Attribute)
	}
	for _, r := range cfg.Labels.ResourceAttributes {
		t.labels = append(t.labels, labelSpec{name: name(r), attr: r.Attribute, source: fromResource, resIdx: len(t.resLabelAttr)})
		t.resLabelAttr = append(t.resLabelAttr, r.Attribute)
		t.resLabelName = append(t.resLabelName, name(r))
		t.labelRes[r.Attribute] = true
	}
	for _, r := range cfg.Labels.Attributes {
		t.labels = append(t.labels, labelSpec{name: name(r), attr: r.Attribute, source: fromRecord})
		t.labelRec[r.Attribute] = true
	}
	if cfg.Labels.Severity != "" {
		t.labels = append(t.labels, labelSpec{name: cfg.Labels.Severity, source: fromSeverity})
		t.severity = true
	}
	sort.Slice(t.labels, func(i, j int) bool { return t.labels[i].name < t.labels[j].name })
	if t.smEnabled {
		for _, a := range cfg.StructuredMetadata.Attributes {
			t.sm = append(t.sm, smSpec{attr: a, name: sanitizeLabelName(a)})
			t.smAttr[a] = true
		}
		t.smOthers = cfg.StructuredMetadata.OtherAttributes && cfg.LineFormat == LineFormatRaw
	}
	return t
}

// groupKey identifies one push request of a batch: a tenant and a shard.
type groupKey struct {
	tenant string
	shard  int
}

// group is the content of one push request.
type group struct {
	key     groupKey
	streams []push.Stream
	index   map[string]int // label string → index into streams
	entries int
}

// pushBatch is one plog.Logs translated into push requests.
type pushBatch struct {
	groups []*group
	index  map[groupKey]int
	// recordGroup has one element per log record, in iteration order: the
	// group the record went to, or -1 when it was dropped here. It lets a
	// partial failure be turned back into plog.Logs for a retry.
	recordGroup []int32
	dropped     map[string]int64 // reason → entries dropped during translation
	truncated   int64
}

func (b *pushBatch) groupFor(k groupKey) int {
	if i, ok := b.index[k]; ok {
		return i
	}
	b.groups = append(b.groups, &group{key: k, index: map[string]int{}})
	b.index[k] = len(b.groups) - 1
	return len(b.groups) - 1
}

// entryKey is where one record goes: its stream (an index into
// translation.streams) and the position of its entry in that stream,
// which is by timestamp and, for equal timestamps, by record.
type entryKey struct {
	ts     int64
	rec    int32
	stream int32
}

func cmpEntryKey(a, b entryKey) int {
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	return cmp.Compare(a.rec, b.rec)
}

// streamRef locates a stream of the batch: group, then stream in the group.
type streamRef struct{ group, stream int32 }

// translation is the working state of one translate call. Its slices are
// kept in a pool between calls: a batch of 8,000 records needs about 400 KiB
// of them.
type translation struct {
	keys      []entryKey // one per record, in record order
	order     []entryKey // keys grouped by stream, each stream's by time
	slot      []int32    // record → its entry's index in the batch's entries
	lines     []string   // record → its line
	refs      []streamRef
	groupRefs [][]int32 // group → its streams' indices into refs
	count     []int32   // stream → entries

	// The label string of the previous record and what it was made of:
	// consecutive records of the same resource and severity (the common
	// case) reuse its stream without building or looking it up again.
	resVals, prevResVals []string // resource-label values, by resIdx
	recVals, prevRecVals []string // values of the other labels, in label order
	resPieces            []byte   // `name="value"` of each resource label, back to back
	resPieceAt           [][2]int // resource label (resIdx) → its piece's bounds in resPieces
	resValid             bool     // resPieces are of this call's translator
	prevTenant           string
	prevStream           int32
	labelBuf, lineBuf    []byte
	pieceBuf             []byte

	// sanitized caches sanitizeLabelName for attribute keys that are not
	// valid label names (such as http.method), which would otherwise
	// allocate once per record.
	sanitized map[string]string
}

var translationPool = sync.Pool{New: func() any { return new(translation) }}

// release clears what holds the batch's strings and returns x to the pool.
func (x *translation) release() {
	clear(x.lines)
	clear(x.resVals)
	clear(x.prevResVals)
	clear(x.recVals[:cap(x.recVals)])
	clear(x.prevRecVals[:cap(x.prevRecVals)])
	x.prevTenant = ""
	clear(x.sanitized)
	translationPool.Put(x)
}

// grow returns s with length n, reusing its array when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// translate groups the records of ld into streams by label set, per tenant
// and shard, and sorts each stream's entries by timestamp (stably: equal
// timestamps keep the records' order). It never fails: a record that
// cannot be sent is dropped and counted in the batch.
//
// It works in two passes over the records. The first decides each record's
// stream, line and timestamp and counts the entries of every stream; the
// streams' entries are then carved from one slice of the batch's size, and
// each stream's records are put in time order by sorting small keys, not
// entries. The second pass writes each record's entry straight into its
// place. So an entry is written once, with no slice growing and no sort
// moving entries about.
func (t *translator) translate(ld plog.Logs) *pushBatch {
	n := ld.LogRecordCount()
	b := &pushBatch{
		index:       map[groupKey]int{},
		recordGroup: make([]int32, n),
		dropped:     map[string]int64{},
	}
	if n == 0 {
		return b
	}
	x := translationPool.Get().(*translation)
	defer x.release()
	x.keys = grow(x.keys, n)
	x.lines = grow(x.lines, n)
	x.refs = x.refs[:0]
	x.groupRefs = x.groupRefs[:0]
	x.count = x.count[:0]
	x.resValid = false
	x.resVals = grow(x.resVals, len(t.resLabelAttr))
	x.prevResVals = grow(x.prevResVals, len(t.resLabelAttr))
	x.prevStream = -1
	now := pcommon.NewTimestampFromTime(t.now())

	// Pass 1: stream, line and timestamp of each record.
	kept := 0
	rec := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		resChanged := t.resourceLabels(x, res)
		tenant := t.tenantID
		if t.tenantAttr != "" {
			if v, ok := res.Get(t.tenantAttr); ok && v.AsString() != "" {
				tenant = strings.ToValidUTF8(v.AsString(), "\uFFFD")
			}
		}
		if resChanged || tenant != x.prevTenant {
			x.prevStream = -1
			x.prevTenant = tenant
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k, rec = k+1, rec+1 {
				lr := lrs.At(k)
				line, drop := t.line(x, b, res, lr)
				if drop {
					b.dropped[reasonLineTooLong]++
					b.recordGroup[rec] = -1
					continue
				}
				x.lines[rec] = line
				si := t.stream(x, b, tenant, lr)
				x.count[si]++
				kept++
				b.recordGroup[rec] = x.refs[si].group
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if ts == 0 {
					ts = now
				}
				x.keys[rec] = entryKey{ts: int64(ts), rec: int32(rec), stream: si}
			}
		}
	}

	// Each stream's entries are a part of one slice; the stream's keys go
	// to the same part of order, in record order, then in time order.
	entries := make([]push.Entry, kept)
	x.order = grow(x.order, kept)
	x.slot = grow(x.slot, n)
	start := 0
	for si, c := range x.count {
		ref := x.refs[si]
		end := start + int(c)
		b.groups[ref.group].streams[ref.stream].Entries = entries[start:start:end]
		x.count[si] = int32(start) // from here on: the next free place of the stream
		start = end
	}
	for rec, g := range b.recordGroup {
		if g < 0 {
			continue
		}
		k := x.keys[rec]
		x.order[x.count[k.stream]] = k
		x.count[k.stream]++
	}
	start = 0
	for si := range x.refs {
		end := int(x.count[si])
		part := x.order[start:end]
		if !slices.IsSortedFunc(part, cmpEntryKey) {
			slices.SortFunc(part, cmpEntryKey) // the keys are distinct: same order as a stable sort
		}
		start = end
	}
	for i, k := range x.order {
		x.slot[k.rec] = int32(i)
	}

	// Pass 2: each record's entry, in its place.
	var sm push.LabelsAdapter // structured metadata of all entries, back to back
	rec = 0
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k, rec = k+1, rec+1 {
				if b.recordGroup[rec] < 0 {
					continue
				}
				lr := lrs.At(k)
				e := &entries[x.slot[rec]]
				e.Timestamp = pcommon.Timestamp(x.keys[rec].ts).AsTime()
				e.Line = x.lines[rec]
				if t.smEnabled {
					from := len(sm)
					if sm == nil {
						// Room for as many labels per entry as the first has.
						first := t.appendStructuredMetadata(x, nil, res, lr)
						sm = append(make(push.LabelsAdapter, 0, max(len(first), 1)*kept), first...)
					} else {
						sm = t.appendStructuredMetadata(x, sm, res, lr)
					}
					if len(sm) > from {
						e.StructuredMetadata = sm[from:len(sm):len(sm)]
					}
				}
			}
		}
	}
	for _, g := range b.groups {
		for s := range g.streams {
			st := &g.streams[s]
			st.Entries = st.Entries[:cap(st.Entries)]
			g.entries += len(st.Entries)
		}
	}
	return b
}

// resourceLabels sets x.resVals to the values of the resource's label
// attributes and reports whether they differ from the previous resource's.
// When they do, it writes their `name="value"` pieces into x.resPieces.
func (t *translator) resourceLabels(x *translation, res pcommon.Map) bool {
	changed := !x.resValid
	for j, a := range t.resLabelAttr {
		v := ""
		if av, ok := res.Get(a); ok {
			v = labelValue(av)
		}
		x.resVals[j] = v
		if v != x.prevResVals[j] {
			changed = true
		}
	}
	if !changed {
		return false
	}
	x.resValid = true
	copy(x.prevResVals, x.resVals)
	x.resPieces = x.resPieces[:0]
	x.resPieceAt = grow(x.resPieceAt, len(t.resLabelAttr))
	for j, v := range x.resVals {
		begin := len(x.resPieces)
		if v != "" {
			x.resPieces = appendLabel(x.resPieces, t.resLabelName[j], v)
		}
		x.resPieceAt[j] = [2]int{begin, len(x.resPieces)}
	}
	return true
}

// resPiece is the `name="value"` piece of resource label l, empty when the
// resource does not have it.
func (x *translation) resPiece(l labelSpec) []byte {
	at := x.resPieceAt[l.resIdx]
	return x.resPieces[at[0]:at[1]]
}

func appendLabel(buf []byte, name, v string) []byte {
	buf = append(buf, name...)
	buf = append(buf, '=')
	return strconv.AppendQuote(buf, v)
}

// stream returns the index (into x.refs) of the record's stream, creating
// the stream, and its group, on first use.
func (t *translator) stream(x *translation, b *pushBatch, tenant string, lr plog.LogRecord) int32 {
	x.recVals = x.recVals[:0]
	for _, l := range t.labels {
		switch l.source {
		case fromRecord:
			v := ""
			if av, ok := lr.Attributes().Get(l.attr); ok {
				v = labelValue(av)
			}
			x.recVals = append(x.recVals, v)
		case fromSeverity:
			x.recVals = append(x.recVals, severityLevel(lr))
		}
	}
	if x.prevStream >= 0 && slices.Equal(x.recVals, x.prevRecVals) {
		return x.prevStream
	}

	// The canonical label string ({a="x", b="y"}, names sorted).
	buf := append(x.labelBuf[:0], '{')
	ri := 0
	for _, l := range t.labels {
		var piece []byte
		if l.source == fromResource {
			piece = x.resPiece(l)
			if len(piece) == 0 {
				continue // Loki treats an empty value as an absent label
			}
		} else {
			v := x.recVals[ri]
			ri++
			if v == "" {
				continue
			}
			piece = appendLabel(x.pieceBuf[:0], l.name, v)
			x.pieceBuf = piece
		}
		if len(buf) > 1 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, piece...)
	}
	if len(buf) == 1 {
		buf = append(buf[:0], fallbackLabels...)
	} else {
		buf = append(buf, '}')
	}
	x.labelBuf = buf

	gi := b.groupFor(groupKey{tenant: tenant, shard: int(xxhash.Sum64(buf) % uint64(t.shards))})
	g := b.groups[gi]
	si, ok := g.index[string(buf)]
	if !ok {
		si = len(g.streams)
		l := string(buf)
		g.index[l] = si
		g.streams = append(g.streams, push.Stream{Labels: l})
	}
	if gi == len(x.groupRefs) { // a new group: reuse a pooled slice for its streams
		if gi < cap(x.groupRefs) {
			x.groupRefs = x.groupRefs[:gi+1]
			x.groupRefs[gi] = x.groupRefs[gi][:0]
		} else {
			x.groupRefs = append(x.groupRefs, nil)
		}
	}
	if !ok {
		x.groupRefs[gi] = append(x.groupRefs[gi], int32(len(x.refs)))
		x.refs = append(x.refs, streamRef{group: int32(gi), stream: int32(si)})
		x.count = append(x.count, 0)
	}
	x.prevStream = x.groupRefs[gi][si]
	x.prevRecVals = append(x.prevRecVals[:0], x.recVals...)
	return x.prevStream
}

// line returns the record's line, truncated to max_line_size, or drop when
// it is longer and the action is to drop it.
func (t *translator) line(x *translation, b *pushBatch, res pcommon.Map, lr plog.LogRecord) (line string, drop bool) {
	if t.format == LineFormatRaw {
		// A string body that is valid and short enough is the line as it is.
		if body := lr.Body(); body.Type() == pcommon.ValueTypeStr {
			if s := body.Str(); (t.maxLine <= 0 || len(s) <= t.maxLine) && utf8.ValidString(s) {
				return s, false
			}
		}
	}
	buf := t.appendLine(x.lineBuf[:0], res, lr)
	x.lineBuf = buf
	if t.maxLine > 0 && len(buf) > t.maxLine {
		if t.dropLong {
			return "", true
		}
		buf = truncateUTF8(buf, t.maxLine)
		b.truncated++
	}
	return string(buf), false
}

func labelValue(v pcommon.Value) string {
	return strings.ToValidUTF8(v.AsString(), "\uFFFD")
}

// severityLevel is the lower-case severity text, or the level derived from
// the severity number, or "unknown".
func severityLevel(lr plog.LogRecord) string {
	if s := lr.SeverityText(); s != "" {
		return lowerSeverity(s)
	}
	switch n := lr.SeverityNumber(); {
	case n >= plog.SeverityNumberFatal:
		return "fatal"
	case n >= plog.SeverityNumberError:
		return "error"
	case n >= plog.SeverityNumberWarn:
		return "warn"
	case n >= plog.SeverityNumberInfo:
		return "info"
	case n >= plog.SeverityNumberDebug:
		return "debug"
	case n >= plog.SeverityNumberTrace:
		return "trace"
	}
	return "unknown"
}

// lowerSeverity is strings.ToLower of a valid-UTF-8 s. The usual severity
// texts in title or upper case are constants, with no allocation per record
// (strings.ToLower returns a lower-case ASCII text itself).
func lowerSeverity(s string) string {
	switch s {
	case "Info", "INFO":
		return "info"
	case "Warn", "WARN":
		return "warn"
	case "Warning", "WARNING":
		return "warning"
	case "Error", "ERROR":
		return "error"
	case "Debug", "DEBUG":
		return "debug"
	case "Trace", "TRACE":
		return "trace"
	case "Fatal", "FATAL":
		return "fatal"
	}
	return strings.ToLower(strings.ToValidUTF8(s, "\uFFFD"))
}

// appendStructuredMetadata appends the record's structured metadata to sm:
// trace and span ID, the configured attributes (the record's, else the
// resource's), then, with other_attributes, the rest (appendOtherAttributes).
func (t *translator) appendStructuredMetadata(x *translation, sm push.LabelsAdapter, res pcommon.Map, lr plog.LogRecord) push.LabelsAdapter {
	if tid := lr.TraceID(); !tid.IsEmpty() {
		sm = append(sm, push.LabelAdapter{Name: "trace_id", Value: tid.String()})
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		sm = append(sm, push.LabelAdapter{Name: "span_id", Value: sid.String()})
	}
	for _, s := range t.sm {
		v, ok := lr.Attributes().Get(s.attr)
		if !ok {
			v, ok = res.Get(s.attr)
		}
		if ok {
			if sv := labelValue(v); sv != "" {
				sm = append(sm, push.LabelAdapter{Name: s.name, Value: sv})
			}
		}
	}
	if t.smOthers {
		sm = t.appendOtherAttributes(x, sm, res, lr.Attributes())
	}
	return sm
}

// appendOtherAttributes adds the record's attributes, then the resource's,
// that are neither labels nor already listed (the record's own attribute
// wins over a resource attribute of the same key), as Loki's OTLP endpoint
// stores them: names sanitised, values as text.
func (t *translator) appendOtherAttributes(x *translation, sm push.LabelsAdapter, res, rec pcommon.Map) push.LabelsAdapter {
	for k, v := range rec.All() {
		if t.labelRec[k] || t.smAttr[k] {
			continue
		}
		if sv := labelValue(v); sv != "" {
			sm = append(sm, push.LabelAdapter{Name: x.labelName(k), Value: sv})
		}
	}
	for k, v := range res.All() {
		if t.labelRes[k] || t.smAttr[k] || k == t.tenantAttr {
			continue
		}
		if _, shadowed := rec.Get(k); shadowed {
			continue
		}
		if sv := labelValue(v); sv != "" {
			sm = append(sm, push.LabelAdapter{Name: x.labelName(k), Value: sv})
		}
	}
	return sm
}

// labelName is sanitizeLabelName(k), computed once per key and batch.
func (x *translation) labelName(k string) string {
	if validLabelName(k) {
		return k
	}
	if s, ok := x.sanitized[k]; ok {
		return s
	}
	if x.sanitized == nil {
		x.sanitized = map[string]string{}
	}
	s := sanitizeLabelName(k)
	x.sanitized[k] = s
	return s
}

// lineField reports whether an attribute goes into a json/logfmt line: it is
// neither a label nor structured metadata.
func (t *translator) recordAttrInLine(k string) bool {
	return !t.labelRec[k] && !t.smAttr[k]
}

func (t *translator) resourceAttrInLine(k string, rec pcommon.Map) bool {
	if t.labelRes[k] || t.smAttr[k] || k == t.tenantAttr {
		return false
	}
	_, shadowed := rec.Get(k) // the record's own attribute wins
	return !shadowed
}

// reservedLineKeys are the keys the exporter itself writes into json/logfmt
// lines; attributes with these names get an "attr_" prefix.
func reservedLineKey(k string) bool {
	switch k {
	case "body", "trace_id", "span_id", "severity":
		return true
	}
	return false
}

func (t *translator) appendLine(buf []byte, res pcommon.Map, lr plog.LogRecord) []byte {
	switch t.format {
	case LineFormatJSON:
		return t.appendJSONLine(buf, res, lr)
	case LineFormatLogfmt:
		return t.appendLogfmtLine(buf, res, lr)
	default:
		body := lr.Body()
		if body.Type() == pcommon.ValueTypeStr {
			return appendValidUTF8(buf, body.Str())
		}
		if body.Type() == pcommon.ValueTypeEmpty {
			return buf
		}
		return appendValidUTF8(buf, body.AsString())
	}
}

// The JSON and logfmt writers below are Vigil's own: they run once per record
// on the hot path, write straight into a reused buffer (encoding/json would
// need a map[string]any per record) and keep the attribute order of the record.

func (t *translator) appendJSONLine(buf []byte, res pcommon.Map, lr plog.LogRecord) []byte {
	buf = append(buf, `{"body":`...)
	buf = appendJSONValue(buf, lr.Body())
	if !t.smEnabled {
		if tid := lr.TraceID(); !tid.IsEmpty() {
			buf = append(buf, `,"trace_id":"`...)
			buf = append(buf, tid.String()...)
			buf = append(buf, '"')
		}
		if sid := lr.SpanID(); !sid.IsEmpty() {
			buf = append(buf, `,"span_id":"`...)
			buf = append(buf, sid.String()...)
			buf = append(buf, '"')
		}
	}
	if !t.severity {
		buf = append(buf, `,"severity":`...)
		buf = appendJSONString(buf, severityLevel(lr))
	}
	field := func(k string, v pcommon.Value) {
		buf = append(buf, ',')
		if reservedLineKey(k) {
			buf = appendJSONString(buf, "attr_"+k)
		} else {
			buf = appendJSONString(buf, k)
		}
		buf = append(buf, ':')
		buf = appendJSONValue(buf, v)
	}
	t.lineAttrs(res, lr, field)
	return append(buf, '}')
}

// lineAttrs calls field for each attribute written into the line: the
// record's, then the resource's (recordAttrInLine, resourceAttrInLine).
func (t *translator) lineAttrs(res pcommon.Map, lr plog.LogRecord, field func(k string, v pcommon.Value)) {
	rec := lr.Attributes()
	for k, v := range rec.All() {
		if t.recordAttrInLine(k) {
			field(k, v)
		}
	}
	for k, v := range res.All() {
		if t.resourceAttrInLine(k, rec) {
			field(k, v)
		}
	}
}

func (t *translator) appendLogfmtLine(buf []byte, res pcommon.Map, lr plog.LogRecord) []byte {
	buf = append(buf, "body="...)
	buf = appendLogfmtValue(buf, lr.Body())
	if !t.smEnabled {
		if tid := lr.TraceID(); !tid.IsEmpty() {
			buf = append(buf, " trace_id="...)
			buf = append(buf, tid.String()...)
		}
		if sid := lr.SpanID(); !sid.IsEmpty() {
			buf = append(buf, " span_id="...)
			buf = append(buf, sid.String()...)
		}
	}
	if !t.severity {
		buf = append(buf, " severity="...)
		buf = appendLogfmtString(buf, severityLevel(lr))
	}
	field := func(k string, v pcommon.Value) {
		buf = append(buf, ' ')
		if reservedLineKey(k) {
			buf = append(buf, "attr_"...)
		}
		buf = appendLogfmtKey(buf, k)
		buf = append(buf, '=')
		buf = appendLogfmtValue(buf, v)
	}
	t.lineAttrs(res, lr, field)
	return buf
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, "\ufffd"...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}

func appendJSONValue(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(buf, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(buf, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no NaN/Inf; keep the value readable as a string.
			return appendJSONString(buf, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(buf, v.Bool())
	case pcommon.ValueTypeBytes:
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, v.Bytes().AsRaw())
		return append(buf, '"')
	case pcommon.ValueTypeMap:
		buf = append(buf, '{')
		first := true
		for k, mv := range v.Map().All() {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendJSONString(buf, k)
			buf = append(buf, ':')
			buf = appendJSONValue(buf, mv)
		}
		return append(buf, '}')
	case pcommon.ValueTypeSlice:
		buf = append(buf, '[')
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONValue(buf, s.At(i))
		}
		return append(buf, ']')
	default:
		return append(buf, "null"...)
	}
}

// appendLogfmtKey writes k with the bytes logfmt does not allow in a key
// (space, '=', '"', control characters, invalid UTF-8) replaced by '_'.
func appendLogfmtKey(buf []byte, k string) []byte {
	if k == "" {
		return append(buf, '_')
	}
	for i := 0; i < len(k); {
		r, size := utf8.DecodeRuneInString(k[i:])
		if r <= ' ' || r == '=' || r == '"' || r == utf8.RuneError || r == 0x7f {
			buf = append(buf, '_')
		} else {
			buf = append(buf, k[i:i+size]...)
		}
		i += size
	}
	return buf
}

func appendLogfmtValue(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendLogfmtString(buf, v.Str())
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return append(buf, v.AsString()...)
	case pcommon.ValueTypeEmpty:
		return buf
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.AppendEncode(buf, v.Bytes().AsRaw())
	default: // map, slice: their JSON form, quoted
		return appendJSONString(buf, string(appendJSONValue(nil, v)))
	}
}

// appendLogfmtString writes s bare when it needs no quoting, else as a JSON
// (and so logfmt) quoted string.
func appendLogfmtString(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, `""`...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendJSONString(buf, s)
		}
	}
	return append(buf, s...)
}

func appendValidUTF8(buf []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(buf, s...)
	}
	return append(buf, strings.ToValidUTF8(s, "\uFFFD")...)
}

// truncateUTF8 cuts b to at most n bytes without splitting a rune.
func truncateUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// failedLogs returns the records of ld that went to the failed groups, for a
// retry of just those.
func failedLogs(ld plog.Logs, b *pushBatch, failed []bool) plog.Logs {
	out := plog.NewLogs()
	idx := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		var outRL plog.ResourceLogs
		haveRL := false
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			var outSL plog.ScopeLogs
			haveSL := false
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				g := b.recordGroup[idx]
				idx++
				if g < 0 || !failed[g] {
					continue
				}
				if !haveRL {
					outRL = out.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(outRL.Resource())
					outRL.SetSchemaUrl(rl.SchemaUrl())
					haveRL = true
				}
				if !haveSL {
					outSL = outRL.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(outSL.Scope())
					outSL.SetSchemaUrl(sl.SchemaUrl())
					haveSL = true
				}
				lrs.At(k).CopyTo(outSL.LogRecords().AppendEmpty())
			}
		}
	}
	return out
}
