// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-otel/vigil/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	configtest.Load(t, "config.yaml", "", cfg)

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
	configtest.RunBad(t, createDefaultConfig, []configtest.Bad{
		{File: "bad_no_endpoint.yaml", Validate: "`endpoint` must be set to the remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write"},
		{File: "bad_endpoint_scheme.yaml", Validate: "`endpoint` (\"127.0.0.1:9090/api/v1/write\") must be an absolute http:// or https:// URL"},
		{File: "bad_shards.yaml", Validate: "`shards` (0) must be between 1 and 256"},
		{File: "bad_max_batch_size.yaml", Validate: "`max_batch_size_bytes` (100) must be at least 4096"},
		{File: "bad_batch_max_size.yaml", Validate: "`sending_queue::batch::max_size` (10000) is not supported: queued exports are merged, not split; `max_batch_size_bytes` bounds the requests"},
		{File: "bad_num_consumers.yaml", Validate: "`sending_queue::num_consumers` (4) must be 1: concurrent consumers would reorder samples of a series; use `shards` for concurrent sends"},
		{File: "bad_external_label_reserved.yaml", Validate: "`external_labels` key \"__tenant\" must not start with \"__\" (reserved by Prometheus)"},
		{File: "bad_external_label_empty.yaml", Validate: "`external_labels::cluster` must not be empty"},
		{File: "bad_translation_strategy.yaml", Validate: "`translation_strategy` (\"Escaped\") must be one of UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes, NoTranslation"},
		{File: "bad_protocol.yaml", Unmarshal: "invalid protocol \"v3\": must be v1 or v2"},
		{File: "bad_unknown_key.yaml", Unmarshal: "'prwexporter.Config' has invalid keys: protcol, target_info::enabeld"},
		{File: "bad_v2_unacknowledged.yaml", Unmarshal: "invalid v2_unacknowledged \"ignore\": must be fallback_to_v1 or fail"},
	})
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
