// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadata"
	"github.com/vigil-otel/vigil/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	def := createDefaultConfig().(*Config)
	configtest.Load(t, "config.yaml", metadata.Type.String(), def)
	want := createDefaultConfig().(*Config)
	want.ClientConfig.Endpoint = "jaeger-collector:14250"
	assert.Equal(t, want, def)

	custom := createDefaultConfig().(*Config)
	configtest.Load(t, "config.yaml", component.MustNewIDWithName(metadata.Type.String(), "custom").String(), custom)
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
	id := metadata.Type.String()
	configtest.RunBad(t, createDefaultConfig, []configtest.Bad{
		{File: "bad_empty_endpoint.yaml", ID: id, Validate: "`endpoint` must not be empty: set it to the Jaeger collector's gRPC address, e.g. \"jaeger-collector:14250\""},
		{File: "bad_http_endpoint.yaml", ID: id, Validate: "`endpoint` (\"http://jaeger:14250\") must be a gRPC target (host:port or dns:///host:port), not an HTTP URL; use `tls` settings for TLS"},
		// The gRPC client's own check adds its message.
		{File: "bad_no_port.yaml", ID: id, ValidateContains: []string{"`endpoint` (\"jaeger-collector\") must be in the form host:port"}},
		{File: "bad_max_request_size.yaml", ID: id, Validate: "`max_request_size` (100) must be at least 1024 bytes"},
		{File: "bad_unknown_key.yaml", ID: id, Unmarshal: "has invalid keys: max_requst_size"},
	})
}
