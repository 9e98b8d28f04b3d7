// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import "go.opentelemetry.io/collector/pdata/pmetric"

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
					base, ok := t.baseLabels(nil, dp, nil, nil)
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
