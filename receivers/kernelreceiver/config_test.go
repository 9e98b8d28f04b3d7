// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-otel/vigil/internal/configtest"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	custom := createDefaultConfig().(*Config)
	custom.CollectionInterval = 30 * time.Second
	custom.Degrade = true
	custom.MaxPeers = 1000
	custom.MaxPeersPerCgroup = 50
	custom.MaxCgroups = 100
	custom.MaxSockets = 2000
	custom.MaxStateEntries = 300
	custom.MaxCgroupPaths = 400
	custom.CgroupRoot = "/sys/fs/cgroup/unified"
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"metrics": map[string]any{"kernel.tcp.connections": map[string]any{"enabled": false}},
	}).Unmarshal(&custom.MetricsBuilderConfig))
	require.False(t, custom.MetricsBuilderConfig.Metrics.KernelTCPConnections.Enabled)

	tests := []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), createDefaultConfig().(*Config)},
		{component.NewIDWithName(metadata.Type, "custom"), custom},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			t.Parallel()
			cfg := createDefaultConfig().(*Config)
			configtest.Load(t, "config.yaml", tt.id.String(), cfg)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	configtest.RunBad(t, createDefaultConfig, []configtest.Bad{
		{File: "bad_interval.yaml", Validate: "`collection_interval` (10ms) must be at least 100ms"},
		{File: "bad_sizes.yaml", Validate: "`max_sockets` (0) must be between 1 and 16777216\n" +
			"`max_peers_per_cgroup` (20) must not be greater than `max_peers` (10)"},
		{File: "bad_key.yaml", Unmarshal: "has invalid keys: max_peer"},
	})
}
