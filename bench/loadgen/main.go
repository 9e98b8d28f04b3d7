// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program loadgen sends batched OTLP metrics over gRPC, the way an
// instrumented service or a node agent exports them: every request carries
// a whole collection cycle of many series (gauges, counters, explicit and
// exponential histograms), timestamps advance from one request to the next,
// and counters only grow. telemetrygen sends one data point per request,
// which measures the OTLP receiver's per-request cost rather than what an
// exporter does with the points; this load complements it.
//
// It uses the collector's own OTLP gRPC client (pmetricotlp), so the wire is
// what any OTLP SDK sends.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	endpoint := flag.String("otlp-endpoint", "127.0.0.1:4317", "OTLP gRPC endpoint")
	workers := flag.Int("workers", 4, "concurrent clients, each with its own series")
	rate := flag.Float64("rate", 5, "requests per second per worker")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	resources := flag.Int("resources", 10, "resources per request")
	flag.Parse()

	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)

	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	for w := range *workers {
		wg.Go(func() {
			tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
			defer tick.Stop()
			start := time.Now()
			for cycle := 0; time.Now().Before(deadline); cycle++ {
				md := batch(w, *resources, cycle, start)
				n := int64(md.DataPointCount())
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
				cancel()
				if err != nil {
					failed.Add(n)
				} else {
					sent.Add(n)
				}
				<-tick.C
			}
		})
	}
	wg.Wait()
	fmt.Printf("loadgen: %d data points sent, %d failed\n", sent.Load(), failed.Load())
}

// batch is one collection cycle of one worker: per resource 20 gauges, 20
// monotonic counters, 5 histograms with 10 buckets and 2 exponential
// histograms, each with 5 attribute sets (235 data points per resource).
func batch(worker, resources, cycle int, start time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(time.Now())
	st := pcommon.NewTimestampFromTime(start)
	c := uint64(cycle)
	for r := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("service.instance.id", fmt.Sprintf("w%d-pod-%d", worker, r))
		ra.PutStr("k8s.namespace.name", "shop")
		ra.PutStr("k8s.node.name", "node-1")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("loadgen")
		attrs := func(a pcommon.Map, i int) {
			a.PutStr("http.request.method", "GET")
			a.PutStr("http.route", fmt.Sprintf("/api/v1/items/%d", i))
			a.PutInt("http.response.status_code", 200)
			a.PutStr("server.address", "db")
		}
		for m := range 20 {
			g := sm.Metrics().AppendEmpty()
			g.SetName(fmt.Sprintf("system.memory.usage.%d", m))
			g.SetUnit("By")
			gg := g.SetEmptyGauge()
			for i := range 5 {
				dp := gg.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetDoubleValue(float64(1000*i + cycle%97))
				attrs(dp.Attributes(), i)
			}
			cm := sm.Metrics().AppendEmpty()
			cm.SetName(fmt.Sprintf("http.server.requests.%d", m))
			s := cm.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(st)
				dp.SetIntValue(int64(c*uint64(i+1) + 1))
				attrs(dp.Attributes(), i)
			}
		}
		for m := range 5 {
			h := sm.Metrics().AppendEmpty()
			h.SetName(fmt.Sprintf("http.server.request.duration.%d", m))
			h.SetUnit("s")
			hh := h.SetEmptyHistogram()
			hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := hh.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(st)
				dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
				counts := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
				var n uint64
				for k := range counts {
					counts[k] += c
					n += counts[k]
				}
				dp.BucketCounts().FromRaw(counts)
				dp.SetCount(n)
				dp.SetSum(float64(n) * 0.3)
				attrs(dp.Attributes(), i)
			}
		}
		for m := range 2 {
			h := sm.Metrics().AppendEmpty()
			h.SetName(fmt.Sprintf("rpc.server.duration.%d", m))
			h.SetUnit("ms")
			eh := h.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range 5 {
				dp := eh.DataPoints().AppendEmpty()
				dp.SetTimestamp(ts)
				dp.SetStartTimestamp(st)
				dp.SetScale(3)
				dp.Positive().SetOffset(-4)
				counts := []uint64{5, 10, 20, 30, 20, 10, 5}
				var n uint64
				for k := range counts {
					counts[k] += c
					n += counts[k]
				}
				dp.Positive().BucketCounts().FromRaw(counts)
				dp.SetCount(n)
				dp.SetSum(float64(n) * 2)
				attrs(dp.Attributes(), i)
			}
		}
	}
	return md
}
