// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterprocessor

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
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-otel/vigil/processors/memorylimiterprocessor/internal/metadata"
	"github.com/vigil-otel/vigil/processors/memorylimiterprocessor/internal/metadatatest"
)

var procAttr = attribute.NewSet(attribute.String("processor", "memory_limiter"))

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
	_, err = tel.GetMetric("otelcol_processor_memory_limiter_hard_limit")
	require.Error(t, err, "the gauge outlives the limiter")
}

// TestPercentageLimitsMatchTheCore checks Vigil's computation against the
// core limiter on this machine: the core logs the limits it computed
// ("Memory limiter configured", in whole MiB); the gauges must say the same.
func TestPercentageLimitsMatchTheCore(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.CheckInterval = time.Second
	cfg.MemoryLimitPercentage, cfg.MemorySpikePercentage = 80, 25
	require.NoError(t, cfg.Validate())
	p, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

	entries := logs.FilterMessage("Memory limiter configured").All()
	require.Len(t, entries, 1, "the core logs its limits once")
	fields := entries[0].ContextMap()
	limitMiB, spikeMiB := fields["limit_mib"].(uint64), fields["spike_limit_mib"].(uint64)
	require.NotZero(t, limitMiB)

	hard, err := tel.GetMetric("otelcol_processor_memory_limiter_hard_limit")
	require.NoError(t, err)
	soft, err := tel.GetMetric("otelcol_processor_memory_limiter_soft_limit")
	require.NoError(t, err)
	hardBytes := hard.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
	softBytes := soft.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
	assert.Equal(t, limitMiB, uint64(hardBytes)/mibBytes, "hard limit (MiB) vs the core's")
	assert.Equal(t, spikeMiB, uint64(hardBytes-softBytes)/mibBytes, "spike (MiB) vs the core's")
	t.Logf("this machine: hard %d MiB, soft %d MiB", hardBytes/mibBytes, softBytes/mibBytes)
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
