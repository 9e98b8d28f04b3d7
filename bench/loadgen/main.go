// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program loadgen sends batched OTLP the way instrumented services and node
// agents export it, over gRPC or HTTP (protobuf):
//   - metrics: every request is a whole collection cycle of many series
//     (internal/benchdata.NodeBatch: gauges, counters, explicit and
//     exponential histograms); timestamps advance from one request to the
//     next and counters only grow;
//   - traces: SDK batches of 512 spans with attributes, events and links
//     (benchdata.SpanBatch);
//   - logs: batches of 1,000 records with attributes (benchdata.LogBatch).
//
// telemetrygen sends one item per request, which measures a receiver's
// per-request cost rather than what a pipeline does per item; this load
// complements it. Every request is encoded before the first one is sent
// (metrics: one per cycle, since timestamps must advance; traces and logs: a
// few per client, sent in turn), so the generator spends its CPU on the wire,
// not on building data, and stays far cheaper per item than a collector.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigil-otel/vigil/internal/benchdata"
)

// payload is one encoded export request and the items it carries.
type payload struct {
	body  []byte
	items int64
}

// signal is what loadgen needs to know about one OTLP signal.
type signal struct {
	grpcMethod string // full gRPC method name
	httpPath   string // default OTLP/HTTP path
}

var signals = map[string]signal{
	"metrics": {"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", "/v1/metrics"},
	"traces":  {"/opentelemetry.proto.collector.trace.v1.TraceService/Export", "/v1/traces"},
	"logs":    {"/opentelemetry.proto.collector.logs.v1.LogsService/Export", "/v1/logs"},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	sigName := flag.String("signal", "metrics", "metrics, traces or logs")
	protocol := flag.String("protocol", "grpc", "grpc or http (OTLP/HTTP protobuf)")
	endpoint := flag.String("otlp-endpoint", "127.0.0.1:4317", "OTLP endpoint (host:port)")
	path := flag.String("http-path", "", "OTLP/HTTP path (default /v1/<signal>; the Prometheus agent's is /api/v1/otlp/v1/metrics)")
	workers := flag.Int("workers", 4, "concurrent clients, each with its own series")
	rate := flag.Float64("rate", 5, "requests per second per worker")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	resources := flag.Int("resources", 10, "metrics: resources per request")
	spans := flag.Int("spans", 512, "traces: spans per request")
	records := flag.Int("records", 1000, "logs: log records per request")
	flag.Parse()
	sig, ok := signals[*sigName]
	if !ok {
		return fmt.Errorf("unknown -signal %q", *sigName)
	}
	if *path == "" {
		*path = sig.httpPath
	}
	if *rate <= 0 || *workers <= 0 {
		return errors.New("-rate and -workers must be positive")
	}
	period := time.Duration(float64(time.Second) / *rate)
	cycles := int(math.Ceil(duration.Seconds()**rate)) + 1

	// Encode everything first. Traces and logs repeat 8 batches per worker;
	// metrics need one batch per cycle (the timestamps advance).
	now := time.Now()
	payloads := make([][]payload, *workers)
	for w := range *workers {
		inst := fmt.Sprintf("w%d", w)
		n := min(cycles, 8)
		var encode func(c int) (body []byte, items int64, err error)
		switch *sigName {
		case "metrics":
			start := pcommon.NewTimestampFromTime(now.Add(-time.Minute))
			n, encode = cycles, func(c int) ([]byte, int64, error) {
				md := benchdata.NodeBatch(inst, *resources, c, pcommon.NewTimestampFromTime(now.Add(time.Duration(c)*period)), start)
				b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
				return b, int64(md.DataPointCount()), err
			}
		case "traces":
			encode = func(c int) ([]byte, int64, error) {
				td := benchdata.SpanBatch(inst, w<<16|c, *spans, pcommon.NewTimestampFromTime(now))
				b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
				return b, int64(td.SpanCount()), err
			}
		case "logs":
			encode = func(c int) ([]byte, int64, error) {
				ld := benchdata.LogBatch(inst, w<<16|c, *records, pcommon.NewTimestampFromTime(now))
				b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
				return b, int64(ld.LogRecordCount()), err
			}
		}
		for c := range n {
			b, items, err := encode(c)
			if err != nil {
				return err
			}
			payloads[w] = append(payloads[w], payload{b, items})
		}
	}

	var send func(ctx context.Context, body []byte) error
	switch *protocol {
	case "grpc":
		conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		send = func(ctx context.Context, body []byte) error {
			var resp []byte
			return conn.Invoke(ctx, sig.grpcMethod, body, &resp, grpc.ForceCodec(rawCodec{}))
		}
	case "http":
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
		url := "http://" + *endpoint + *path
		send = func(ctx context.Context, body []byte) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/x-protobuf")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.CopyN(io.Discard, resp.Body, 1<<20)
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown -protocol %q", *protocol)
	}

	cpu0 := cpuSeconds()
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	for w := range *workers {
		wg.Go(func() {
			tick := time.NewTicker(period)
			defer tick.Stop()
			for c := 0; time.Now().Before(deadline); c++ {
				p := payloads[w][c%len(payloads[w])]
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := send(ctx, p.body)
				cancel()
				if err != nil {
					failed.Add(p.items)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					sent.Add(p.items)
				}
				<-tick.C
			}
		})
	}
	wg.Wait()
	fmt.Printf("loadgen: %d %s sent, %d failed\n", sent.Load(), *sigName, failed.Load())
	// The CPU of sending alone, without start-up and encoding: what the
	// runner compares with the collector's.
	fmt.Printf("loadgen: send CPU %.3f s\n", cpuSeconds()-cpu0)
	if e := firstErr.Load(); e != nil {
		fmt.Printf("loadgen: first error: %s\n", e)
	}
	return nil
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// rawCodec sends and receives already-encoded protobuf messages: the
// requests are encoded once, before the run.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = data
	return nil
}

// Name is "proto" so the request's content type is application/grpc+proto,
// which every OTLP server accepts.
func (rawCodec) Name() string { return "proto" }
