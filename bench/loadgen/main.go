// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program loadgen sends batched OTLP metrics over gRPC, the way an
// instrumented service or a node agent exports them: every request carries
// a whole collection cycle of many series (internal/benchdata.NodeBatch:
// gauges, counters, explicit and exponential histograms), timestamps advance
// from one request to the next, and counters only grow. telemetrygen sends one data point per request,
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
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigil-otel/vigil/internal/benchdata"
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
				md := benchdata.NodeBatch(fmt.Sprintf("w%d", w), *resources, cycle,
					pcommon.NewTimestampFromTime(time.Now()), pcommon.NewTimestampFromTime(start))
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
