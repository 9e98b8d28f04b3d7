// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
)

// This file builds the outputs: the derived metrics of a batch (recorded
// under the lock, built into pdata after it) and the alert log records.

const (
	outBaseline = iota
	outUpper
	outLower
	outScore
	outAlert
	numOutputs
)

var (
	outputNames    = [numOutputs]string{"baseline", "upper", "lower", "score", "alert"}
	outputSuffixes = [numOutputs]string{"_baseline", "_upper", "_lower", "_score", "_alert"}
)

var outputDescriptions = [numOutputs]string{
	"EWMA baseline the sample was judged against.",
	"Upper band: baseline + k·σ.",
	"Lower band: baseline − k·σ.",
	"Anomaly score |x − baseline| / σ.",
	"Alert state: 1 while firing, else 0.",
}

// batch collects the outputs of one ConsumeMetrics call.
type batch struct {
	now     int64
	skipped [numReasons]int64
	trans   [numTransitions]int64
	points  int64
	metrics pmetric.Metrics
	logs    plog.Logs
	// per resource, created lazily
	logSL plog.ScopeLogs
	hasSL bool
	res   pcommon.Resource
	resN  int // index of res in the input, to group output resources
	// what the derived series need, recorded under the lock and turned
	// into pdata after it (see emitOutputs)
	sc *scratch
}

// scratch holds the derived values of one batch between the state update
// (under e.mu) and building the output pdata (outside it). Pooled: a batch
// of 1000 points needs ~64 KB of records.
type scratch struct {
	groups []outGroup
	recs   []outRec
	keys   []uint64 // series key of each point of the current metric
	hints  []int32  // their slab index found by probe, -1 if not (yet) tracked
	// touched keeps probe's reads of the series live (the value is unused).
	touched int64
}

// outGroup is one (input metric, rule) pair with points to emit: its
// output metrics hold the recs from start to the next group's start (records
// are only appended to the group opened last).
type outGroup struct {
	res   pcommon.Resource
	resN  int
	m     pmetric.Metric
	r     *compiledRule
	start int
}

// outRec is one emitted sample: the output values at the timestamp of the
// group's input point dp (whose attributes the outputs copy). No pointers,
// so the GC does not scan the scratch.
type outRec struct {
	ts   int64
	dp   int
	vals [numOutputs]float64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledRecs bounds what a pooled scratch keeps (64k records, ~3.5 MB).
const maxPooledRecs = 1 << 16

func (b *batch) scopeLogs() plog.ScopeLogs {
	if !b.hasSL {
		rl := b.logs.ResourceLogs().AppendEmpty()
		b.res.CopyTo(rl.Resource())
		b.logSL = rl.ScopeLogs().AppendEmpty()
		b.logSL.Scope().SetName(metadata.ScopeName)
		b.hasSL = true
	}
	return b.logSL
}

// emitOutputs builds the derived metrics from the recorded values and
// returns the scratch to its pool.
func (e *engine) emitOutputs(b *batch) {
	sc := b.sc
	b.sc = nil
	resN := -1
	var sm pmetric.ScopeMetrics
	for gi := range sc.groups {
		g := &sc.groups[gi]
		if g.resN != resN {
			rm := b.metrics.ResourceMetrics().AppendEmpty()
			g.res.CopyTo(rm.Resource())
			sm = rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(metadata.ScopeName)
			resN = g.resN
		}
		end := len(sc.recs)
		if gi+1 < len(sc.groups) {
			end = sc.groups[gi+1].start
		}
		recs := sc.recs[g.start:end]
		o := newOutputs(sm, g.m, g.r, len(recs))
		all := len(g.r.cfg.Attributes) == 0
		attrsOf := pointAttrs(g.m)
		for k := range recs {
			rec := &recs[k]
			attrs := attrsOf(rec.dp)
			for _, i := range g.r.emit {
				dp := o[i].AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(rec.ts))
				dp.SetDoubleValue(rec.vals[i])
				if all {
					attrs.CopyTo(dp.Attributes())
				} else {
					copySelected(attrs, g.r.cfg.Attributes, dp.Attributes())
				}
			}
		}
	}
	// Drop the references into the input before pooling; a scratch grown
	// by an unusually large batch is left to the GC rather than kept.
	clear(sc.groups)
	sc.groups, sc.recs = sc.groups[:0], sc.recs[:0]
	if cap(sc.recs) <= maxPooledRecs {
		scratchPool.Put(sc)
	}
}

// pointAttrs returns the accessor of m's data point attributes.
func pointAttrs(m pmetric.Metric) func(i int) pcommon.Map {
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		return func(i int) pcommon.Map { return dps.At(i).Attributes() }
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		return func(i int) pcommon.Map { return dps.At(i).Attributes() }
	}
	dps := numberPoints(m)
	return func(i int) pcommon.Map { return dps.At(i).Attributes() }
}

// outputs are the five derived metrics of one (input metric, rule) pair.
type outputs [numOutputs]pmetric.NumberDataPointSlice

func newOutputs(sm pmetric.ScopeMetrics, m pmetric.Metric, r *compiledRule, npoints int) outputs {
	var o outputs
	unit := m.Unit()
	if r.cfg.Value == ValueCounterRate || r.cfg.Value == ValueHistogramCountRate {
		if unit == "" {
			unit = "1"
		}
		unit += "/s"
	}
	for _, i := range r.emit {
		om := sm.Metrics().AppendEmpty()
		om.SetName(m.Name() + r.suffix + outputSuffixes[i])
		om.SetDescription(outputDescriptions[i])
		// Score and alert are dimensionless but carry no unit: with "1"
		// Prometheus' OTLP naming would rename them to *_ratio.
		if i != outScore && i != outAlert {
			om.SetUnit(unit)
		}
		o[i] = om.SetEmptyGauge().DataPoints()
		o[i].EnsureCapacity(npoints)
	}
	return o
}

func copySelected(from pcommon.Map, keys []string, to pcommon.Map) {
	for _, k := range keys {
		if v, ok := from.Get(k); ok {
			v.CopyTo(to.PutEmpty(k))
		}
	}
}

var severities = [numTransitions]struct {
	num  plog.SeverityNumber
	text string
}{
	transPending:   {plog.SeverityNumberInfo, "INFO"},
	transFiring:    {plog.SeverityNumberWarn, "WARN"},
	transResolved:  {plog.SeverityNumberInfo, "INFO"},
	transCancelled: {plog.SeverityNumberDebug, "DEBUG"},
}

// transitionLog appends one log record for an alert transition.
func (e *engine) transitionLog(b *batch, r *compiledRule, m pmetric.Metric, s *series, pt *point, x float64, res result, upper, lower float64) {
	lr := b.scopeLogs().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.Timestamp(pt.ts))
	lr.SetObservedTimestamp(pcommon.Timestamp(b.now))
	sev := severities[res.trans]
	lr.SetSeverityNumber(sev.num)
	lr.SetSeverityText(sev.text)
	lr.SetEventName("vigil.ewma_baseline.alert")
	name := m.Name() + r.suffix
	lr.Body().SetStr(fmt.Sprintf("%s: %s = %s, baseline %s, band [%s, %s], score %.2f (rule %s)",
		res.trans, name, fmtFloat(x), fmtFloat(res.baseline), fmtFloat(lower), fmtFloat(upper), res.score, r.cfg.Name))
	attrs := lr.Attributes()
	if len(r.cfg.Attributes) == 0 {
		pt.attrs.CopyTo(attrs)
	} else {
		copySelected(pt.attrs, r.cfg.Attributes, attrs)
	}
	attrs.PutStr("alert.state", res.trans.String())
	attrs.PutStr("alert.rule", r.cfg.Name)
	attrs.PutStr("alert.fingerprint", fingerprint(s.key))
	attrs.PutStr("metric.name", name)
	attrs.PutDouble("alert.value", x)
	attrs.PutDouble("alert.baseline", res.baseline)
	attrs.PutDouble("alert.band.lower", lower)
	attrs.PutDouble("alert.band.upper", upper)
	attrs.PutDouble("alert.score", res.score)
	attrs.PutDouble("alert.k", r.p.k)
	// Trace-friendly: link the record to the newest exemplar's trace.
	for i := pt.exemplars.Len() - 1; i >= 0; i-- {
		ex := pt.exemplars.At(i)
		if !ex.TraceID().IsEmpty() {
			lr.SetTraceID(ex.TraceID())
			lr.SetSpanID(ex.SpanID())
			break
		}
	}
}

func fingerprint(key uint64) string {
	var buf [8]byte
	for i := range 8 {
		buf[i] = byte(key >> (56 - 8*i))
	}
	return hex.EncodeToString(buf[:])
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
