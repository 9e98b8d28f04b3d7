// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// byteSource hands out values from fuzz input; it returns zeros when exhausted.
type byteSource struct{ b []byte }

func (s *byteSource) u8() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *byteSource) u64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = s.u8()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

func (s *byteSource) str() string {
	n := int(s.u8() % 40)
	if n > len(s.b) {
		n = len(s.b)
	}
	v := string(s.b[:n]) // may be empty or invalid UTF-8
	s.b = s.b[n:]
	return v
}

func (s *byteSource) float() float64 {
	switch s.u8() % 6 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	case 3:
		return math.Float64frombits(s.u64())
	}
	return float64(int8(s.u8()))
}

// metricsFrom builds arbitrary pdata from fuzz input, including empty and
// invalid UTF-8 names, NaN/Inf, every metric type and temporality, huge
// label sets and inconsistent histogram shapes.
func metricsFrom(data []byte) pmetric.Metrics {
	s := &byteSource{b: data}
	md := pmetric.NewMetrics()
	for range int(s.u8()%3) + 1 {
		rm := md.ResourceMetrics().AppendEmpty()
		for range int(s.u8() % 5) {
			rm.Resource().Attributes().PutStr(s.str(), s.str())
		}
		if s.u8()%2 == 0 {
			rm.Resource().Attributes().PutStr("service.name", s.str())
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(s.str())
		for range int(s.u8()%6) + 1 {
			m := sm.Metrics().AppendEmpty()
			m.SetName(s.str())
			m.SetUnit(s.str())
			temporality := pmetric.AggregationTemporality(s.u8() % 3)
			nAttrs := int(s.u8() % 8)
			if s.u8() == 255 {
				nAttrs = 2000 // huge label set
			}
			attrs := func(a pcommon.Map) {
				for i := range nAttrs {
					k := s.str()
					if nAttrs > 8 {
						k = strings.Repeat("k", i%50) + string(rune('a'+i%26))
					}
					a.PutStr(k, s.str())
				}
			}
			ts := pcommon.Timestamp(s.u64() >> 8)
			flags := pmetric.DataPointFlags(s.u8() % 2)
			switch s.u8() % 6 {
			case 0:
				dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(s.float())
				dp.SetFlags(flags)
				attrs(dp.Attributes())
				ex := dp.Exemplars().AppendEmpty()
				ex.SetTimestamp(ts)
				ex.SetDoubleValue(s.float())
				ex.FilteredAttributes().PutStr(s.str(), strings.Repeat("x", int(s.u8())))
			case 1:
				sum := m.SetEmptySum()
				sum.SetAggregationTemporality(temporality)
				sum.SetIsMonotonic(s.u8()%2 == 0)
				dp := sum.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetIntValue(int64(s.u64()))
				dp.SetFlags(flags)
				attrs(dp.Attributes())
			case 2:
				h := m.SetEmptyHistogram()
				h.SetAggregationTemporality(temporality)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetFlags(flags)
				for range int(s.u8() % 6) {
					dp.ExplicitBounds().Append(s.float())
				}
				for range int(s.u8() % 8) { // may disagree with the bounds
					dp.BucketCounts().Append(uint64(s.u8()))
				}
				dp.SetCount(s.u64())
				if s.u8()%2 == 0 {
					dp.SetSum(s.float())
				}
				attrs(dp.Attributes())
				ex := dp.Exemplars().AppendEmpty()
				ex.SetTimestamp(ts)
				ex.SetDoubleValue(s.float())
			case 3:
				h := m.SetEmptyExponentialHistogram()
				h.SetAggregationTemporality(temporality)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetFlags(flags)
				dp.SetScale(int32(int8(s.u8())))
				dp.SetZeroThreshold(s.float())
				dp.Positive().SetOffset(int32(s.u64()))
				for range int(s.u8() % 10) {
					dp.Positive().BucketCounts().Append(s.u64())
				}
				dp.Negative().SetOffset(int32(int16(s.u64())))
				for range int(s.u8() % 10) {
					dp.Negative().BucketCounts().Append(uint64(s.u8()))
				}
				dp.SetCount(s.u64())
				dp.SetSum(s.float())
				attrs(dp.Attributes())
			case 4:
				dp := m.SetEmptySummary().DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetFlags(flags)
				for range int(s.u8() % 4) {
					q := dp.QuantileValues().AppendEmpty()
					q.SetQuantile(s.float())
					q.SetValue(s.float())
				}
				dp.SetSum(s.float())
				attrs(dp.Attributes())
			default: // empty metric type
			}
		}
	}
	return md
}

// FuzzTranslateEncode feeds arbitrary pdata (decoded from OTLP protobuf when
// the input is valid OTLP, built from the bytes otherwise) through
// translation, 1.0 and 2.0 encoding and back; it must never panic and the
// encoded requests must always decode.
func FuzzTranslateEncode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x02\x03\x00ab\x01\xff\x00\x04name\x01s\x01\x02\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x03\x01"))
	f.Add([]byte(strings.Repeat("\xff\x80\x01\xfe", 64)))
	f.Add([]byte(strings.Repeat("\x05\x00\x00", 100)))
	rich := pmetric.NewMetrics()
	for _, seed := range [][]byte{[]byte("abcdefghijklmnopqrstuvwxyz0123456789"), []byte(strings.Repeat("\x03\x09", 50))} {
		metricsFrom(seed).ResourceMetrics().MoveAndAppendTo(rich.ResourceMetrics())
	}
	var pm pmetric.ProtoMarshaler
	if b, err := pm.MarshalMetrics(rich); err == nil {
		f.Add(b)
	}
	strategies := []otlptranslator.TranslationStrategyOption{
		otlptranslator.UnderscoreEscapingWithSuffixes, otlptranslator.UnderscoreEscapingWithoutSuffixes,
		otlptranslator.NoUTF8EscapingWithSuffixes, otlptranslator.NoTranslation,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var um pmetric.ProtoUnmarshaler
		md, err := um.UnmarshalMetrics(data)
		if err != nil {
			md = metricsFrom(data)
		}
		sel := byte(0)
		if len(data) > 0 {
			sel = data[len(data)-1]
		}
		tr := New(Settings{
			Strategy:         strategies[int(sel)%len(strategies)],
			ResourceToLabels: sel&4 != 0,
			TargetInfo:       sel&8 != 0,
			ScopeLabels:      sel&16 != 0,
			ExternalLabels:   map[string]string{"cluster": "c"},
			Shards:           int(sel%5) + 1,
		})
		res := tr.Translate(md)
		_ = tr.Filter(md, func(s int, _ uint64) bool { return s%2 == 0 })
		for _, sh := range res.Shards {
			body, err := MarshalV1(sh, true, &Buffers{})
			if err != nil {
				t.Fatalf("v1 marshal: %v", err)
			}
			checkV1(t, sh, unmarshalBody[prompb.WriteRequest](t, "v1", body))
			body, err = MarshalV2(sh, &Buffers{})
			if err != nil {
				t.Fatalf("v2 marshal: %v", err)
			}
			checkV2(t, sh, unmarshalBody[writev2.Request](t, "v2", body))
			if len(sh.Series) > 0 {
				checkChunks(t, sh, sh.Chunks(int(sel)*64, nil), int(sel)*64)
			}
			for _, s := range sh.Series {
				if s.name == "" || !slices.ContainsFunc(s.Labels(), func(l prompb.Label) bool { return l.Name == "__name__" && l.Value != "" }) {
					t.Fatalf("series without a name: %v", s.Labels())
				}
			}
		}
	})
}
