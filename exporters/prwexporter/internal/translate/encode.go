// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"fmt"
	"math"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Buffers are the scratch memory of one encoding: the protobuf bytes and
// snappy's output, whose worst-case size is allocated whole even though a
// request compresses to a fraction of it. Reuse them across calls (not
// concurrently); the body returned by MarshalV1 and MarshalV2 is a copy.
type Buffers struct {
	pb, snappy []byte
	refs       []uint32              // 2.0 label references
	ends       []int                 // 2.0: where each series' references end in refs
	symbols    *writev2.SymbolsTable // 2.0 symbol table
	labels     baseLabelsV1          // 1.0: the labels of the current data point
}

// Cap is the memory the buffers hold, roughly.
func (b *Buffers) Cap() int {
	return cap(b.pb) + cap(b.snappy) + 4*cap(b.refs) + 8*cap(b.ends) + cap(b.labels.enc.b) + 4*cap(b.labels.enc.offs)
}

// grow returns the empty protobuf buffer with room for n bytes: the shard's
// size estimate, an upper bound, so that encoding never grows it (growing
// it step by step was ~8 % of MarshalV1 in the whole-process profile).
func (b *Buffers) grow(n int) []byte {
	if cap(b.pb) < n {
		b.pb = make([]byte, 0, n)
	}
	return b.pb[:0]
}

func (b *Buffers) compress(pb []byte) []byte {
	b.pb = pb
	if n := snappy.MaxEncodedLen(len(pb)); cap(b.snappy) < n {
		b.snappy = make([]byte, n)
	}
	return append([]byte(nil), snappy.Encode(b.snappy[:cap(b.snappy)], pb)...)
}

// MarshalV1 encodes a shard as a remote-write 1.0 WriteRequest, snappy
// compressed.
//
// The labels and samples are written straight from the shard: building
// prompb.TimeSeries first would copy every label of every series into a
// 64-byte prompb.Label (see Series). Exemplars, native histograms and
// metadata, which are few, go through prompb's generated marshalling. The
// output is the same protobuf message (TestMarshalV1MatchesPrompb).
func MarshalV1(sh *Shard, sendMetadata bool, bufs *Buffers) (body []byte, err error) {
	pb := bufs.grow(sh.est)
	bufs.labels.base = nil // a shard of another Translate may reuse the memory
	for _, s := range sh.Series {
		if pb, err = appendSeriesV1(pb, s, &bufs.labels); err != nil {
			return nil, err
		}
	}
	if sendMetadata {
		for _, m := range v1Metadata(sh) {
			pb = appendTag(pb, 3, wireBytes)
			if pb, err = appendMessage(pb, m.Size(), m.MarshalToSizedBuffer); err != nil {
				return nil, err
			}
		}
	}
	return bufs.compress(pb), nil
}

// v1Metadata returns one MetricMetadata per family in the shard.
func v1Metadata(sh *Shard) []prompb.MetricMetadata {
	var out []prompb.MetricMetadata
	families := map[string]struct{}{}
	for _, s := range sh.Series {
		if s.Meta == nil {
			continue
		}
		if _, ok := families[s.Meta.Family]; ok {
			continue
		}
		families[s.Meta.Family] = struct{}{}
		out = append(out, prompb.MetricMetadata{
			Type:             prompb.FromMetadataType(s.Meta.Type),
			MetricFamilyName: s.Meta.Family,
			Help:             s.Meta.Help,
			Unit:             s.Meta.Unit,
		})
	}
	return out
}

// Varints and tags are protowire's, with the one-byte case (every tag here,
// most lengths) inline: calling protowire for every label field measured
// slower (BenchmarkTranslateEncode v1: ~2.4 against ~2.0 µs per data point).
const (
	wireVarint  = protowire.VarintType
	wireFixed64 = protowire.Fixed64Type
	wireBytes   = protowire.BytesType
)

func appendTag(b []byte, field protowire.Number, wire protowire.Type) []byte {
	return appendVarint(b, protowire.EncodeTag(field, wire))
}

func appendVarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

func varintLen(v uint64) int { return protowire.SizeVarint(v) }

// bytesFieldLen is the encoded size of a length-delimited field of n bytes
// (tag of a field number below 16, length, payload).
func bytesFieldLen(n int) int { return 1 + varintLen(uint64(n)) + n }

func appendString(b []byte, field protowire.Number, s string) []byte {
	if s == "" { // proto3 omits empty strings
		return b
	}
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendMessage appends the length and the message that marshal writes into
// exactly size bytes (gogo's MarshalToSizedBuffer writes from the end).
func appendMessage(b []byte, size int, marshal func([]byte) (int, error)) ([]byte, error) {
	b = appendVarint(b, uint64(size))
	n := len(b)
	b = append(b, make([]byte, size)...)
	if _, err := marshal(b[n:]); err != nil {
		return b, fmt.Errorf("marshal remote-write 1.0 request: %w", err)
	}
	return b, nil
}

func labelLen(name, value string) int {
	n := 0
	if name != "" {
		n += bytesFieldLen(len(name))
	}
	if value != "" {
		n += bytesFieldLen(len(value))
	}
	return n
}

func sampleLen(x Sample) int {
	n := 0
	if math.Float64bits(x.Value) != 0 {
		n += 9
	}
	if x.Timestamp != 0 {
		n += 1 + varintLen(uint64(x.Timestamp))
	}
	return n
}

// appendSampleFields appends the value (1) and timestamp (2) fields shared by
// prompb.Sample and writev2.Sample. proto3 omits zero values; a value is
// compared bit for bit so that -0 survives.
func appendSampleFields(b []byte, x Sample) []byte {
	if bits := math.Float64bits(x.Value); bits != 0 {
		b = appendTag(b, 1, wireFixed64)
		b = append(b, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24),
			byte(bits>>32), byte(bits>>40), byte(bits>>48), byte(bits>>56))
	}
	if x.Timestamp != 0 {
		b = appendTag(b, 2, wireVarint)
		b = appendVarint(b, uint64(x.Timestamp))
	}
	return b
}

// baseLabelsV1 holds the 1.0 encoding of one data point's labels (Label
// messages, field 1 of TimeSeries; see labelBytes): each series of the data
// point copies it rather than encoding every label again
// (BenchmarkTranslateEncode: appendSeriesV1 was the largest part of the
// encoding).
type baseLabelsV1 struct {
	base *dpLabels // whose labels enc holds; nil: none
	enc  labelBytes
}

func (l *baseLabelsV1) set(base *dpLabels) {
	l.base = base
	l.enc.set(base.labels, formV1)
}

// appendLabelV1 appends one Label message as field 1 of TimeSeries.
func appendLabelV1(b []byte, name, value string) []byte {
	b = appendTag(b, 1, wireBytes)
	b = appendVarint(b, uint64(labelLen(name, value)))
	b = appendString(b, 1, name)
	return appendString(b, 2, value)
}

// fit returns where s's extra label goes among its data point's labels and
// the size of s's labels; ok is false when the extra label replaces one of
// the data point's (see extraAt). l holds s's data point.
func (l *baseLabelsV1) fit(s *Series) (ins, size int, ok bool) {
	if ins, ok = extraAt(s.base.labels, s.extra.Name); !ok {
		return 0, 0, false
	}
	if s.extra.Name != "" {
		size += bytesFieldLen(labelLen(s.extra.Name, s.extra.Value))
	}
	size += len(l.enc.b)
	if l.enc.name >= 0 {
		size += bytesFieldLen(labelLen(model.MetricNameLabel, s.name))
	}
	return ins, size, true
}

// appendSeriesV1 appends field 1 of WriteRequest: one prompb.TimeSeries.
// l caches the encoding of the series' data point labels.
func appendSeriesV1(b []byte, s *Series, l *baseLabelsV1) (_ []byte, err error) {
	if l.base != s.base {
		l.set(s.base)
	}
	ins, size, fast := l.fit(s)
	if !fast {
		size = 0
		for c := s.cursor(); ; {
			n, v, ok := c.next()
			if !ok {
				break
			}
			size += bytesFieldLen(labelLen(n, v))
		}
	}
	for _, x := range s.Samples {
		size += bytesFieldLen(sampleLen(x))
	}
	exs, hists := s.Exemplars(), s.Histograms()
	for i := range exs {
		size += bytesFieldLen(exs[i].Size())
	}
	for i := range hists {
		size += bytesFieldLen(hists[i].Size())
	}

	b = appendTag(b, 1, wireBytes)
	b = appendVarint(b, uint64(size))
	if fast {
		b = l.enc.appendSeries(b, s.name, s.extra, ins)
	} else {
		for c := s.cursor(); ; {
			n, v, ok := c.next()
			if !ok {
				break
			}
			b = appendLabelV1(b, n, v)
		}
	}
	for _, x := range s.Samples {
		b = appendTag(b, 2, wireBytes)
		b = appendVarint(b, uint64(sampleLen(x)))
		b = appendSampleFields(b, x)
	}
	for i := range exs {
		b = appendTag(b, 3, wireBytes)
		if b, err = appendMessage(b, exs[i].Size(), exs[i].MarshalToSizedBuffer); err != nil {
			return b, err
		}
	}
	for i := range hists {
		b = appendTag(b, 4, wireBytes)
		if b, err = appendMessage(b, hists[i].Size(), hists[i].MarshalToSizedBuffer); err != nil {
			return b, err
		}
	}
	return b, nil
}

// MarshalV2 encodes a shard as a remote-write 2.0 Request, snappy
// compressed. Like MarshalV1 it writes the series straight from the shard
// (building writev2.TimeSeries first cost more than the encoding itself);
// the output is the message writev2's generated code would produce
// (TestMarshalV2MatchesPrompb). Strings go into the symbol table (symbol 0
// is always ""), every series carries its metadata, and samples carry their
// start timestamp.
func MarshalV2(sh *Shard, bufs *Buffers) (body []byte, err error) {
	if bufs.symbols == nil {
		st := writev2.NewSymbolTable()
		bufs.symbols = &st
	}
	st := bufs.symbols
	st.Reset()
	// Pass 1: every string, so that the symbol table can be written first.
	refs, ends := bufs.refs[:0], bufs.ends[:0]
	for _, s := range sh.Series {
		for c := s.cursor(); ; {
			n, v, ok := c.next()
			if !ok {
				break
			}
			refs = append(refs, st.Symbolize(n), st.Symbolize(v))
		}
		ends = append(ends, len(refs))
		for _, e := range s.Exemplars() {
			for _, l := range e.Labels {
				st.Symbolize(l.Name)
				st.Symbolize(l.Value)
			}
		}
		if s.Meta != nil {
			st.Symbolize(s.Meta.Help)
			st.Symbolize(s.Meta.Unit)
		}
	}
	bufs.refs, bufs.ends = refs, ends
	pb := bufs.grow(sh.est)
	for _, sym := range st.Symbols() {
		pb = appendTag(pb, 4, wireBytes)
		pb = appendVarint(pb, uint64(len(sym)))
		pb = append(pb, sym...)
	}
	// Pass 2: the series, taking their label references in order.
	start := 0
	for i, s := range sh.Series {
		if pb, err = appendSeriesV2(pb, s, refs[start:ends[i]], st); err != nil {
			return nil, err
		}
		start = ends[i]
	}
	return bufs.compress(pb), nil
}

func sampleV2Len(x Sample) int {
	n := sampleLen(x)
	if x.Start != 0 {
		n += 1 + varintLen(uint64(x.Start))
	}
	return n
}

// appendSeriesV2 appends field 5 of Request: one writev2.TimeSeries.
func appendSeriesV2(b []byte, s *Series, refs []uint32, st *writev2.SymbolsTable) (_ []byte, err error) {
	refsLen := 0
	for _, r := range refs {
		refsLen += varintLen(uint64(r))
	}
	var hists []writev2.Histogram
	for i, h := range s.Histograms() {
		hists = append(hists, histogramV2(h, s.HistStarts()[i]))
	}
	var exs []writev2.Exemplar
	for _, e := range s.Exemplars() {
		ex := writev2.Exemplar{Value: e.Value, Timestamp: e.Timestamp, LabelsRefs: make([]uint32, 0, 2*len(e.Labels))}
		for _, l := range e.Labels {
			ex.LabelsRefs = append(ex.LabelsRefs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		exs = append(exs, ex)
	}
	var meta writev2.Metadata
	if s.Meta != nil {
		meta = writev2.Metadata{Type: writev2.FromMetadataType(s.Meta.Type), HelpRef: st.Symbolize(s.Meta.Help), UnitRef: st.Symbolize(s.Meta.Unit)}
	}

	size := 0
	if refsLen > 0 {
		size += bytesFieldLen(refsLen)
	}
	for _, x := range s.Samples {
		size += bytesFieldLen(sampleV2Len(x))
	}
	for i := range hists {
		size += bytesFieldLen(hists[i].Size())
	}
	for i := range exs {
		size += bytesFieldLen(exs[i].Size())
	}
	size += bytesFieldLen(meta.Size()) // a non-nullable field: always written

	b = appendTag(b, 5, wireBytes)
	b = appendVarint(b, uint64(size))
	if refsLen > 0 {
		b = appendTag(b, 1, wireBytes)
		b = appendVarint(b, uint64(refsLen))
		for _, r := range refs {
			b = appendVarint(b, uint64(r))
		}
	}
	for _, x := range s.Samples {
		b = appendTag(b, 2, wireBytes)
		b = appendVarint(b, uint64(sampleV2Len(x)))
		b = appendSampleFields(b, x)
		if x.Start != 0 {
			b = appendTag(b, 3, wireVarint)
			b = appendVarint(b, uint64(x.Start))
		}
	}
	for i := range hists {
		b = appendTag(b, 3, wireBytes)
		if b, err = appendMessage(b, hists[i].Size(), hists[i].MarshalToSizedBuffer); err != nil {
			return b, err
		}
	}
	for i := range exs {
		b = appendTag(b, 4, wireBytes)
		if b, err = appendMessage(b, exs[i].Size(), exs[i].MarshalToSizedBuffer); err != nil {
			return b, err
		}
	}
	b = appendTag(b, 5, wireBytes)
	return appendMessage(b, meta.Size(), meta.MarshalToSizedBuffer)
}

func histogramV2(h prompb.Histogram, start int64) writev2.Histogram {
	out := writev2.Histogram{
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		NegativeDeltas: h.NegativeDeltas,
		PositiveDeltas: h.PositiveDeltas,
		Timestamp:      h.Timestamp,
		StartTimestamp: start,
	}
	if c, ok := h.Count.(*prompb.Histogram_CountInt); ok {
		out.Count = &writev2.Histogram_CountInt{CountInt: c.CountInt}
	}
	if z, ok := h.ZeroCount.(*prompb.Histogram_ZeroCountInt); ok {
		out.ZeroCount = &writev2.Histogram_ZeroCountInt{ZeroCountInt: z.ZeroCountInt}
	}
	for _, s := range h.NegativeSpans {
		out.NegativeSpans = append(out.NegativeSpans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	for _, s := range h.PositiveSpans {
		out.PositiveSpans = append(out.PositiveSpans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	return out
}
