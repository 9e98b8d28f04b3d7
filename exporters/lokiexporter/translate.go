// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter // import "github.com/vigil-otel/vigil/exporters/lokiexporter"

import (
	"encoding/base64"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// translate groups the records of ld into streams by label set, per tenant
// and shard, and sorts each stream's entries by timestamp. It never fails:
// a record that cannot be sent is dropped and counted in the batch.
func (t *translator) translate(ld plog.Logs) *pushBatch {
	b := &pushBatch{
		index:       map[groupKey]int{},
		recordGroup: make([]int32, 0, ld.LogRecordCount()),
		dropped:     map[string]int64{},
	}
	var (
		labelBuf []byte
		lineBuf  []byte
		resVals  = make([]string, len(t.resLabelAttr))
		now      = pcommon.NewTimestampFromTime(t.now())
	)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		for j, a := range t.resLabelAttr {
			resVals[j] = ""
			if v, ok := res.Get(a); ok {
				resVals[j] = labelValue(v)
			}
		}
		tenant := t.tenantID
		if t.tenantAttr != "" {
			if v, ok := res.Get(t.tenantAttr); ok && v.AsString() != "" {
				tenant = strings.ToValidUTF8(v.AsString(), "\uFFFD")
			}
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				labelBuf = t.appendLabels(labelBuf[:0], resVals, lr)
				lineBuf = t.appendLine(lineBuf[:0], res, lr)
				if t.maxLine > 0 && len(lineBuf) > t.maxLine {
					if t.dropLong {
						b.dropped[reasonLineTooLong]++
						b.recordGroup = append(b.recordGroup, -1)
						continue
					}
					lineBuf = truncateUTF8(lineBuf, t.maxLine)
					b.truncated++
				}
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if ts == 0 {
					ts = now
				}
				entry := push.Entry{
					Timestamp:          ts.AsTime(),
					Line:               string(lineBuf),
					StructuredMetadata: t.structuredMetadata(res, lr),
				}
				gi := b.groupFor(groupKey{tenant: tenant, shard: int(xxhash.Sum64(labelBuf) % uint64(t.shards))})
				g := b.groups[gi]
				si, ok := g.index[string(labelBuf)]
				if !ok {
					si = len(g.streams)
					l := string(labelBuf)
					g.index[l] = si
					g.streams = append(g.streams, push.Stream{Labels: l})
				}
				g.streams[si].Entries = append(g.streams[si].Entries, entry)
				g.entries++
				b.recordGroup = append(b.recordGroup, int32(gi))
			}
		}
	}
	for _, g := range b.groups {
		for s := range g.streams {
			es := g.streams[s].Entries
			if !slices.IsSortedFunc(es, cmpEntry) {
				slices.SortStableFunc(es, cmpEntry)
			}
		}
	}
	return b
}

func cmpEntry(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) }

// appendLabels writes the canonical label string ({a="x", b="y"}, names
// sorted) of a record.
func (t *translator) appendLabels(buf []byte, resVals []string, lr plog.LogRecord) []byte {
	buf = append(buf, '{')
	n := 0
	for _, l := range t.labels {
		var v string
		switch l.source {
		case fromResource:
			v = resVals[l.resIdx]
		case fromRecord:
			if av, ok := lr.Attributes().Get(l.attr); ok {
				v = labelValue(av)
			}
		case fromSeverity:
			v = severityLevel(lr)
		}
		if v == "" {
			continue // Loki treats an empty value as an absent label
		}
		if n > 0 {
			buf = append(buf, ", "...)
		}
		buf = append(buf, l.name...)
		buf = append(buf, '=')
		buf = strconv.AppendQuote(buf, v)
		n++
	}
	if n == 0 {
		return append(buf[:0], fallbackLabels...)
	}
	return append(buf, '}')
}

func labelValue(v pcommon.Value) string {
	return strings.ToValidUTF8(v.AsString(), "\uFFFD")
}

// severityLevel is the lower-case severity text, or the level derived from
// the severity number, or "unknown".
func severityLevel(lr plog.LogRecord) string {
	if s := lr.SeverityText(); s != "" {
		return strings.ToLower(strings.ToValidUTF8(s, "\uFFFD"))
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

func (t *translator) structuredMetadata(res pcommon.Map, lr plog.LogRecord) push.LabelsAdapter {
	if !t.smEnabled {
		return nil
	}
	var sm push.LabelsAdapter
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
		sm = t.appendOtherAttributes(sm, res, lr.Attributes())
	}
	return sm
}

// appendOtherAttributes adds the record's attributes, then the resource's,
// that are neither labels nor already listed (the record's own attribute
// wins over a resource attribute of the same key), as Loki's OTLP endpoint
// stores them: names sanitised, values as text.
func (t *translator) appendOtherAttributes(sm push.LabelsAdapter, res, rec pcommon.Map) push.LabelsAdapter {
	for k, v := range rec.All() {
		if t.labelRec[k] || t.smAttr[k] {
			continue
		}
		if sv := labelValue(v); sv != "" {
			sm = append(sm, push.LabelAdapter{Name: sanitizeLabelName(k), Value: sv})
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
			sm = append(sm, push.LabelAdapter{Name: sanitizeLabelName(k), Value: sv})
		}
	}
	return sm
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
