// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter // import "github.com/vigil-otel/vigil/exporters/jaegerexporter"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadata"
)

// NewFactory creates a factory for the Jaeger gRPC exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability))
}

func createDefaultConfig() component.Config {
	clientCfg := configgrpc.NewDefaultClientConfig()
	// Spans compress well and Jaeger's gRPC server accepts gzip.
	clientCfg.Compression = configcompression.TypeGzip
	clientCfg.WriteBufferSize = 512 * 1024
	return &Config{
		TimeoutConfig:  exporterhelper.NewDefaultTimeoutConfig(),
		RetryConfig:    configretry.NewDefaultBackOffConfig(),
		QueueConfig:    configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		ClientConfig:   clientCfg,
		MaxRequestSize: defaultMaxRequestSize,
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	e, err := newJaegerExporter(c, set)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
}
