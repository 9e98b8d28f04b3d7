// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/vigil-otel/vigil/internal/benchdata"
	"github.com/vigil-otel/vigil/internal/cputime"
	"github.com/vigil-otel/vigil/internal/queuekeep/queuekeeptest"
	"github.com/vigil-otel/vigil/internal/telemetrytest"
)

// startDurable starts the exporter as the default config runs it (batching
// inside a sending queue; with durable, a file_storage one) against url;
// mutate may change its config first. Everything stops when tb ends.
func startDurable(tb testing.TB, url string, durable bool, mutate func(*Config)) (exporter.Metrics, *componenttest.Telemetry) {
	tb.Helper()
	ctx := context.Background()
	host, sid := queuekeeptest.StartFileStorage(tb, "")

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = url
	q := cfg.QueueConfig.GetOrInsertDefault()
	if durable {
		q.StorageID = &sid
	}
	q.Batch.GetOrInsertDefault().FlushTimeout = 200 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(tb, cfg.Validate())
	tel := componenttest.NewTelemetry()
	tb.Cleanup(func() { _ = tel.Shutdown(ctx) })
	set := exporter.Settings{ID: component.NewID(f.Type()), TelemetrySettings: tel.NewTelemetrySettings()}
	exp, err := f.CreateMetrics(ctx, set, cfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(ctx, host))
	tb.Cleanup(func() { _ = exp.Shutdown(ctx) }) // before the storage's (last in, first out)
	return exp, tel
}

// BenchmarkDurableQueue is the default config's metrics exporter on its own:
// batching inside a file_storage persistent queue, sending to a sink that
// drains each body. One op is one node batch (internal/benchdata, 2,350
// data points) consumed and sent. cpu-ms/op is the process's CPU time
// (getrusage), which keeps its meaning on a busy machine where ns/op does
// not. keeping-up holds at most 8 exports queued and unsent (an exporter
// that keeps up with its input, as in the bench); backlog queues all of
// them at once and then waits for the queue to drain; in-memory is
// keeping-up with the in-memory queue, for reference.
func BenchmarkDurableQueue(b *testing.B) {
	b.Run("keeping-up", func(b *testing.B) { benchmarkDurableQueue(b, 8, true) })
	b.Run("backlog", func(b *testing.B) { benchmarkDurableQueue(b, 0, true) })
	b.Run("in-memory", func(b *testing.B) { benchmarkDurableQueue(b, 8, false) })
}

func benchmarkDurableQueue(b *testing.B, maxUnsent int64, durable bool) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	exp, tel := startDurable(b, srv.URL+"/api/v1/write", durable, nil)

	now := pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0))
	md := benchdata.NodeBatch("node-1", 10, 1, now, now)
	points := int64(md.DataPointCount())
	sent := func() int64 { return telemetrytest.CounterSum(b, tel, "otelcol_exporter_sent_metric_points") }
	cpu0 := cputime.Process()
	n := int64(0)
	for b.Loop() {
		if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
			b.Fatal(err)
		}
		n++
		for maxUnsent > 0 && n-sent()/points > maxUnsent {
			time.Sleep(2 * time.Millisecond)
		}
	}
	for sent() < n*points {
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}
