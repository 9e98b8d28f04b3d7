// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package telemetrytest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

func TestCounterSum(t *testing.T) {
	t.Parallel()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	assert.Zero(t, CounterSum(t, tel, "sent"), "not recorded yet")

	c, err := tel.NewTelemetrySettings().MeterProvider.Meter("test").Int64Counter("sent")
	require.NoError(t, err)
	c.Add(context.Background(), 3, metric.WithAttributes(attribute.String("shard", "a")))
	c.Add(context.Background(), 4, metric.WithAttributes(attribute.String("shard", "b")))
	c.Add(context.Background(), 5, metric.WithAttributes(attribute.String("shard", "a")))
	assert.Equal(t, int64(12), CounterSum(t, tel, "sent"), "all attribute sets")
}
