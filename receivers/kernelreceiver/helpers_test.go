// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// sumWhere sums the data points of metric name in resources of namespace
// netns (and, if res is non-nil, with those resource attributes) whose
// attributes include attrs.
func sumWhere(md pmetric.Metrics, netns uint32, res map[string]any, name string, attrs map[string]any) int64 {
	var total int64
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
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						if attrsMatch(dps.At(d).Attributes(), attrs) {
							total += dps.At(d).IntValue()
						}
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						if attrsMatch(dps.At(d).Attributes(), attrs) {
							total += int64(dps.At(d).Count())
						}
					}
				}
			}
		}
	}
	return total
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
