// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

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
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file         string
		unmarshalErr string
		validateErr  string
	}{
		{file: "bad_interval.yaml", validateErr: "`collection_interval` (10ms) must be at least 100ms"},
		{file: "bad_sizes.yaml", validateErr: "`max_sockets` (0) must be between 1 and 16777216\n" +
			"`max_peers_per_cgroup` (20) must not be greater than `max_peers` (10)"},
		{file: "bad_key.yaml", unmarshalErr: "has invalid keys: max_peer"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			if tt.unmarshalErr != "" {
				assert.ErrorContains(t, cm.Unmarshal(cfg), tt.unmarshalErr)
				return
			}
			require.NoError(t, cm.Unmarshal(cfg))
			assert.EqualError(t, confmap.Validate(cfg), tt.validateErr)
		})
	}
}
