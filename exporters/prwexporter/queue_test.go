// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/internal/telemetrytest"
)

// counters is export i of nSeries cumulative sums c0..c(n-1), spread over
// two resources, at t0+i s, with c<j> = 1000·i + j.
func counters(i, nSeries int, t0 time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 2 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "svc")
		rm.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("node-%d", r))
		sm := rm.ScopeMetrics().AppendEmpty()
		for j := r; j < nSeries; j += 2 {
			m := sm.Metrics().AppendEmpty()
			m.SetName(fmt.Sprintf("c%d", j))
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Second)))
			dp.SetDoubleValue(float64(1000*i + j))
		}
	}
	return md
}

// TestDurableQueueFlappingSink is the default config's durable exporter
// (file_storage queue, batching in the queue, retries) against a receiver
// that refuses every third request (503) and every seventh (500): every
// sample is accepted exactly once, with its own value, and each series'
// samples arrive in time order. This is the path where exports kept in
// memory (keep) are handed over, merged by the queue's batching and
// retried in parts.
func TestDurableQueueFlappingSink(t *testing.T) {
	p := &partServer{accepted: map[string]int{}, samples: map[string][]prompb.Sample{}, fail: func(n int) int {
		switch {
		case n%3 == 0:
			return http.StatusServiceUnavailable
		case n%7 == 0:
			return http.StatusInternalServerError
		}
		return 0
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	exp, tel := startDurable(t, srv.URL+"/api/v1/write", true, func(cfg *Config) {
		cfg.Shards = 3
		cfg.TargetInfo.Enabled = false
		cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 50 * time.Millisecond
		cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
		cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
		cfg.RetryConfig.RandomizationFactor = 0
		cfg.RetryConfig.MaxElapsedTime = 0
	})

	const exports, nSeries = 120, 40
	t0 := time.Unix(1_700_000_000, 0)
	for i := range exports {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), counters(i, nSeries, t0)))
		if i%10 == 9 {
			// Let the queue read some back while others are queued, so
			// that some requests are merged and some are not.
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Waits for delivery; the deadline only stops a hung test.
	for deadline := time.Now().Add(2 * time.Minute); telemetrytest.CounterSum(t, tel, "otelcol_exporter_sent_metric_points") < exports*nSeries && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Greater(t, p.n, len(p.sizes), "the receiver refused some requests")
	require.Len(t, p.samples, nSeries)
	for j := range nSeries {
		name := fmt.Sprintf("c%d_total", j)
		got := p.samples[name]
		require.Len(t, got, exports, "%s: every sample once", name)
		for i, x := range got {
			want := prompb.Sample{Timestamp: t0.Add(time.Duration(i) * time.Second).UnixMilli(), Value: float64(1000*i + j)}
			if !assert.Equal(t, want, x, "%s sample %d (in arrival order)", name, i) {
				break
			}
		}
	}
}
