// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
)

// factory keeps the engines shared by the instances of one component ID: the
// collector builds one connector instance per (input, output) signal pair, and
// the metrics → metrics and metrics → logs instances must see one state
// table. An engine is removed when its last instance shuts down (as the core's
// otlpreceiver does with its sharedcomponent map, but on the factory, not in a
// package variable).
type factory struct {
	mu      sync.Mutex
	engines map[component.ID]*engine
}

// NewFactory creates the ewma_baseline connector factory.
func NewFactory() connector.Factory {
	f := &factory{engines: map[component.ID]*engine{}}
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithMetricsToMetrics(f.createMetricsToMetrics, metadata.MetricsToMetricsStability),
		connector.WithMetricsToLogs(f.createMetricsToLogs, metadata.MetricsToLogsStability))
}

// acquire returns the engine of set.ID, creating it on first use.
func (f *factory) acquire(set connector.Settings, cfg component.Config) (*engine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.engines[set.ID]
	if !ok {
		var err error
		e, err = newEngine(cfg.(*Config), set.ID, set.TelemetrySettings)
		if err != nil {
			return nil, err
		}
		e.release = func() { f.remove(set.ID, e) }
		f.engines[set.ID] = e
	}
	e.lifeMu.Lock()
	e.instances++
	e.lifeMu.Unlock()
	return e, nil
}

func (f *factory) remove(id component.ID, e *engine) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.engines[id] == e {
		delete(f.engines, id)
	}
}

func (f *factory) createMetricsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Metrics, error) {
	e, err := f.acquire(set, cfg)
	if err != nil {
		return nil, err
	}
	e.metricsOut = next
	return &baselineConnector{e: e}, nil
}

func (f *factory) createMetricsToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Metrics, error) {
	e, err := f.acquire(set, cfg)
	if err != nil {
		return nil, err
	}
	e.logsOut = next
	return &baselineConnector{e: e, logsSide: true}, nil
}

// baselineConnector is one collector-facing instance of a shared engine.
type baselineConnector struct {
	e        *engine
	logsSide bool
}

func (c *baselineConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics feeds the engine. When the component is also used in a
// metrics pipeline, the collector fans the same input out to both instances;
// then only the metrics → metrics instance feeds the engine (which sends the
// alert logs itself), or every point would be counted twice.
func (c *baselineConnector) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if c.logsSide && c.e.metricsOut != nil {
		return nil
	}
	return c.e.consume(ctx, md)
}

func (c *baselineConnector) Start(ctx context.Context, host component.Host) error {
	return c.e.start(ctx, host)
}

func (c *baselineConnector) Shutdown(ctx context.Context) error {
	return c.e.shutdownInstance(ctx)
}
