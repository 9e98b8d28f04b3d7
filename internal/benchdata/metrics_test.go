// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package benchdata

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestNodeBatch(t *testing.T) {
	ts := pcommon.Timestamp(2e18)
	md := NodeBatch("w0", 3, 0, ts, ts-60e9)
	if got, want := md.DataPointCount(), 3*PointsPerResource; got != want {
		t.Fatalf("%d data points, want %d", got, want)
	}
	// The next cycle grows counters and histogram counts: what a real source sends.
	next := NodeBatch("w0", 3, 1, ts+1e9, ts-60e9)
	m0 := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	m1 := next.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range m0.Len() {
		a, b := m0.At(i), m1.At(i)
		switch a.Type() {
		case pmetric.MetricTypeSum:
			if b.Sum().DataPoints().At(0).IntValue() <= a.Sum().DataPoints().At(0).IntValue() {
				t.Fatalf("%s did not grow", a.Name())
			}
		case pmetric.MetricTypeHistogram:
			if b.Histogram().DataPoints().At(0).Count() <= a.Histogram().DataPoints().At(0).Count() {
				t.Fatalf("%s count did not grow", a.Name())
			}
		}
	}
}

func TestSpanBatch(t *testing.T) {
	td := SpanBatch("w0", 1, 512, pcommon.Timestamp(2e18))
	if got := td.SpanCount(); got != 512 {
		t.Fatalf("%d spans, want 512", got)
	}
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	var links, events int
	for i := range spans.Len() {
		links += spans.At(i).Links().Len()
		events += spans.At(i).Events().Len()
	}
	if events != 512 || links == 0 {
		t.Fatalf("%d events, %d links: want one event per span and some links", events, links)
	}
	if SpanBatch("w0", 2, 512, 0).ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID() == spans.At(0).TraceID() {
		t.Fatal("two batches share a trace ID")
	}
}

func TestLogBatch(t *testing.T) {
	ld := LogBatch("w0", 1, 1000, pcommon.Timestamp(2e18))
	if got := ld.LogRecordCount(); got != 1000 {
		t.Fatalf("%d log records, want 1000", got)
	}
}
