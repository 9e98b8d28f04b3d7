// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/vigil-otel/vigil/extensions/filestoragewrapper/internal/metadatatest"
)

const sizeMetric = "otelcol_extension_file_storage_file_size"

// startExtension creates and starts the extension on dir, validated as the
// collector validates it.
func startExtension(t testing.TB, tel *componenttest.Telemetry, dir string) extension.Extension {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	require.NoError(t, confmap.Validate(cfg))
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return ext
}

func fileDP(name string, size int64) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.String("extension", "file_storage"), attribute.String("file", name)), Value: size}
}

// TestFileSizes: every regular file directly in the directory, with its
// size; nothing from a subdirectory, no symlink.
func TestFileSizes(t *testing.T) {
	dir := t.TempDir()
	write := func(p string, n int) {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o600))
	}
	write(filepath.Join(dir, "data_a"), 4096)
	write(filepath.Join(dir, "data_b"), 12345)
	write(filepath.Join(dir, "empty"), 0)
	write(filepath.Join(dir, "sub", "deeper"), 777)
	require.NoError(t, os.Symlink(filepath.Join(dir, "data_a"), filepath.Join(dir, "link")))

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext := startExtension(t, tel, dir)

	metadatatest.AssertEqualExtensionFileStorageFileSize(t, tel, []metricdata.DataPoint[int64]{
		fileDP("data_a", 4096),
		fileDP("data_b", 12345),
		fileDP("empty", 0),
	}, metricdatatest.IgnoreTimestamp())

	// Read at collection time: a file that grows is seen growing.
	write(filepath.Join(dir, "data_a"), 8192)
	metadatatest.AssertEqualExtensionFileStorageFileSize(t, tel, []metricdata.DataPoint[int64]{
		fileDP("data_a", 8192),
		fileDP("data_b", 12345),
		fileDP("empty", 0),
	}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, ext.Shutdown(context.Background()))
	_, err := tel.GetMetric(sizeMetric)
	require.Error(t, err, "the gauge outlives the extension")
}

// TestQueueFileThroughStorageClient uses the extension as an exporter's
// persistent queue does (GetClient, through the wrapper) and finds the
// bbolt file contrib creates, named after the component, in the gauge.
func TestQueueFileThroughStorageClient(t *testing.T) {
	dir := t.TempDir()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext := startExtension(t, tel, dir)
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })

	st, ok := ext.(storage.Extension)
	require.True(t, ok, "the wrapper must stay a storage.Extension: exporters look it up as one")
	client, err := st.GetClient(context.Background(), component.KindExporter, component.MustNewID("prometheusremotewrite"), "metrics")
	require.NoError(t, err)
	require.NoError(t, client.Set(context.Background(), "item", bytes.Repeat([]byte{'q'}, 256<<10)))
	require.NoError(t, client.Close(context.Background()))

	const name = "exporter_prometheusremotewrite__metrics"
	info, err := os.Stat(filepath.Join(dir, name))
	require.NoError(t, err)
	require.Greater(t, info.Size(), int64(256<<10))
	metadatatest.AssertEqualExtensionFileStorageFileSize(t, tel,
		[]metricdata.DataPoint[int64]{fileDP(name, info.Size())}, metricdatatest.IgnoreTimestamp())
}

// TestDirectoryGone: a directory removed under a running extension gives
// no data points and no error.
func TestDirectoryGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("abc"), 0o600))
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext := startExtension(t, tel, dir)
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })

	metadatatest.AssertEqualExtensionFileStorageFileSize(t, tel,
		[]metricdata.DataPoint[int64]{fileDP("f", 3)}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, os.RemoveAll(dir))
	m, err := tel.GetMetric(sizeMetric)
	if err == nil {
		assert.Empty(t, m.Data.(metricdata.Gauge[int64]).DataPoints)
	}
}
