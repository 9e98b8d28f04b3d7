// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package telemetrytest reads a component's own telemetry in tests and
// benchmarks, where the generated metadatatest assertions (exact data
// points) do not fit: a counter's running total, polled while the component
// works.
package telemetrytest // import "github.com/vigil-otel/vigil/internal/telemetrytest"

import (
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// CounterSum is the sum of the data points of the int64 counter name in
// tel, over all attribute sets; 0 when it has not been recorded yet. A
// metric of another kind fails the test.
func CounterSum(tb testing.TB, tel *componenttest.Telemetry, name string) int64 {
	tb.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		tb.Fatalf("%s is a %T, not an int64 counter", name, m.Data)
	}
	var n int64
	for _, dp := range sum.DataPoints {
		n += dp.Value
	}
	return n
}
