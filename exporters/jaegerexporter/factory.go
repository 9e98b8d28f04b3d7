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
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadata"
	"github.com/vigil-otel/vigil/internal/queuekeep"
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
	exp, _, err := newTraces(ctx, set, cfg.(*Config), queuekeep.DefaultMaxBytes)
	return exp, err
}

// newTraces is createTraces with the bound of the requests kept in memory,
// also returning the queue's encoding, whose counts tests read.
func newTraces(ctx context.Context, set exporter.Settings, c *Config, keptBytes int) (exporter.Traces, *queuekeep.Keeper[xexporterhelper.Request], error) {
	e, err := newJaegerExporter(c, set)
	if err != nil {
		return nil, nil, err
	}
	// The queue's settings for ptrace.Traces (exporterhelper's request type,
	// encoding and batching) with the encoding wrapped so that a persistent
	// queue reads the requests it has just written from memory, not from a
	// decode of the file (internal/queuekeep). The file's format is unchanged.
	qs := xexporterhelper.NewTracesQueueBatchSettings()
	keeper := queuekeep.New(qs.Encoding, qs.ReferenceCounter, keptBytes)
	qs.Encoding = keeper
	exp, err := exporterhelper.NewTraces(ctx, set, c, e.pushTraces,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.TimeoutConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		xexporterhelper.WithQueueBatch(c.QueueConfig, qs),
	)
	return exp, keeper, err
}
