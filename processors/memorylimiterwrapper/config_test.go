// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vigil-otel/vigil/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
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
			cfg := NewFactory().CreateDefaultConfig()
			configtest.Load(t, "config.yaml", tt.id, cfg)
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
	configtest.RunBad(t, NewFactory().CreateDefaultConfig, []configtest.Bad{
		{File: "bad_spike.yaml", ID: "memory_limiter", Validate: "'spike_limit_percentage' must be smaller than 'limit_percentage'"},
		{File: "bad_key.yaml", ID: "memory_limiter", Unmarshal: "has invalid keys: limit_mb"},
	})
}
