// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))

	want := createDefaultConfig().(*Config)
	want.ClientConfig.Endpoint = "http://127.0.0.1:9090/api/v1/write"
	want.ClientConfig.Timeout = 10 * time.Second
	want.ClientConfig.Headers = configopaque.MapList{{Name: "X-Scope-OrgID", Value: "team-a"}}
	want.Protocol = ProtocolV2
	want.V2Unacknowledged = V2Fail
	want.Shards = 8
	want.MaxBatchSizeBytes = 1_000_000
	want.Namespace = "vigil"
	want.ExternalLabels = map[string]string{"cluster": "eu-1"}
	want.ResourceToTelemetryConversion.Enabled = true
	want.TargetInfo.Enabled = false
	want.AddScopeLabels = true
	want.SendMetadata = true
	want.RetryConfig.MaxElapsedTime = 0
	q := want.QueueConfig.Get()
	q.QueueSize = 5000
	id := component.MustNewIDWithName("file_storage", "prw")
	q.StorageID = &id
	assert.Equal(t, want, cfg)
}

func TestDefaultConfigValidWithEndpoint(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, ProtocolV1, cfg.Protocol)
	assert.Equal(t, 1, cfg.QueueConfig.Get().NumConsumers)
	assert.EqualError(t, confmap.Validate(cfg), "`endpoint` must be set to the remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write")
	cfg.ClientConfig.Endpoint = "https://prom.example:9090/api/v1/write"
	assert.NoError(t, confmap.Validate(cfg))
}

func TestBadConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file        string
		unmarshal   string // expected substring of the unmarshal error
		validateErr string // expected exact validation error
	}{
		{file: "bad_no_endpoint.yaml", validateErr: "`endpoint` must be set to the remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write"},
		{file: "bad_endpoint_scheme.yaml", validateErr: "`endpoint` (\"127.0.0.1:9090/api/v1/write\") must be an absolute http:// or https:// URL"},
		{file: "bad_shards.yaml", validateErr: "`shards` (0) must be between 1 and 256"},
		{file: "bad_max_batch_size.yaml", validateErr: "`max_batch_size_bytes` (100) must be at least 4096"},
		{file: "bad_batch_max_size.yaml", validateErr: "`sending_queue::batch::max_size` (10000) is not supported: queued exports are merged, not split; `max_batch_size_bytes` bounds the requests"},
		{file: "bad_num_consumers.yaml", validateErr: "`sending_queue::num_consumers` (4) must be 1: concurrent consumers would reorder samples of a series; use `shards` for concurrent sends"},
		{file: "bad_external_label_reserved.yaml", validateErr: "`external_labels` key \"__tenant\" must not start with \"__\" (reserved by Prometheus)"},
		{file: "bad_external_label_empty.yaml", validateErr: "`external_labels::cluster` must not be empty"},
		{file: "bad_translation_strategy.yaml", validateErr: "`translation_strategy` (\"Escaped\") must be one of UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes, NoTranslation"},
		{file: "bad_protocol.yaml", unmarshal: "invalid protocol \"v3\": must be v1 or v2"},
		{file: "bad_unknown_key.yaml", unmarshal: "'prwexporter.Config' has invalid keys: protcol, target_info::enabeld"},
		{file: "bad_v2_unacknowledged.yaml", unmarshal: "invalid v2_unacknowledged \"ignore\": must be fallback_to_v1 or fail"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			err = cm.Unmarshal(cfg)
			if tt.unmarshal != "" {
				assert.ErrorContains(t, err, tt.unmarshal)
				return
			}
			require.NoError(t, err)
			assert.EqualError(t, confmap.Validate(cfg), tt.validateErr)
		})
	}
}

func TestValidateJoinsErrors(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "http://127.0.0.1:9090/api/v1/write"
	cfg.Shards = 1000
	cfg.TranslationStrategy = "NoTranslation"
	cfg.AddMetricSuffixes = false
	assert.EqualError(t, cfg.Validate(), "`shards` (1000) must be between 1 and 256\n"+
		"`add_metric_suffixes` (false) cannot be combined with `translation_strategy` (\"NoTranslation\"): set only `translation_strategy`")
}
