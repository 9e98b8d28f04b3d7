// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	t.Run("defaults", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		sub, err := cm.Sub(component.NewID(metadata.Type).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))

		want := createDefaultConfig().(*Config)
		want.ClientConfig.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
		assert.Equal(t, want, cfg)
		assert.Equal(t, []LabelRule{
			{Attribute: "service.name", Label: "service_name"},
			{Attribute: "service.namespace"},
			{Attribute: "deployment.environment"},
			{Attribute: "k8s.namespace.name"},
		}, cfg.Labels.ResourceAttributes)
		assert.Equal(t, "level", cfg.Labels.Severity)
		assert.Equal(t, LineFormatRaw, cfg.LineFormat)
		assert.True(t, cfg.StructuredMetadata.Enabled)
		assert.Equal(t, 262144, cfg.MaxLineSize)
		assert.Equal(t, LineSizeTruncate, cfg.MaxLineSizeAction)
		assert.Equal(t, 4, cfg.Shards)
		assert.Equal(t, 1, cfg.QueueConfig.Get().NumConsumers)
		assert.True(t, cfg.QueueConfig.Get().Batch.HasValue())
	})

	t.Run("full", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		sub, err := cm.Sub(component.MustNewIDWithName("loki", "full").String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))

		assert.Equal(t, "https://loki.example:3100/loki/api/v1/push", cfg.ClientConfig.Endpoint)
		assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
		q := cfg.QueueConfig.Get()
		assert.Equal(t, int64(500), q.QueueSize)
		require.NotNil(t, q.StorageID)
		assert.Equal(t, "file_storage/queue", q.StorageID.String())
		assert.Equal(t, 5*time.Minute, cfg.RetryConfig.MaxElapsedTime)
		assert.Equal(t, LabelsConfig{
			ResourceAttributes: []LabelRule{{Attribute: "service.name", Label: "app"}, {Attribute: "cloud.region"}},
			Attributes:         []LabelRule{{Attribute: "log.iostream", Label: "stream"}},
			Severity:           "severity",
		}, cfg.Labels)
		assert.Equal(t, LineFormatLogfmt, cfg.LineFormat)
		assert.Equal(t, StructuredMetadataConfig{Enabled: true, Attributes: []string{"k8s.pod.name", "http.url"}}, cfg.StructuredMetadata)
		assert.Equal(t, 1024, cfg.MaxLineSize)
		assert.Equal(t, LineSizeDrop, cfg.MaxLineSizeAction)
		assert.Equal(t, TenantConfig{ID: "fallback", ResourceAttribute: "k8s.namespace.name"}, cfg.Tenant)
		assert.Equal(t, 8, cfg.Shards)
	})
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file         string
		unmarshalErr string // error from Unmarshal (enum types)
		validateErr  string // exact error from Validate
	}{
		{file: "bad_line_format.yaml", unmarshalErr: `invalid line_format "xml": must be raw, json or logfmt`},
		{file: "bad_size_action.yaml", unmarshalErr: `invalid max_line_size_action "wrap": must be truncate or drop`},
		{
			file:        "bad_high_cardinality.yaml",
			validateErr: "`labels::attributes[0]::attribute` (\"trace_id\") is a high-cardinality attribute and must not be a label (each value makes a new stream); use `structured_metadata::attributes`",
		},
		{
			file:        "bad_high_cardinality_resource.yaml",
			validateErr: "`labels::resource_attributes[1]::attribute` (\"k8s.pod.uid\") is a high-cardinality attribute and must not be a label (each value makes a new stream); use `structured_metadata::attributes`",
		},
		{file: "bad_too_many_labels.yaml", validateErr: "`labels` defines 16 labels; Loki accepts at most 15 label names per stream"},
		{
			file:        "bad_label_name.yaml",
			validateErr: "`labels::resource_attributes[0]::label` (\"service-name\") is not a valid Loki label name: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
		},
		{
			file:        "bad_duplicate_label.yaml",
			validateErr: "`labels::attributes[0]::attribute` produces label \"service_name\", which `labels::resource_attributes[0]::attribute` already produces",
		},
		{
			file:        "bad_num_consumers.yaml",
			validateErr: "`sending_queue::num_consumers` (10) must be 1: concurrent batches can reorder a stream; raise `shards` for concurrency instead",
		},
		{file: "bad_shards.yaml", validateErr: "`shards` (0) must be between 1 and 64"},
		{file: "bad_endpoint.yaml", validateErr: "`endpoint` (\"127.0.0.1:3100\") must be an http:// or https:// URL with a host"},
		{file: "bad_no_endpoint.yaml", validateErr: "`endpoint` must be set to Loki's push URL, e.g. http://127.0.0.1:3100/loki/api/v1/push"},
		{file: "bad_max_line_size.yaml", validateErr: "`max_line_size` (-1) must not be negative (0 means no limit)"},
		{
			file:        "bad_structured_metadata.yaml",
			validateErr: "`structured_metadata::attributes[1]` (\"k8s_pod_name\") duplicates structured metadata field \"k8s_pod_name\"",
		},
		{
			file:        "bad_severity_label.yaml",
			validateErr: "`labels::severity` (\"__level\") is not a valid Loki label name: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			err = cm.Unmarshal(cfg)
			if tt.unmarshalErr != "" {
				assert.ErrorContains(t, err, tt.unmarshalErr)
				return
			}
			require.NoError(t, err)
			assert.EqualError(t, cfg.Validate(), tt.validateErr)
			assert.ErrorContains(t, confmap.Validate(cfg), tt.validateErr)
		})
	}
}

func TestSanitizeLabelName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"service.name":           "service_name",
		"k8s.namespace.name":     "k8s_namespace_name",
		"level":                  "level",
		"1abc":                   "_1abc",
		"__reserved":             "_reserved",
		"a-b c":                  "a_b_c",
		"é":                      "_",
		"":                       "_",
		"deployment.environment": "deployment_environment",
	} {
		got := sanitizeLabelName(in)
		assert.Equal(t, want, got, "sanitizeLabelName(%q)", in)
		assert.True(t, validLabelName(got), "result %q must be valid", got)
	}
}
