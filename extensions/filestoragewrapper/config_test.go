// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vigil-otel/vigil/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	configtest.Load(t, "config.yaml", "file_storage/queue", cfg)
	assert.Equal(t, "./testdata", cfg.Directory)
	assert.Equal(t, 2*time.Second, cfg.Timeout)
	assert.True(t, cfg.FSync)

	// contrib's validation, unchanged.
	configtest.RunBad(t, NewFactory().CreateDefaultConfig, []configtest.Bad{
		{File: "config.yaml", ID: "file_storage/missing", ValidateContains: []string{"directory must exist"}},
	})
}
