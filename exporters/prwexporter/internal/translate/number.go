// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"math"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/model/value"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// number translates a gauge or counter data point: one sample, with the
// start ("created") timestamp for a monotonic counter, and its exemplars.
func (e *pointEmitter) number(p pmetric.NumberDataPoint) {
	ts, ok := e.timestamp(p.Timestamp(), KindSample, 1)
	if !ok {
		return
	}
	x := Sample{Value: orStale(numberValue(p), p.Flags().NoRecordedValue()), Timestamp: ts}
	if e.dp.typ == otlptranslator.MetricTypeMonotonicCounter {
		x.Start = msOf(p.StartTimestamp())
	}
	if e.sample(e.dp.name, label{}, x, e.t.exemplars(e.res, p.Exemplars())) {
		e.seen(ts)
	}
}

var staleNaN = math.Float64frombits(value.StaleNaN)

// orStale returns v, or Prometheus' staleness marker for a point flagged
// "no recorded value".
func orStale(v float64, stale bool) float64 {
	if stale {
		return staleNaN
	}
	return v
}

func numberValue(p pmetric.NumberDataPoint) float64 {
	if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(p.IntValue())
	}
	return p.DoubleValue()
}
