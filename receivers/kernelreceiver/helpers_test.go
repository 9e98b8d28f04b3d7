// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// sumWhere sums the data points of metric name in resources of namespace
// netns (and, if res is non-nil, with those resource attributes) whose
// attributes include attrs: values of sums, counts of histograms.
func sumWhere(md pmetric.Metrics, netns uint32, res map[string]any, name string, attrs map[string]any) int64 {
	var total int64
	eachPointWhere(md, netns, res, name, attrs,
		func(dp pmetric.NumberDataPoint) { total += dp.IntValue() },
		func(dp pmetric.HistogramDataPoint) { total += int64(dp.Count()) })
	return total
}

// pointsWhere counts the data points of sum metric name in namespace netns
// whose attributes include attrs.
func pointsWhere(md pmetric.Metrics, netns uint32, name string, attrs map[string]any) int {
	n := 0
	eachPointWhere(md, netns, nil, name, attrs, func(pmetric.NumberDataPoint) { n++ }, nil)
	return n
}

// eachPointWhere calls sum or hist (when not nil) for every data point of
// metric name in resources of namespace netns with the resource attributes
// res whose attributes include attrs.
func eachPointWhere(md pmetric.Metrics, netns uint32, res map[string]any, name string, attrs map[string]any,
	sum func(pmetric.NumberDataPoint), hist func(pmetric.HistogramDataPoint),
) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		if !attrsMatch(rm.Resource().Attributes(), map[string]any{"vigil.netns.inode": int64(netns)}) || !attrsMatch(rm.Resource().Attributes(), res) {
			continue
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				switch {
				case m.Type() == pmetric.MetricTypeSum && sum != nil:
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						if attrsMatch(dps.At(d).Attributes(), attrs) {
							sum(dps.At(d))
						}
					}
				case m.Type() == pmetric.MetricTypeHistogram && hist != nil:
					dps := m.Histogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						if attrsMatch(dps.At(d).Attributes(), attrs) {
							hist(dps.At(d))
						}
					}
				}
			}
		}
	}
}

func attrsMatch(have pcommon.Map, want map[string]any) bool {
	for k, v := range want {
		got, ok := have.Get(k)
		if !ok {
			return false
		}
		switch v := v.(type) {
		case string:
			if got.Str() != v {
				return false
			}
		case int64:
			if got.Int() != v {
				return false
			}
		case int:
			if got.Int() != int64(v) {
				return false
			}
		}
	}
	return true
}

func merge(a, b map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}
