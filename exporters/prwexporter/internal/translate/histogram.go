// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"github.com/prometheus/prometheus/model/labels"
	"math"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// histogram translates an explicit-bucket histogram data point into the
// family's series: one cumulative _bucket per bound and +Inf (each with the
// exemplars that fall in it), _sum when the point has one, and _count.
func (e *pointEmitter) histogram(p pmetric.HistogramDataPoint) {
	x, ok := e.familySample(p.Timestamp(), p.StartTimestamp(), int64(p.BucketCounts().Len())+2)
	if !ok {
		return
	}
	stale := p.Flags().NoRecordedValue()
	exs := e.t.exemplars(e.res, p.Exemplars())
	meta := e.dp.meta
	bounds, counts := p.ExplicitBounds(), p.BucketCounts()
	les := meta.boundLabels(bounds)
	var cum uint64
	lower := math.Inf(-1)
	for i := 0; i < bounds.Len(); i++ {
		if i < counts.Len() {
			cum += counts.At(i)
		}
		upper := bounds.At(i)
		x.Value = orStale(float64(cum), stale)
		e.sample(meta.bucket, label{Name: model.BucketLabel, Value: les[i]}, x, exemplarsIn(exs, lower, upper))
		lower = upper
	}
	x.Value = orStale(float64(p.Count()), stale)
	e.sample(meta.bucket, label{Name: model.BucketLabel, Value: "+Inf"}, x, exemplarsIn(exs, lower, math.Inf(1)))
	// A staleness marker ends _sum too: the prometheus receiver's stale
	// point carries no sum, but the series had one.
	if p.HasSum() || stale {
		x.Value = orStale(p.Sum(), stale)
		e.sample(meta.sum, label{}, x, nil)
	}
	x.Value = orStale(float64(p.Count()), stale)
	e.sample(meta.count, label{}, x, nil)
}

// exemplarsIn returns the exemplars whose value is in the bucket (lower, upper].
func exemplarsIn(exs []prompb.Exemplar, lower, upper float64) []prompb.Exemplar {
	var out []prompb.Exemplar
	for i := range exs {
		if exs[i].Value > lower && exs[i].Value <= upper {
			out = append(out, exs[i])
		}
	}
	return out
}

// summary translates a summary data point into the family's series: one per
// quantile (the family name with a quantile label), _sum and _count.
func (e *pointEmitter) summary(p pmetric.SummaryDataPoint) {
	x, ok := e.familySample(p.Timestamp(), p.StartTimestamp(), int64(p.QuantileValues().Len())+2)
	if !ok {
		return
	}
	stale := p.Flags().NoRecordedValue()
	qs := p.QuantileValues()
	for i := 0; i < qs.Len(); i++ {
		q := qs.At(i)
		x.Value = orStale(q.Value(), stale)
		e.sample(e.dp.name, label{Name: model.QuantileLabel, Value: e.dp.meta.formatFloat(q.Quantile())}, x, nil)
	}
	x.Value = orStale(p.Sum(), stale)
	e.sample(e.dp.meta.sum, label{}, x, nil)
	x.Value = orStale(float64(p.Count()), stale)
	e.sample(e.dp.meta.count, label{}, x, nil)
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
			m.boundStrs[i] = m.formatFloat(b)
		}
	}
	return m.boundStrs
}

// formatFloat formats a le or quantile label value (see
// Settings.OpenMetricsFloats).
func (m *Metadata) formatFloat(f float64) string {
	if m.openMetricsFloats {
		return labels.FormatOpenMetricsFloat(f)
	}
	return formatFloat(f)
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
