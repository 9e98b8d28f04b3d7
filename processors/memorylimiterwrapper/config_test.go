// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	defaults := NewFactory().CreateDefaultConfig().(*Config)
	tests := []struct {
		id   string
		want func(c *Config)
	}{
		{"memory_limiter/mib", func(c *Config) { c.MemoryLimitMiB, c.MemorySpikeLimitMiB = 4000, 800 }},
		{"memory_limiter/percentage", func(c *Config) { c.MemoryLimitPercentage, c.MemorySpikePercentage = 80, 20 }},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			sub, err := cm.Sub(tt.id)
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			want := *defaults
			want.CheckInterval = time.Second
			tt.want(&want)
			assert.Equal(t, &want, cfg)
		})
	}
}

// TestBadConfigs: the core's messages name the keys and the rule.
func TestBadConfigs(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "bad_spike.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("memory_limiter")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	assert.EqualError(t, confmap.Validate(cfg), "'spike_limit_percentage' must be smaller than 'limit_percentage'")

	cm, err = confmaptest.LoadConf(filepath.Join("testdata", "bad_key.yaml"))
	require.NoError(t, err)
	sub, err = cm.Sub("memory_limiter")
	require.NoError(t, err)
	assert.ErrorContains(t, sub.Unmarshal(NewFactory().CreateDefaultConfig()), "has invalid keys: limit_mb")
}
