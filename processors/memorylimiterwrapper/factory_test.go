// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/vigil-otel/vigil/processors/memorylimiterwrapper/internal/metadata"
	"github.com/vigil-otel/vigil/processors/memorylimiterwrapper/internal/metadatatest"
)

var procAttr = attribute.NewSet(attribute.String("processor", "memory_limiter"))

// The gauges' names as the collector exports them (metadata.yaml).
const (
	hardLimitMetric = "otelcol_processor_memory_limiter_hard_limit"
	softLimitMetric = "otelcol_processor_memory_limiter_soft_limit"
)

func TestDefaultConfigIsTheCore(t *testing.T) {
	t.Parallel()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, 10*time.Second, cfg.MinGCIntervalWhenSoftLimited)
	// The core's default fails validation on purpose: a limit must be set.
	require.EqualError(t, cfg.Validate(), "'check_interval' must be greater than zero")
	cfg.CheckInterval = time.Second
	require.EqualError(t, cfg.Validate(), "'limit_mib' or 'limit_percentage' must be greater than zero")
	cfg.MemoryLimitMiB, cfg.MemorySpikeLimitMiB = 100, 100
	require.EqualError(t, cfg.Validate(), "'spike_limit_mib' must be smaller than 'limit_mib'")
}

// TestLimitGauges starts two processors of one limiter (two pipelines) and
// checks one hard and one soft series with the configured values, alive
// until the last processor stops.
func TestLimitGauges(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.CheckInterval = time.Second
	cfg.MemoryLimitMiB, cfg.MemorySpikeLimitMiB = 2048, 512
	set := metadatatest.NewSettings(tel)

	tp, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mp, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, tp.Start(context.Background(), host))
	require.NoError(t, mp.Start(context.Background(), host))

	metadatatest.AssertEqualProcessorMemoryLimiterHardLimit(t, tel,
		[]metricdata.DataPoint[int64]{{Attributes: procAttr, Value: 2048 * mibBytes}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorMemoryLimiterSoftLimit(t, tel,
		[]metricdata.DataPoint[int64]{{Attributes: procAttr, Value: 1536 * mibBytes}}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, tp.Shutdown(context.Background()))
	metadatatest.AssertEqualProcessorMemoryLimiterHardLimit(t, tel,
		[]metricdata.DataPoint[int64]{{Attributes: procAttr, Value: 2048 * mibBytes}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, mp.Shutdown(context.Background()))
	_, err = tel.GetMetric(hardLimitMetric)
	require.Error(t, err, "the gauge outlives the limiter")
}

func TestShutdownWithoutStart(t *testing.T) {
	t.Parallel()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.CheckInterval = time.Second
	cfg.MemoryLimitMiB = 100
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}
