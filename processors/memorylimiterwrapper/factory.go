// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	coremlp "go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/processors/memorylimiterwrapper/internal/metadata"
)

// factory delegates every processor to one core memory limiter factory, so
// that, as in the core, all pipelines using one configuration share one
// limiter (the core factory keeps them in a map keyed by the config).
// Vigil's part is the limit gauges, kept per config the same way.
type factory struct {
	core   processor.Factory
	source memorySource

	mu     sync.Mutex
	gauges map[component.Config]*limitGauges
}

// NewFactory returns the factory of the `memory_limiter` processor.
func NewFactory() processor.Factory {
	return newFactory(memorySource{})
}

func newFactory(source memorySource) processor.Factory {
	f := &factory{
		core:   coremlp.NewFactory(),
		source: source,
		gauges: map[component.Config]*limitGauges{},
	}
	return processor.NewFactory(metadata.Type, f.core.CreateDefaultConfig,
		processor.WithTraces(f.createTraces, metadata.TracesStability),
		processor.WithMetrics(f.createMetrics, metadata.MetricsStability),
		processor.WithLogs(f.createLogs, metadata.LogsStability))
}

func (f *factory) createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := f.core.CreateTraces(ctx, set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &tracesProcessor{Traces: p, w: wrapper{gauges: f.limitGauges(set, cfg)}}, nil
}

func (f *factory) createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := f.core.CreateMetrics(ctx, set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &metricsProcessor{Metrics: p, w: wrapper{gauges: f.limitGauges(set, cfg)}}, nil
}

func (f *factory) createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := f.core.CreateLogs(ctx, set, cfg, next)
	if err != nil {
		return nil, err
	}
	return &logsProcessor{Logs: p, w: wrapper{gauges: f.limitGauges(set, cfg)}}, nil
}

// attributeDropper is implemented by the collector's per-component meter
// provider (service/internal/componentattribute). The limits belong to the
// limiter shared by all pipelines of one configuration, so, as the core
// does for its limiter's telemetry, the pipeline and signal attributes are
// dropped: one series per memory_limiter, not one per pipeline. Unlike the
// core, the component ID is kept: two memory_limiter/<name> instances have
// different limits.
type attributeDropper interface {
	DropInjectedAttributes(droppedAttrs ...string) metric.MeterProvider
}

// limitGauges returns the gauges of cfg's limiter, computing its limits on
// first use. The core has just computed the same limits successfully; if
// Vigil's computation fails anyway, the processor still runs, without the
// gauges, and says so once.
func (f *factory) limitGauges(set processor.Settings, cfg component.Config) *limitGauges {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g, ok := f.gauges[cfg]; ok {
		return g
	}
	l, err := effectiveLimits(cfg.(*Config), f.source.totalMemory)
	if err != nil {
		set.Logger.Warn("memory_limiter: cannot compute the limits to publish; the hard/soft limit gauges are off", zap.Error(err))
		f.gauges[cfg] = nil
		return nil
	}
	ts := set.TelemetrySettings
	if d, ok := ts.MeterProvider.(attributeDropper); ok {
		ts.MeterProvider = d.DropInjectedAttributes("otelcol.signal", "otelcol.pipeline.id")
	}
	g := &limitGauges{limits: l, id: set.ID.String(), telemetry: ts, logger: set.Logger}
	f.gauges[cfg] = g
	return g
}

// limitGauges publishes one limiter's limits while at least one of its
// processors runs.
type limitGauges struct {
	limits    limits
	id        string // the processor attribute
	telemetry component.TelemetrySettings
	logger    *zap.Logger

	mu      sync.Mutex
	running int
	builder *metadata.TelemetryBuilder
}

// start registers the gauges when the first processor of the limiter
// starts. It reports whether this call holds a reference to release. The
// gauges are an addition: failing to register them is logged and does not
// stop the limiter.
func (g *limitGauges) start() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running > 0 {
		g.running++
		return true
	}
	tb, err := metadata.NewTelemetryBuilder(g.telemetry)
	if err == nil {
		// Validated limits stay far below the int64 range (a percentage of
		// a memory size, or a uint32 count of MiB).
		hard, soft := int64(g.limits.hard), int64(g.limits.soft) //nolint:gosec // see above
		attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("processor", g.id)))
		err = tb.RegisterProcessorMemoryLimiterHardLimitCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(hard, attrs)
			return nil
		})
		if err == nil {
			err = tb.RegisterProcessorMemoryLimiterSoftLimitCallback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(soft, attrs)
				return nil
			})
		}
	}
	if err != nil {
		if tb != nil {
			tb.Shutdown()
		}
		g.logger.Warn("memory_limiter: cannot register the hard/soft limit gauges", zap.Error(err))
		return false
	}
	g.builder = tb
	g.running = 1
	return true
}

func (g *limitGauges) stop() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	if g.running == 0 && g.builder != nil {
		g.builder.Shutdown()
		g.builder = nil
	}
}

// wrapper holds what the three signal wrappers share: the gauges, and
// whether this processor started them (Shutdown may come without Start).
type wrapper struct {
	gauges  *limitGauges
	started bool
}

func (w *wrapper) start(ctx context.Context, host component.Host, core component.Component) error {
	if err := core.Start(ctx, host); err != nil {
		return err
	}
	w.started = w.gauges.start()
	return nil
}

func (w *wrapper) shutdown(ctx context.Context, core component.Component) error {
	if w.started {
		w.gauges.stop()
		w.started = false
	}
	return core.Shutdown(ctx)
}

type tracesProcessor struct {
	processor.Traces
	w wrapper
}

type metricsProcessor struct {
	processor.Metrics
	w wrapper
}

type logsProcessor struct {
	processor.Logs
	w wrapper
}

// Start starts the core processor, then the limit gauges.
func (p *tracesProcessor) Start(ctx context.Context, host component.Host) error {
	return p.w.start(ctx, host, p.Traces)
}

// Shutdown stops the limit gauges (with the last processor of the limiter),
// then the core processor.
func (p *tracesProcessor) Shutdown(ctx context.Context) error { return p.w.shutdown(ctx, p.Traces) }

// Start starts the core processor, then the limit gauges.
func (p *metricsProcessor) Start(ctx context.Context, host component.Host) error {
	return p.w.start(ctx, host, p.Metrics)
}

// Shutdown stops the limit gauges (with the last processor of the limiter),
// then the core processor.
func (p *metricsProcessor) Shutdown(ctx context.Context) error { return p.w.shutdown(ctx, p.Metrics) }

// Start starts the core processor, then the limit gauges.
func (p *logsProcessor) Start(ctx context.Context, host component.Host) error {
	return p.w.start(ctx, host, p.Logs)
}

// Shutdown stops the limit gauges (with the last processor of the limiter),
// then the core processor.
func (p *logsProcessor) Shutdown(ctx context.Context) error { return p.w.shutdown(ctx, p.Logs) }
