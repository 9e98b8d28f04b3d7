// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"

	"github.com/vigil-otel/vigil/internal/configtest"
)

// loadConfig reads the ewma_baseline section of testdata/<file> and validates it.
func loadConfig(t *testing.T, file string) *Config {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	configtest.Load(t, file, "ewma_baseline", cfg)
	return cfg
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, "config.yaml")

	latency := NewDefaultRuleConfig()
	latency.Name = "latency"
	latency.Metric = "http.server.request.duration"
	latency.Value = ValueHistogramMean
	latency.Attributes = []string{"service.name", "http.route"}
	latency.HalfLife = 15 * time.Minute
	latency.K = 5
	latency.ClearScore = 3.5
	latency.Direction = DirectionUp
	latency.Warmup = WarmupConfig{Samples: 50, Duration: 30 * time.Minute}
	latency.For = 2 * time.Minute
	latency.SigmaFloor = SigmaFloorConfig{Relative: 0.05, Absolute: 0.001}
	latency.Seasonality = configoptional.Some(SeasonalityConfig{Period: 168 * time.Hour, Slots: 168, HalfLife: 336 * time.Hour})
	latency.Severity = "critical"
	latency.Outputs = []string{"baseline", "score", "alert"}

	errorsRule := NewDefaultRuleConfig() // every field not written keeps its default
	errorsRule.Name = "errors"
	errorsRule.MetricRegex = ".*_errors_total"
	errorsRule.Value = ValueCounterRate

	storage := component.MustNewIDWithName("file_storage", "ewma")
	want := createDefaultConfig().(*Config)
	want.Rules = []RuleConfig{latency, errorsRule}
	want.MaxSeries = 5000
	want.IdleTimeout = 30 * time.Minute
	want.Storage = &storage
	want.PersistInterval = time.Minute
	am := want.Alertmanager.GetOrInsertDefault()
	am.ClientConfig.Endpoint = "http://127.0.0.1:9093"
	am.ResendInterval = 30 * time.Second
	am.QueueSize = 100
	want.Alertmanager = configoptional.Some(*am)
	assert.Equal(t, want, cfg)
}

// TestSeasonalityDefault: seasonality is on by default (daily, 24 slots),
// `enabled: false` turns it off, and a weekly period keeps the other defaults.
func TestSeasonalityDefault(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, "seasonality_off.yaml")
	def := NewDefaultRuleConfig()
	require.True(t, def.Seasonality.HasValue())
	assert.Equal(t, SeasonalityConfig{Period: 24 * time.Hour, Slots: 24}, *def.Seasonality.Get())
	assert.False(t, cfg.Rules[0].Seasonality.HasValue(), "enabled: false")
	require.True(t, cfg.Rules[1].Seasonality.HasValue())
	assert.Equal(t, SeasonalityConfig{Period: 168 * time.Hour, Slots: 168}, *cfg.Rules[1].Seasonality.Get())
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	configtest.RunBad(t, createDefaultConfig, []configtest.Bad{
		{ID: "ewma_baseline", File: "bad_no_rules.yaml", ValidateContains: []string{"`rules` must contain at least one rule"}},
		{ID: "ewma_baseline", File: "bad_rule.yaml", ValidateContains: []string{
			`rules[0] ("r"): only one of ` + "`metric` (\"a\") and `metric_regex` (\"b\") may be set",
			"`half_life` (-1m0s) must not be negative",
			"`clear_score` (3) must be between 0 and `k` (2)",
			"`warmup.samples` (0) must be at least 1",
			`outputs` + "` has unknown entry \"median\": must be one of baseline, upper, lower, score, alert",
			"`sigma_floor.absolute` (0) must be a finite number greater than 0, so a flat series never divides by zero",
		}},
		{ID: "ewma_baseline", File: "bad_half_life_samples.yaml", ValidateContains: []string{"`half_life_samples` (0) must be between 1 and 1000000 when `half_life` is 0"}},
		{ID: "ewma_baseline", File: "bad_score_suppression.yaml", ValidateContains: []string{"`score_suppression` (-1) must be between 0 (off) and 65535 samples"}},
		{ID: "ewma_baseline", File: "bad_value.yaml", Unmarshal: `invalid value "p99": must be one of gauge, counter_rate, histogram_mean, histogram_count_rate`},
		{ID: "ewma_baseline", File: "bad_seasonality.yaml", ValidateContains: []string{"`seasonality.slots` (7) must divide `seasonality.period` (24h0m0s) evenly"}},
		{ID: "ewma_baseline", File: "bad_alertmanager.yaml", ValidateContains: []string{
			"alertmanager: `endpoint` must be set (Alertmanager base URL, e.g. http://127.0.0.1:9093)",
			"`resend_interval` (0s) must be greater than 0",
		}},
		{ID: "ewma_baseline", File: "bad_duplicate_names.yaml", ValidateContains: []string{`rules[1]: duplicate ` + "`name`" + ` "r": rule names must be unique`}},
	})
}

func TestDefaultConfigNeedsRules(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	assert.EqualError(t, cfg.Validate(), "`rules` must contain at least one rule")
	// configoptional keeps Alertmanager off unless the section is written.
	assert.False(t, cfg.Alertmanager.HasValue())
}
