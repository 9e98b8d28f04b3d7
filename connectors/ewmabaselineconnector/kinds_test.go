// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestValueKinds checks the derived value of each kind exactly: the third
// point's baseline is the second interval's value, since the first derived
// value seeds the baseline (and the first raw point only seeds the interval).
func TestValueKinds(t *testing.T) {
	t.Parallel()
	ts := func(i int) pcommon.Timestamp {
		return pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * 10 * time.Second))
	}
	// histogram builds a histogram, or with exp an exponential histogram,
	// of the given counts and sums.
	histogram := func(exp bool, temp pmetric.AggregationTemporality, counts []uint64, sums []float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("m")
		m.SetUnit("ms")
		if exp {
			m.SetEmptyExponentialHistogram().SetAggregationTemporality(temp)
		} else {
			m.SetEmptyHistogram().SetAggregationTemporality(temp)
		}
		for i := range counts {
			var dp interface {
				SetStartTimestamp(pcommon.Timestamp)
				SetTimestamp(pcommon.Timestamp)
				SetCount(uint64)
				SetSum(float64)
			}
			if exp {
				dp = m.ExponentialHistogram().DataPoints().AppendEmpty()
			} else {
				dp = m.Histogram().DataPoints().AppendEmpty()
			}
			dp.SetStartTimestamp(ts(0))
			if temp == pmetric.AggregationTemporalityDelta && i > 0 {
				dp.SetStartTimestamp(ts(i - 1))
			}
			dp.SetTimestamp(ts(i))
			dp.SetCount(counts[i])
			dp.SetSum(sums[i])
		}
		return md
	}
	sum := func(temp pmetric.AggregationTemporality, values []float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("m")
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(temp)
		for i, v := range values {
			dp := s.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(ts(0))
			if temp == pmetric.AggregationTemporalityDelta && i > 0 {
				dp.SetStartTimestamp(ts(i - 1))
			}
			dp.SetTimestamp(ts(i))
			dp.SetDoubleValue(v)
		}
		return md
	}
	cum, delta := pmetric.AggregationTemporalityCumulative, pmetric.AggregationTemporalityDelta
	tests := []struct {
		name     string
		kind     ValueKind
		md       pmetric.Metrics
		out      string
		unit     string
		baseline []float64 // baseline outputs, in order (0: not checked)
	}{
		// intervals: (300-100)/(20-10) = 20, (600-300)/(30-20) = 30
		{"cumulative histogram mean", ValueHistogramMean, histogram(false, cum, []uint64{10, 20, 30, 40}, []float64{100, 300, 600, 1000}), "m_mean_baseline", "ms", []float64{20, 20 + 10*(1-math.Pow(2, -10.0/600))}},
		// delta points are intervals already: 100/10 = 10, 300/10 = 30
		{"delta histogram mean", ValueHistogramMean, histogram(false, delta, []uint64{10, 10, 10}, []float64{100, 300, 500}), "m_mean_baseline", "ms", []float64{10, 0}},
		// counts 10, 20, 40 over 10 s: 1/s then 2/s
		{"cumulative histogram count rate", ValueHistogramCountRate, histogram(false, cum, []uint64{0, 10, 30, 60}, []float64{0, 1, 2, 3}), "m_count_rate_baseline", "ms/s", []float64{1, 0}},
		// the same figures from exponential histograms
		{"cumulative exponential histogram mean", ValueHistogramMean, histogram(true, cum, []uint64{10, 20, 30, 40}, []float64{100, 300, 600, 1000}), "m_mean_baseline", "ms", []float64{20, 20 + 10*(1-math.Pow(2, -10.0/600))}},
		{"delta exponential histogram mean", ValueHistogramMean, histogram(true, delta, []uint64{10, 10, 10}, []float64{100, 300, 500}), "m_mean_baseline", "ms", []float64{10, 0}},
		{"cumulative exponential histogram count rate", ValueHistogramCountRate, histogram(true, cum, []uint64{0, 10, 30, 60}, []float64{0, 1, 2, 3}), "m_count_rate_baseline", "ms/s", []float64{1, 0}},
		// 0, 100, 300: 10/s then 20/s
		{"cumulative counter rate", ValueCounterRate, sum(cum, []float64{0, 100, 300, 600}), "m_rate_baseline", "1/s", []float64{10, 0}},
		// delta 100 per 10 s window: 10/s each
		{"delta counter rate", ValueCounterRate, sum(delta, []float64{100, 100, 100}), "m_rate_baseline", "1/s", []float64{10, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEngine(t, testRule(func(r *RuleConfig) { r.Value = tt.kind }))
			b := e.process(tt.md)
			ms := b.metrics.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			require.Equal(t, tt.out, ms.At(0).Name())
			assert.Equal(t, tt.unit, ms.At(0).Unit())
			dps := ms.At(0).Gauge().DataPoints()
			require.GreaterOrEqual(t, dps.Len(), 1)
			assert.InDelta(t, tt.baseline[0], dps.At(0).DoubleValue(), 1e-12, "baseline seeded by the first derived value")
			if dps.Len() > 1 && tt.baseline[1] != 0 {
				assert.InDelta(t, tt.baseline[1], dps.At(1).DoubleValue(), 1e-12)
			}
		})
	}
}
