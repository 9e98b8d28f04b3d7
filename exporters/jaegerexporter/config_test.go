// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadata"
)

func loadConfig(t *testing.T, file, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(component.MustNewIDWithName(metadata.Type.String(), id).String())
	require.NoError(t, err)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	def, err := loadConfig(t, "config.yaml", "")
	require.NoError(t, err)
	want := createDefaultConfig().(*Config)
	want.ClientConfig.Endpoint = "jaeger-collector:14250"
	assert.Equal(t, want, def)
	require.NoError(t, confmap.Validate(def))

	custom, err := loadConfig(t, "config.yaml", "custom")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(custom))
	assert.Equal(t, "dns:///jaeger-collector.observability:14250", custom.ClientConfig.Endpoint)
	assert.Equal(t, configcompression.TypeZstd, custom.ClientConfig.Compression)
	assert.Equal(t, "round_robin", custom.ClientConfig.BalancerName)
	v, ok := custom.ClientConfig.Headers.Get("x-tenant")
	require.True(t, ok)
	assert.Equal(t, configopaque.String("vigil"), v)
	assert.True(t, custom.ClientConfig.TLS.Insecure)
	assert.Equal(t, 7*time.Second, custom.TimeoutConfig.Timeout)
	assert.Equal(t, 1048576, custom.MaxRequestSize)
	assert.Equal(t, 10*time.Second, custom.RetryConfig.MaxInterval)
	require.True(t, custom.QueueConfig.HasValue())
	q := custom.QueueConfig.Get()
	assert.Equal(t, 2, q.NumConsumers)
	assert.Equal(t, int64(5000), q.QueueSize)
	require.NotNil(t, q.StorageID)
	assert.Equal(t, component.MustNewID("file_storage"), *q.StorageID)
}

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, configcompression.TypeGzip, cfg.ClientConfig.Compression)
	assert.Equal(t, 4<<20, cfg.MaxRequestSize)
	assert.True(t, cfg.QueueConfig.HasValue())
	assert.True(t, cfg.RetryConfig.Enabled)
	// The default has no endpoint: the user must say where Jaeger is.
	assert.EqualError(t, confmap.Validate(cfg),
		"`endpoint` must not be empty: set it to the Jaeger collector's gRPC address, e.g. \"jaeger-collector:14250\"")
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		wantErr string
	}{
		{"bad_empty_endpoint.yaml", "`endpoint` must not be empty: set it to the Jaeger collector's gRPC address, e.g. \"jaeger-collector:14250\""},
		{"bad_http_endpoint.yaml", "`endpoint` (\"http://jaeger:14250\") must be a gRPC target (host:port or dns:///host:port), not an HTTP URL; use `tls` settings for TLS"},
		{"bad_no_port.yaml", "`endpoint` (\"jaeger-collector\") must be in the form host:port"},
		{"bad_max_request_size.yaml", "`max_request_size` (100) must be at least 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(t, tt.file, "")
			require.NoError(t, err)
			assert.EqualError(t, cfg.Validate(), tt.wantErr)
			assert.ErrorContains(t, confmap.Validate(cfg), tt.wantErr)
		})
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(t, "bad_unknown_key.yaml", "")
	assert.ErrorContains(t, err, "has invalid keys: max_requst_size")
}
