// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-otel/vigil/internal/configtest"
	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	custom := createDefaultConfig().(*Config)
	custom.Controller.CollectionInterval = 30 * time.Second
	custom.Controller.InitialDelay = 5 * time.Second
	custom.Controller.Timeout = 2 * time.Second
	custom.CgroupRoot = "/host/sys/fs/cgroup"
	custom.MountinfoPath = "/host/proc/1/mountinfo"
	custom.PressurePath = "/host/proc/pressure"
	custom.Scope = ScopePods
	custom.MaxCgroups = 100
	custom.MetricsBuilderConfig.Metrics.SystemPressureStallTime.Enabled = false
	custom.MetricsBuilderConfig.ResourceAttributes.VigilCgroupID.Enabled = false

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
			// MetricsBuilderConfig records which switches the user set;
			// compare what they say.
			assert.Equal(t, tt.want.MetricsBuilderConfig.Metrics.SystemPressureStallTime.Enabled, cfg.MetricsBuilderConfig.Metrics.SystemPressureStallTime.Enabled)
			assert.Equal(t, tt.want.MetricsBuilderConfig.ResourceAttributes.VigilCgroupID.Enabled, cfg.MetricsBuilderConfig.ResourceAttributes.VigilCgroupID.Enabled)
			tt.want.MetricsBuilderConfig, cfg.MetricsBuilderConfig = metadata.MetricsBuilderConfig{}, metadata.MetricsBuilderConfig{}
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 10*time.Second, cfg.Controller.CollectionInterval)
	assert.Equal(t, time.Second, cfg.Controller.InitialDelay)
	assert.Equal(t, "/sys/fs/cgroup", cfg.CgroupRoot)
	assert.Equal(t, "/proc/self/mountinfo", cfg.MountinfoPath)
	assert.Equal(t, "/proc/pressure", cfg.PressurePath)
	assert.Equal(t, ScopeContainers, cfg.Scope)
	assert.Equal(t, 4096, cfg.MaxCgroups)
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	configtest.RunBad(t, createDefaultConfig, []configtest.Bad{
		{File: "bad_interval.yaml", Validate: "`collection_interval` (500ms) must be at least 1s"},
		// The scraper controller validates timeout (its message, under the
		// Go field name of the squashed struct).
		{File: "bad_timeout.yaml", Validate: "controller: \"timeout\": requires positive value"},
		{File: "bad_values.yaml", Validate: "`cgroup_root` (\"sys/fs/cgroup\") must be an absolute path\n" +
			"`pressure_path` (\"\") must be an absolute path\n" +
			"`max_cgroups` (0) must be between 1 and 1048576"},
		{File: "bad_scope.yaml", Unmarshal: "invalid scope \"everything\": must be one of containers, pods, all"},
		{File: "bad_key.yaml", Unmarshal: "has invalid keys: max_cgroup"},
		{File: "bad_metric_key.yaml", Unmarshal: "has invalid keys: enabeld"},
	})
}

func TestValidateScope(t *testing.T) {
	t.Parallel()
	// A Scope set in code, not through UnmarshalText, is still checked.
	cfg := createDefaultConfig().(*Config)
	cfg.Scope = "nodes"
	assert.EqualError(t, cfg.Validate(), "`scope` (\"nodes\") must be one of containers, pods, all")
}
