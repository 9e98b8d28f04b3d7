// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package benchdata builds the metric batches that Vigil's benchmarks and its
// load generator (bench/loadgen) send, so that a micro-benchmark and the
// whole-process bench measure the same shape of data.
package benchdata // import "github.com/vigil-otel/vigil/internal/benchdata"

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// PointsPerResource is the number of data points NodeBatch puts in each resource.
const PointsPerResource = 5 * (20 + 20 + 5 + 2)

// NodeBatch is one collection cycle of a node's services: per resource 20
// gauges, 20 monotonic counters, 5 histograms with 10 buckets and 2
// exponential histograms, each with 5 attribute sets. instance tells the
// senders apart (it becomes service.instance.id with the resource index);
// cycle advances counters and histogram counts, so that consecutive batches
// are what a real source sends.
func NodeBatch(instance string, resources, cycle int, ts, start pcommon.Timestamp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	c := uint64(cycle)
	for r := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("service.instance.id", fmt.Sprintf("%s-pod-%d", instance, r))
		ra.PutStr("k8s.namespace.name", "shop")
		ra.PutStr("k8s.node.name", "node-1")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("vigil-bench")
		ms := sm.Metrics()
		for m := range 20 {
			g := ms.AppendEmpty()
			g.SetName(fmt.Sprintf("system.memory.usage.%d", m))
			g.SetUnit("By")
			gg := g.SetEmptyGauge()
			for i := range 5 {
				dp := gg.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(float64(1000*i + cycle%97))
				attributes(dp.Attributes(), i)
			}
			cm := ms.AppendEmpty()
			cm.SetName(fmt.Sprintf("http.server.requests.%d", m))
			s := cm.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(start)
				dp.SetIntValue(int64(c*uint64(i+1) + 1))
				attributes(dp.Attributes(), i)
			}
		}
		for m := range 5 {
			h := ms.AppendEmpty()
			h.SetName(fmt.Sprintf("http.server.request.duration.%d", m))
			h.SetUnit("s")
			hh := h.SetEmptyHistogram()
			hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := hh.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(start)
				dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
				n := buckets(dp.BucketCounts(), []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, c)
				dp.SetCount(n)
				dp.SetSum(float64(n) * 0.3)
				attributes(dp.Attributes(), i)
			}
		}
		for m := range 2 {
			h := ms.AppendEmpty()
			h.SetName(fmt.Sprintf("rpc.server.duration.%d", m))
			h.SetUnit("ms")
			eh := h.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := eh.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(start)
				dp.SetScale(3)
				dp.Positive().SetOffset(-4)
				n := buckets(dp.Positive().BucketCounts(), []uint64{5, 10, 20, 30, 20, 10, 5}, c)
				dp.SetCount(n)
				dp.SetSum(float64(n) * 2)
				attributes(dp.Attributes(), i)
			}
		}
	}
	return md
}

// podResource sets the resource attributes of one pod of the checkout
// service, as the span and log batches carry them.
func podResource(ra pcommon.Map, instance string) {
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.instance.id", instance)
	ra.PutStr("k8s.namespace.name", "shop")
	ra.PutStr("k8s.pod.name", instance+"-7d9f8b6c5-x2x4q")
}

func attributes(a pcommon.Map, i int) {
	a.PutStr("http.request.method", "GET")
	a.PutStr("http.route", fmt.Sprintf("/api/v1/items/%d", i))
	a.PutInt("http.response.status_code", 200)
	a.PutStr("server.address", "db")
}

// buckets sets to base counts each grown by growth and returns their sum.
func buckets(to pcommon.UInt64Slice, base []uint64, growth uint64) uint64 {
	var n uint64
	for k := range base {
		base[k] += growth
		n += base[k]
	}
	to.FromRaw(base)
	return n
}
