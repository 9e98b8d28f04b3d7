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
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/vigil-otel/vigil/internal/upstreamtest"
)

// The tests in this file check that the wrapper still is contrib's
// file_storage extension plus a gauge: the same component type, stability,
// defaults, configuration keys and validation. They compare with the
// contrib module in go.mod, so an upgrade that changes any of these fails
// here rather than in a running gateway.

func TestFollowsContribFactory(t *testing.T) {
	t.Parallel()
	contrib, wrapper := filestorage.NewFactory(), NewFactory()
	upstreamtest.AssertSameFactory(t, contrib, wrapper)
	assert.Equal(t, contrib.Stability(), wrapper.Stability())
}

// TestFollowsContribValidation unmarshals and validates the same
// configurations with contrib's factory and the wrapper's: both must accept
// each or fail with the same message.
func TestFollowsContribValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	upstreamtest.AssertSameValidation(t, filestorage.NewFactory(), NewFactory(), []upstreamtest.Config{
		{Name: "valid", Conf: map[string]any{"directory": dir}, Valid: true},
		{Name: "missing directory", Conf: map[string]any{"directory": missing}},
		{Name: "created directory", Conf: map[string]any{"directory": missing, "create_directory": true}, Valid: true},
		{Name: "bad permissions", Conf: map[string]any{"directory": missing, "create_directory": true, "directory_permissions": "999"}},
		{Name: "negative max size", Conf: map[string]any{"directory": dir, "max_size": -1}},
		{Name: "compaction without a directory", Conf: map[string]any{"directory": dir, "compaction": map[string]any{"on_start": true, "directory": missing}}},
		{Name: "negative transaction size", Conf: map[string]any{"directory": dir, "compaction": map[string]any{"max_transaction_size": -1}}},
		{Name: "unknown key", Conf: map[string]any{"directory": dir, "fsnyc": true}},
	})
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
