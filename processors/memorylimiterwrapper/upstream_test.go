// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	coremlp "go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-otel/vigil/internal/upstreamtest"
	"github.com/vigil-otel/vigil/processors/memorylimiterwrapper/internal/metadatatest"
)

// The tests in this file check that the wrapper still is the core's
// memory_limiter plus two gauges: the same component type, stability,
// defaults, configuration keys and validation, the core's processors, and
// the limits the core computes. They compare with the core module in
// go.mod, so an upgrade that changes any of these fails here rather than in
// a running gateway.

func TestFollowsTheCoreFactory(t *testing.T) {
	t.Parallel()
	core, wrapper := coremlp.NewFactory(), NewFactory()
	upstreamtest.AssertSameFactory(t, core, wrapper)
	assert.Equal(t, core.TracesStability(), wrapper.TracesStability())
	assert.Equal(t, core.MetricsStability(), wrapper.MetricsStability())
	assert.Equal(t, core.LogsStability(), wrapper.LogsStability())
}

// TestFollowsTheCoreValidation unmarshals and validates the same
// configurations with the core's factory and the wrapper's: both must
// accept each or fail with the same message.
func TestFollowsTheCoreValidation(t *testing.T) {
	t.Parallel()
	upstreamtest.AssertSameValidation(t, coremlp.NewFactory(), NewFactory(), []upstreamtest.Config{
		{Name: "mib", Conf: map[string]any{"check_interval": "1s", "limit_mib": 4000, "spike_limit_mib": 800}, Valid: true},
		{Name: "percentage", Conf: map[string]any{"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20}, Valid: true},
		{Name: "defaults", Conf: map[string]any{}},
		{Name: "no limit", Conf: map[string]any{"check_interval": "1s"}},
		{Name: "spike above the limit", Conf: map[string]any{"check_interval": "1s", "limit_mib": 100, "spike_limit_mib": 100}},
		{Name: "spike percentage above the limit", Conf: map[string]any{"check_interval": "1s", "limit_percentage": 50, "spike_limit_percentage": 60}},
		{Name: "percentage above 100", Conf: map[string]any{"check_interval": "1s", "limit_percentage": 101}},
		{Name: "unknown key", Conf: map[string]any{"check_interval": "1s", "limit_mb": 100}},
	})
}

// TestWrapsTheCoreProcessors: each processor the wrapper creates embeds the
// core's, with the core's capabilities.
func TestWrapsTheCoreProcessors(t *testing.T) {
	t.Parallel()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.CheckInterval = time.Second
	cfg.MemoryLimitMiB = 100
	set := processortest.NewNopSettings(NewFactory().Type())
	ctx := context.Background()
	core, wrapper, next := coremlp.NewFactory(), NewFactory(), consumertest.NewNop()
	wt, err1 := wrapper.CreateTraces(ctx, set, cfg, next)
	ct, err2 := core.CreateTraces(ctx, set, cfg, next)
	wm, err3 := wrapper.CreateMetrics(ctx, set, cfg, next)
	cm, err4 := core.CreateMetrics(ctx, set, cfg, next)
	wl, err5 := wrapper.CreateLogs(ctx, set, cfg, next)
	cl, err6 := core.CreateLogs(ctx, set, cfg, next)
	require.NoError(t, errors.Join(err1, err2, err3, err4, err5, err6))
	for _, p := range []struct {
		signal        string
		wrapped, core capable
	}{{"traces", wt, ct}, {"metrics", wm, cm}, {"logs", wl, cl}} {
		inner := embeddedCore(p.wrapped)
		require.NotNil(t, inner, "%s: the wrapper's processor is a %T", p.signal, p.wrapped)
		assert.IsType(t, p.core, inner, "%s: the wrapped processor is the core's own type", p.signal)
		assert.Equal(t, p.core.Capabilities(), p.wrapped.Capabilities(), p.signal)
	}
}

type capable interface{ Capabilities() consumer.Capabilities }

// embeddedCore returns the core processor a wrapper's processor embeds.
func embeddedCore(p capable) capable {
	switch w := p.(type) {
	case *tracesProcessor:
		return w.Traces
	case *metricsProcessor:
		return w.Metrics
	case *logsProcessor:
		return w.Logs
	}
	return nil
}

// TestLimitsMatchTheCore checks Vigil's computation of the limits against
// the core limiter's on this machine, for fixed and percentage limits: the
// core logs the limits it computed ("Memory limiter configured", in whole
// MiB); the gauges must say the same.
func TestLimitsMatchTheCore(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
	}{
		{"mib", func(c *Config) { c.MemoryLimitMiB, c.MemorySpikeLimitMiB = 2048, 300 }},
		{"mib default spike", func(c *Config) { c.MemoryLimitMiB = 1000 }},
		{"percentage", func(c *Config) { c.MemoryLimitPercentage, c.MemorySpikePercentage = 80, 25 }},
		{"percentage default spike", func(c *Config) { c.MemoryLimitPercentage = 50 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			set := metadatatest.NewSettings(tel)
			set.Logger = zap.New(core)

			f := NewFactory()
			cfg := f.CreateDefaultConfig().(*Config)
			cfg.CheckInterval = time.Second
			tt.set(cfg)
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

			hard, err := tel.GetMetric(hardLimitMetric)
			require.NoError(t, err)
			soft, err := tel.GetMetric(softLimitMetric)
			require.NoError(t, err)
			hardBytes := hard.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
			softBytes := soft.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
			assert.Equal(t, limitMiB, uint64(hardBytes)/mibBytes, "hard limit (MiB) vs the core's")
			assert.Equal(t, spikeMiB, uint64(hardBytes-softBytes)/mibBytes, "spike (MiB) vs the core's")
		})
	}
}
