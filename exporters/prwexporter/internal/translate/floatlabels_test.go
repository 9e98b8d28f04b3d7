// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestFloatLabelFormats: le and quantile values as Prometheus' OTLP endpoint
// writes them ("1"), or as Prometheus 3 stores scraped series ("1.0").
func TestFloatLabelFormats(t *testing.T) {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	h := sm.Metrics().AppendEmpty()
	h.SetName("h")
	h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.Histogram().DataPoints().AppendEmpty()
	dp.SetTimestamp(1_700_000_000_000_000_000)
	dp.ExplicitBounds().FromRaw([]float64{0.005, 1, 5, 1e-6})
	dp.BucketCounts().FromRaw([]uint64{1, 1, 1, 1, 1})
	s := sm.Metrics().AppendEmpty()
	s.SetName("s")
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetTimestamp(1_700_000_000_000_000_000)
	q := sdp.QuantileValues()
	q.AppendEmpty().SetQuantile(0.5)
	q.AppendEmpty().SetQuantile(1)

	values := func(openMetrics bool) map[string][]string {
		tr := New(Settings{Strategy: "UnderscoreEscapingWithoutSuffixes", Shards: 1, OpenMetricsFloats: openMetrics})
		out := map[string][]string{}
		for _, sh := range tr.Translate(md).Shards {
			for _, se := range sh.Series {
				for _, l := range se.Labels() {
					if l.Name == "le" || l.Name == "quantile" {
						out[l.Name] = append(out[l.Name], l.Value)
					}
				}
			}
		}
		return out
	}
	otlp, om := values(false), values(true)
	assert.ElementsMatch(t, []string{"0.005", "1", "5", "0.000001", "+Inf"}, otlp["le"])
	assert.ElementsMatch(t, []string{"0.5", "1"}, otlp["quantile"])
	assert.ElementsMatch(t, []string{"0.005", "1.0", "5.0", "1e-06", "+Inf"}, om["le"])
	assert.ElementsMatch(t, []string{"0.5", "1.0"}, om["quantile"])
}

// TestStaleHistogramEndsSum: a stale classic histogram point without a sum
// (as the prometheus receiver sends it when a target or series goes away)
// still ends the _sum series with a staleness marker.
func TestStaleHistogramEndsSum(t *testing.T) {
	md := pmetric.NewMetrics()
	h := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	h.SetName("h")
	h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.Histogram().DataPoints().AppendEmpty()
	dp.SetTimestamp(1_700_000_000_000_000_000)
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	names := map[string]bool{}
	for _, sh := range New(Settings{Strategy: "UnderscoreEscapingWithoutSuffixes", Shards: 1}).Translate(md).Shards {
		for _, se := range sh.Series {
			for _, l := range se.Labels() {
				if l.Name == "__name__" {
					names[l.Value] = true
				}
			}
			for _, smp := range se.Samples {
				assert.True(t, value.IsStaleNaN(smp.Value), "%v: %v", se.Labels(), smp.Value)
			}
		}
	}
	assert.True(t, names["h_sum"], "h_sum gets a staleness marker: %v", names)
	assert.True(t, names["h_count"])
}
