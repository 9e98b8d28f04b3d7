// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// The tests in this file check that the wrapper still is contrib's
// file_storage extension plus a gauge: the same component type, stability,
// defaults, configuration keys and validation. They compare with the
// contrib module in go.mod, so an upgrade that changes any of these fails
// here rather than in a running gateway.

func TestFollowsContribFactory(t *testing.T) {
	t.Parallel()
	contrib, wrapper := filestorage.NewFactory(), NewFactory()
	assert.Equal(t, contrib.Type(), wrapper.Type())
	assert.Equal(t, contrib.Stability(), wrapper.Stability())
	assert.Equal(t, contrib.CreateDefaultConfig(), wrapper.CreateDefaultConfig())
}

// TestFollowsContribValidation unmarshals and validates the same YAML with
// contrib's factory and the wrapper's: both must accept it or fail with the
// same message.
func TestFollowsContribValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		conf map[string]any
		ok   bool
	}{
		{name: "valid", conf: map[string]any{"directory": dir}, ok: true},
		{name: "missing directory", conf: map[string]any{"directory": missing}},
		{name: "created directory", conf: map[string]any{"directory": missing, "create_directory": true}, ok: true},
		{name: "bad permissions", conf: map[string]any{"directory": missing, "create_directory": true, "directory_permissions": "999"}},
		{name: "negative max size", conf: map[string]any{"directory": dir, "max_size": -1}},
		{name: "compaction without a directory", conf: map[string]any{"directory": dir, "compaction": map[string]any{"on_start": true, "directory": missing}}},
		{name: "negative transaction size", conf: map[string]any{"directory": dir, "compaction": map[string]any{"max_transaction_size": -1}}},
		{name: "unknown key", conf: map[string]any{"directory": dir, "fsnyc": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			contribErr := loadAndValidate(filestorage.NewFactory().CreateDefaultConfig(), tt.conf)
			wrapperErr := loadAndValidate(NewFactory().CreateDefaultConfig(), tt.conf)
			if tt.ok {
				require.NoError(t, contribErr)
				require.NoError(t, wrapperErr)
				return
			}
			require.Error(t, contribErr)
			require.EqualError(t, wrapperErr, contribErr.Error())
		})
	}
}

func loadAndValidate(cfg component.Config, conf map[string]any) error {
	if err := confmap.NewFromStringMap(conf).Unmarshal(cfg); err != nil {
		return err
	}
	return confmap.Validate(cfg)
}

// TestWrapsContribExtension: the extension the wrapper creates is contrib's,
// embedded, so exporters get contrib's storage clients.
func TestWrapsContribExtension(t *testing.T) {
	t.Parallel()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Directory = t.TempDir()
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()), cfg)
	require.NoError(t, err)
	sized, ok := ext.(*sizedStorage)
	require.True(t, ok)
	contribExt, err := filestorage.NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()), cfg)
	require.NoError(t, err)
	assert.IsType(t, contribExt, sized.Extension, "the embedded extension is contrib's own type")
	var _ storage.Extension = sized
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, ext.Shutdown(context.Background()))
}
