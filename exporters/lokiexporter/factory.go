// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter // import "github.com/vigil-otel/vigil/exporters/lokiexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
)

// NewFactory creates a factory for the Loki exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 30 * time.Second

	queue := exporterhelper.NewDefaultQueueConfig()
	// One consumer keeps batches in order (see Config.Shards); batching in
	// the queue makes pushes large enough that one at a time is not a limit.
	queue.NumConsumers = 1
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.MinSize = 2000
	batch.MaxSize = 8000
	queue.Batch = configoptional.Some(batch)

	return &Config{
		ClientConfig: client,
		QueueConfig:  configoptional.Some(queue),
		RetryConfig:  configretry.NewDefaultBackOffConfig(),
		Labels: LabelsConfig{
			ResourceAttributes: []LabelRule{
				{Attribute: "service.name", Label: "service_name"},
				{Attribute: "service.namespace"},
				{Attribute: "deployment.environment"},
				{Attribute: "k8s.namespace.name"},
			},
			Severity: "level",
		},
		LineFormat:         LineFormatRaw,
		StructuredMetadata: StructuredMetadataConfig{Enabled: true, OtherAttributes: true},
		MaxLineSize:        256 * 1024,
		MaxLineSizeAction:  LineSizeTruncate,
		Shards:             4,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	oCfg := cfg.(*Config)
	e, err := newExporter(oCfg, set)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		// Explicitly disabled: each attempt is bounded by the http.Client
		// timeout (`timeout`), as in the OTLP/HTTP exporter.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		exporterhelper.WithRetry(oCfg.RetryConfig),
		exporterhelper.WithQueue(oCfg.QueueConfig),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	)
}
