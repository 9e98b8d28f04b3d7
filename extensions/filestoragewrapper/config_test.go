// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

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

	sub, err := cm.Sub("file_storage/queue")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "./testdata", cfg.Directory)
	assert.Equal(t, 2*time.Second, cfg.Timeout)
	assert.True(t, cfg.FSync)

	// contrib's validation, unchanged.
	sub, err = cm.Sub("file_storage/missing")
	require.NoError(t, err)
	cfg = NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	assert.ErrorContains(t, confmap.Validate(cfg), "directory must exist")
}
