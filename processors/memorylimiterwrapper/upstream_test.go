// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	coremlp "go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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
	assert.Equal(t, core.Type(), wrapper.Type())
	assert.Equal(t, core.TracesStability(), wrapper.TracesStability())
	assert.Equal(t, core.MetricsStability(), wrapper.MetricsStability())
	assert.Equal(t, core.LogsStability(), wrapper.LogsStability())
	assert.Equal(t, core.CreateDefaultConfig(), wrapper.CreateDefaultConfig())
}

// TestFollowsTheCoreValidation unmarshals and validates the same YAML with
// the core's factory and the wrapper's: both must accept it or fail with the
// same message.
func TestFollowsTheCoreValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conf map[string]any
		ok   bool
	}{
		{name: "mib", conf: map[string]any{"check_interval": "1s", "limit_mib": 4000, "spike_limit_mib": 800}, ok: true},
		{name: "percentage", conf: map[string]any{"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20}, ok: true},
		{name: "defaults", conf: map[string]any{}},
		{name: "no limit", conf: map[string]any{"check_interval": "1s"}},
		{name: "spike above the limit", conf: map[string]any{"check_interval": "1s", "limit_mib": 100, "spike_limit_mib": 100}},
		{name: "spike percentage above the limit", conf: map[string]any{"check_interval": "1s", "limit_percentage": 50, "spike_limit_percentage": 60}},
		{name: "percentage above 100", conf: map[string]any{"check_interval": "1s", "limit_percentage": 101}},
		{name: "unknown key", conf: map[string]any{"check_interval": "1s", "limit_mb": 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			coreErr := loadAndValidate(coremlp.NewFactory().CreateDefaultConfig(), tt.conf)
			wrapperErr := loadAndValidate(NewFactory().CreateDefaultConfig(), tt.conf)
			if tt.ok {
				require.NoError(t, coreErr)
				require.NoError(t, wrapperErr)
				return
			}
			require.Error(t, coreErr)
			require.EqualError(t, wrapperErr, coreErr.Error())
		})
	}
}

func loadAndValidate(cfg component.Config, conf map[string]any) error {
	if err := confmap.NewFromStringMap(conf).Unmarshal(cfg); err != nil {
		return err
	}
	return confmap.Validate(cfg)
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
	core := coremlp.NewFactory()

	tp, err := NewFactory().CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	coreTP, err := core.CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.IsType(t, &tracesProcessor{}, tp)
	assert.IsType(t, coreTP, tp.(*tracesProcessor).Traces)
	assert.Equal(t, coreTP.Capabilities(), tp.Capabilities())

	mp, err := NewFactory().CreateMetrics(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	coreMP, err := core.CreateMetrics(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.IsType(t, &metricsProcessor{}, mp)
	assert.IsType(t, coreMP, mp.(*metricsProcessor).Metrics)
	assert.Equal(t, coreMP.Capabilities(), mp.Capabilities())

	lp, err := NewFactory().CreateLogs(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	coreLP, err := core.CreateLogs(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.IsType(t, &logsProcessor{}, lp)
	assert.IsType(t, coreLP, lp.(*logsProcessor).Logs)
	assert.Equal(t, coreLP.Capabilities(), lp.Capabilities())
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
