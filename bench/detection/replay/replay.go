// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package replay drives the real ewma_baseline connector, built through its
// factory, with one recorded series at a time: one point per ConsumeMetrics,
// in timestamp order, and records what the connector said about every point
// (its `_score` and `_alert` outputs) and every alert transition it logged.
//
// It is the measuring instrument of the detection benchmarks
// (bench/detection): it knows nothing about labels or scores of quality.
//
// Time. The replay itself never reads the wall clock: the connector judges
// data by the points' own timestamps. Whatever the connector reads from the
// wall clock is its own business; when this harness was written (main
// 2d03101) that was the observed time of alert log records and idle
// eviction (series not seen for `idle_timeout` of wall time, swept at most
// once a minute). A replay feeds days of data within seconds, so such an
// eviction never fires during a replay: the replay can neither show nor
// hide the live problem that an hourly series can be evicted between two of
// its own samples with the default `idle_timeout` (1h). Nothing here works
// around it.
package replay // import "github.com/vigil-otel/vigil/bench/detection/replay"

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"
)

// Kind is how a series reaches the connector, and so which rule `value` a
// user would write for it.
type Kind int

const (
	// Gauge is a Gauge metric, tracked with `value: gauge` (latency, CPU,
	// queue length: a level).
	Gauge Kind = iota
	// Counter is a cumulative monotonic Sum, tracked with
	// `value: counter_rate` (requests, errors: a running count).
	Counter
)

// RuleValue is the rule's `value` key for k.
func (k Kind) RuleValue() string {
	if k == Counter {
		return "counter_rate"
	}
	return "gauge"
}

func (k Kind) String() string {
	if k == Counter {
		return "counter"
	}
	return "gauge"
}

// Point is one input sample.
type Point struct {
	// T is the timestamp, unix nanoseconds. Points of a series must be in
	// strictly increasing T (the connector would skip the others; Replay
	// refuses them so a broken generator is noticed).
	T int64
	// V is the value: the level of a gauge, the running total of a counter.
	V float64
	// Start is a counter's start timestamp (unix ns; 0: unset). A change of
	// Start, or a drop of V, is a counter reset.
	Start int64
}

// Series is one recorded series.
type Series struct {
	// Name identifies the series (it becomes a point attribute).
	Name   string
	Kind   Kind
	Points []Point
}

// MetricName is the metric name every replayed series is sent under; the
// rule selects it.
const MetricName = "replay.value"

// RuleName is the name of the one rule of a replay.
const RuleName = "replay"

// Options say how the connector is configured. The zero value is the rule
// a user would write with no tuning at all:
//
//	rules:
//	  - name: replay
//	    metric: replay.value
//	    value: gauge          # counter_rate for counters
//
// with every other key at the connector's default (whatever they are in the
// connector being measured), except `outputs`, which is `[score, alert]`:
// the two outputs the replay reads. `outputs` only selects which derived
// series are built; it does not change the state, the score or the alerts.
type Options struct {
	// Rule holds rule keys as a user writes them in YAML ("half_life":
	// "24h", "k": 5, "seasonality": map[string]any{"period": "24h"}); they
	// are added to, or replace, the keys above.
	Rule map[string]any
	// Connector holds top-level connector keys ("idle_timeout": "2h").
	Connector map[string]any
}

// RuleConfig returns the rule keys a replay of kind k uses, as YAML values.
func (o Options) RuleConfig(k Kind) map[string]any {
	rule := map[string]any{
		"name":    RuleName,
		"metric":  MetricName,
		"value":   k.RuleValue(),
		"outputs": []any{"score", "alert"},
	}
	maps.Copy(rule, o.Rule)
	return rule
}

// Config builds the connector configuration of a replay of kind k through
// the factory's default config and confmap, as the collector does with a
// user's YAML, and validates it.
func (o Options) Config(f connector.Factory, k Kind) (*ewmabaselineconnector.Config, error) {
	raw := map[string]any{}
	maps.Copy(raw, o.Connector)
	raw["rules"] = []any{o.RuleConfig(k)}
	cfg, ok := f.CreateDefaultConfig().(*ewmabaselineconnector.Config)
	if !ok {
		return nil, errors.New("replay: the factory's default config is not an ewmabaselineconnector.Config")
	}
	if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("replay: connector config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("replay: connector config: %w", err)
	}
	return cfg, nil
}

// Step is what the connector emitted for one input point.
type Step struct {
	// T is the input point's timestamp (unix ns).
	T int64
	// HasScore is true when the connector emitted a `_score` point for this
	// input (not for a seeding point, nor for a counter's first point or a
	// reset interval).
	HasScore bool
	// Score is the `_score` output (valid with HasScore).
	Score float64
	// Firing is the `_alert` output: true while the alert is firing.
	Firing bool
}

// Event is one alert transition log record.
type Event struct {
	// T is the record's timestamp: the data point that caused it (unix ns).
	T int64
	// State is pending, firing, resolved or cancelled (`alert.state`).
	State string
	// Score is `alert.score`.
	Score float64
}

// Result is what a replay recorded.
type Result struct {
	// Steps has one entry per input point, in input order.
	Steps []Step
	// Events are the alert transitions in the order they were logged.
	Events []Event
}

// Firings returns the timestamps of the firing transitions.
func (r *Result) Firings() []int64 {
	var ts []int64
	for _, e := range r.Events {
		if e.State == "firing" {
			ts = append(ts, e.T)
		}
	}
	return ts
}

// Replay runs s through a new connector built by ewmabaselineconnector's
// factory with opts, one point per ConsumeMetrics, and returns what it
// emitted. Both the metrics → metrics and the metrics → logs instances are
// built (they share one engine, as in a collector), started on a nop host
// and shut down at the end.
func Replay(ctx context.Context, s Series, opts Options) (*Result, error) {
	for i := 1; i < len(s.Points); i++ {
		if s.Points[i].T <= s.Points[i-1].T {
			return nil, fmt.Errorf("replay: series %q: point %d (t=%d) is not after point %d (t=%d)",
				s.Name, i, s.Points[i].T, i-1, s.Points[i-1].T)
		}
	}
	f := ewmabaselineconnector.NewFactory()
	cfg, err := opts.Config(f, s.Kind)
	if err != nil {
		return nil, err
	}
	set := connectortest.NewNopSettings(f.Type())
	metricsOut, logsOut := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	m2m, err := f.CreateMetricsToMetrics(ctx, set, cfg, metricsOut)
	if err != nil {
		return nil, fmt.Errorf("replay: metrics → metrics: %w", err)
	}
	m2l, err := f.CreateMetricsToLogs(ctx, set, cfg, logsOut)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("replay: metrics → logs: %w", err), m2m.Shutdown(ctx))
	}
	host := componenttest.NewNopHost()
	for _, c := range []component.Component{m2m, m2l} {
		if err := c.Start(ctx, host); err != nil {
			return nil, errors.Join(fmt.Errorf("replay: start: %w", err), m2m.Shutdown(ctx), m2l.Shutdown(ctx))
		}
	}
	res, runErr := feed(ctx, m2m, s, metricsOut, logsOut)
	if err := errors.Join(runErr, m2l.Shutdown(ctx), m2m.Shutdown(ctx)); err != nil {
		return nil, err
	}
	return res, nil
}

func feed(ctx context.Context, c connector.Metrics, s Series, metricsOut *consumertest.MetricsSink, logsOut *consumertest.LogsSink) (*Result, error) {
	res := &Result{Steps: make([]Step, len(s.Points))}
	in := newInput(s)
	scoreName := MetricName + suffixOf(s.Kind) + "_score"
	alertName := MetricName + suffixOf(s.Kind) + "_alert"
	for i, p := range s.Points {
		in.set(p)
		if err := c.ConsumeMetrics(ctx, in.md); err != nil {
			return nil, fmt.Errorf("replay: series %q, point %d: %w", s.Name, i, err)
		}
		st := Step{T: p.T}
		for _, md := range metricsOut.AllMetrics() {
			readOutputs(md, p.T, scoreName, alertName, &st)
		}
		res.Steps[i] = st
		for _, ld := range logsOut.AllLogs() {
			res.Events = appendEvents(res.Events, ld)
		}
		metricsOut.Reset()
		logsOut.Reset()
	}
	return res, nil
}

// suffixOf is the connector's value-kind suffix of the output names.
func suffixOf(k Kind) string {
	if k == Counter {
		return "_rate"
	}
	return ""
}

// input is the one-point pdata batch of a series, rewritten for each point.
// The connector does not mutate or retain its input (Capabilities:
// MutatesData false; the sinks hold only its derived outputs).
type input struct {
	md pmetric.Metrics
	dp pmetric.NumberDataPoint
}

func newInput(s Series) *input {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "replay")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(MetricName)
	var dp pmetric.NumberDataPoint
	if s.Kind == Counter {
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp = sum.DataPoints().AppendEmpty()
	} else {
		dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
	}
	dp.Attributes().PutStr("series", s.Name)
	return &input{md: md, dp: dp}
}

func (in *input) set(p Point) {
	in.dp.SetTimestamp(pcommon.Timestamp(p.T))
	in.dp.SetStartTimestamp(pcommon.Timestamp(p.Start))
	in.dp.SetDoubleValue(p.V)
}

func readOutputs(md pmetric.Metrics, ts int64, scoreName, alertName string, st *Step) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Type() != pmetric.MetricTypeGauge || (m.Name() != scoreName && m.Name() != alertName) {
					continue
				}
				dps := m.Gauge().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					if int64(dp.Timestamp()) != ts {
						continue
					}
					if m.Name() == scoreName {
						st.HasScore, st.Score = true, dp.DoubleValue()
					} else {
						st.Firing = dp.DoubleValue() != 0
					}
				}
			}
		}
	}
}

func appendEvents(evs []Event, ld plog.Logs) []Event {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				state, ok := lr.Attributes().Get("alert.state")
				if !ok {
					continue
				}
				ev := Event{T: int64(lr.Timestamp()), State: state.Str()}
				if sc, ok := lr.Attributes().Get("alert.score"); ok {
					ev.Score = sc.Double()
				}
				evs = append(evs, ev)
			}
		}
	}
	return evs
}
