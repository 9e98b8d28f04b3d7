// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
)

// This file holds the engine: the state shared by the connector's instances,
// the rules, and one batch's way through it (process). The other parts:
// walk.go reads the input points and derives the tracked values, table.go
// keeps the series table, baseline.go the statistics, alert.go the alert
// state machine, output.go builds the derived metrics and alert records.

// Skip reasons, the `reason` attribute of connector_ewma_baseline_skipped_points.
const (
	reasonNaNInf = iota
	reasonOutOfOrder
	reasonDuplicate
	reasonTypeChange
	reasonUnsupportedType
	reasonCounterReset
	reasonNoValue
	reasonEmptyInterval
	reasonMaxSeries
	numReasons
)

var reasonNames = [numReasons]string{
	"nan_inf", "out_of_order", "duplicate_timestamp", "type_change", "unsupported_type",
	"counter_reset", "no_value", "empty_interval", "max_series",
}

// Output metric suffixes (after the value-kind suffix, see ValueKind.outputSuffix).

// maxNameCache bounds the metric name → rules cache; it is cleared when full.
const maxNameCache = 4096

type compiledRule struct {
	cfg    *RuleConfig
	p      params
	re     *regexp.Regexp
	seed   uint64 // hash of the rule name: part of every series key of the rule
	suffix string
	emit   []int // output indexes to emit, in output order
}

// engine holds the state table shared by the connector's instances.
type engine struct {
	cfg   *Config
	id    component.ID
	set   component.TelemetrySettings
	tb    *metadata.TelemetryBuilder
	rules []compiledRule
	now   func() time.Time

	reasonOpts [numReasons]metric.AddOption
	transOpts  [numTransitions]metric.AddOption

	mu    sync.Mutex
	index seriesIndex
	slab  []series
	free  []int32
	// slots holds the seasonal slots of all series, p.slots consecutive
	// ones per series of a seasonal rule (series.soff); freeSlots lists
	// released runs by length. Kept apart so series has no pointers.
	slots     []slot
	freeSlots map[int][]int32
	nameCache map[string][]uint16
	// alerts holds, for firing series only, what Alertmanager needs to
	// re-send them (labels are strings, so they stay out of series).
	alerts map[uint64]*alertInfo

	// set while the factory builds the instances, read-only after Start
	metricsOut consumer.Metrics
	logsOut    consumer.Logs

	// lifecycle (guarded by lifeMu)
	lifeMu    sync.Mutex
	instances int
	started   bool
	stopCh    chan struct{}
	wg        sync.WaitGroup
	store     storage.Client
	am        *amClient
	lastSave  time.Time
	release   func() // removes the engine from its factory

	trackedReported int64 // guarded by mu
}

func newEngine(cfg *Config, id component.ID, set component.TelemetrySettings) (*engine, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, fmt.Errorf("ewma_baseline: telemetry: %w", err)
	}
	e := &engine{
		cfg:       cfg,
		id:        id,
		set:       set,
		tb:        tb,
		now:       time.Now,
		nameCache: make(map[string][]uint16),
		alerts:    make(map[uint64]*alertInfo),
		freeSlots: make(map[int][]int32),
	}
	for i := range reasonNames {
		e.reasonOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNames[i])))
	}
	for t := transPending; t <= transCancelled; t++ {
		e.transOpts[t] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", t.String())))
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		cr := compiledRule{cfg: r, p: newParams(r), seed: ruleSeed(r.Name), suffix: r.Value.outputSuffix()}
		for o := range numOutputs {
			for _, name := range r.Outputs {
				if name == outputNames[o] {
					cr.emit = append(cr.emit, o)
				}
			}
		}
		if r.MetricRegex != "" {
			re, err := regexp.Compile("^(?:" + r.MetricRegex + ")$")
			if err != nil {
				return nil, fmt.Errorf("rules[%d]: `metric_regex` (%q): %w", i, r.MetricRegex, err)
			}
			cr.re = re
		}
		e.rules = append(e.rules, cr)
	}
	return e, nil
}

// rulesFor returns the indexes of the rules that match a metric name.
func (e *engine) rulesFor(name string) []uint16 {
	if rs, ok := e.nameCache[name]; ok {
		return rs
	}
	var rs []uint16
	for i := range e.rules {
		r := &e.rules[i]
		if (r.re == nil && r.cfg.Metric == name) || (r.re != nil && r.re.MatchString(name)) {
			rs = append(rs, uint16(i))
		}
	}
	if len(e.nameCache) >= maxNameCache {
		clear(e.nameCache)
	}
	e.nameCache[name] = rs
	return rs
}

// consume runs one batch through the engine and forwards the outputs.
func (e *engine) consume(ctx context.Context, md pmetric.Metrics) error {
	b := e.process(md)
	var errs []error
	if e.metricsOut != nil && b.metrics.DataPointCount() > 0 {
		if err := e.metricsOut.ConsumeMetrics(ctx, b.metrics); err != nil {
			errs = append(errs, err)
		}
	}
	if e.logsOut != nil && b.logs.LogRecordCount() > 0 {
		if err := e.logsOut.ConsumeLogs(ctx, b.logs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// process updates the state with md and returns the derived metrics and logs.
//
// The lock covers only the state: hashing, lookup, update, verdict and the
// (rare) transition records. The derived pdata points, most of the cost
// (an allocation per point, per attribute slice and per string value), are
// built after it from the recorded values, so concurrent callers do not
// serialise on them.
func (e *engine) process(md pmetric.Metrics) *batch {
	b := &batch{metrics: pmetric.NewMetrics(), logs: plog.NewLogs(), sc: scratchPool.Get().(*scratch)}
	e.mu.Lock()
	b.now = e.now().UnixNano()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		b.res, b.resN, b.hasSL = rm.Resource(), i, false
		resHash, resHashed := uint64(0), false
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				rs := e.rulesFor(m.Name())
				if len(rs) == 0 {
					continue
				}
				if !resHashed {
					resHash, resHashed = mapHash(rm.Resource().Attributes()), true
				}
				nameHash := xxhash.Sum64String(m.Name())
				for _, ri := range rs {
					e.processMetric(b, ri, m, nameHash, resHash)
				}
			}
		}
	}
	tracked := int64(e.index.len())
	dTracked := tracked - e.trackedReported
	e.trackedReported = tracked
	e.mu.Unlock()
	e.emitOutputs(b)
	e.record(b, dTracked)
	return b
}

// record adds a batch's counts to the self-telemetry, outside the lock.
func (e *engine) record(b *batch, dTracked int64) {
	ctx := context.Background()
	if dTracked != 0 {
		e.tb.ConnectorEwmaBaselineTrackedSeries.Add(ctx, dTracked)
	}
	if b.points > 0 {
		e.tb.ConnectorEwmaBaselineProcessedPoints.Add(ctx, b.points)
	}
	for r, n := range b.skipped {
		if n > 0 {
			e.tb.ConnectorEwmaBaselineSkippedPoints.Add(ctx, n, e.reasonOpts[r])
		}
	}
	for t, n := range b.trans {
		if n > 0 {
			e.tb.ConnectorEwmaBaselineAlertTransitions.Add(ctx, n, e.transOpts[t])
		}
	}
}

func (e *engine) logger() *zap.Logger { return e.set.Logger }
