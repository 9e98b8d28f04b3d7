// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// maxExemplarLabelsRunes is the limit Prometheus puts on an exemplar's
// labels (exemplar.ExemplarMaxLabelSetLength): it rejects longer ones.
const maxExemplarLabelsRunes = 128

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
