// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
	"github.com/vigil-otel/vigil/internal/configtest"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		configtest.Load(t, "config.yaml", component.NewID(metadata.Type).String(), cfg)

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
		configtest.Load(t, "config.yaml", component.MustNewIDWithName("loki", "full").String(), cfg)

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
	configtest.RunBad(t, createDefaultConfig, []configtest.Bad{
		{File: "bad_line_format.yaml", Unmarshal: `invalid line_format "xml": must be raw, json or logfmt`},
		{File: "bad_size_action.yaml", Unmarshal: `invalid max_line_size_action "wrap": must be truncate or drop`},
		{
			File:     "bad_high_cardinality.yaml",
			Validate: "`labels::attributes[0]::attribute` (\"trace_id\") is a high-cardinality attribute and must not be a label (each value makes a new stream); use `structured_metadata::attributes`",
		},
		{
			File:     "bad_high_cardinality_resource.yaml",
			Validate: "`labels::resource_attributes[1]::attribute` (\"k8s.pod.uid\") is a high-cardinality attribute and must not be a label (each value makes a new stream); use `structured_metadata::attributes`",
		},
		{File: "bad_too_many_labels.yaml", Validate: "`labels` defines 16 labels; Loki accepts at most 15 label names per stream"},
		{
			File:     "bad_label_name.yaml",
			Validate: "`labels::resource_attributes[0]::label` (\"service-name\") is not a valid Loki label name: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
		},
		{
			File:     "bad_duplicate_label.yaml",
			Validate: "`labels::attributes[0]::attribute` produces label \"service_name\", which `labels::resource_attributes[0]::attribute` already produces",
		},
		{
			File:     "bad_num_consumers.yaml",
			Validate: "`sending_queue::num_consumers` (10) must be 1: concurrent batches can reorder a stream; raise `shards` for concurrency instead",
		},
		{File: "bad_shards.yaml", Validate: "`shards` (0) must be between 1 and 64"},
		{File: "bad_endpoint.yaml", Validate: "`endpoint` (\"127.0.0.1:3100\") must be an http:// or https:// URL with a host"},
		{File: "bad_no_endpoint.yaml", Validate: "`endpoint` must be set to Loki's push URL, e.g. http://127.0.0.1:3100/loki/api/v1/push"},
		{File: "bad_max_line_size.yaml", Validate: "`max_line_size` (-1) must not be negative (0 means no limit)"},
		{
			File:     "bad_structured_metadata.yaml",
			Validate: "`structured_metadata::attributes[1]` (\"k8s_pod_name\") duplicates structured metadata field \"k8s_pod_name\"",
		},
		{
			File:     "bad_severity_label.yaml",
			Validate: "`labels::severity` (\"__level\") is not a valid Loki label name: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
		},
	})
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
