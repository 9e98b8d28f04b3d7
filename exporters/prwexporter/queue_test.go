// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/exporters/prwexporter"
	"github.com/vigil-otel/vigil/extensions/filestoragewrapper"
)

// flappingSink is a remote-write 1.0 receiver that refuses some requests
// (503, 500) and records, per series and timestamp, the samples of the
// requests it accepted, in arrival order.
type flappingSink struct {
	mu       sync.Mutex
	n        int
	accepted map[string][]sample // series name → samples, in arrival order
	refused  int
}

type sample struct {
	ts int64
	v  float64
}

func (s *flappingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	switch {
	case s.n%3 == 0:
		s.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case s.n%7 == 0:
		s.refused++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	for _, ts := range wr.Timeseries {
		name := ""
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
			}
		}
		for _, x := range ts.Samples {
			s.accepted[name] = append(s.accepted[name], sample{x.Timestamp, x.Value})
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *flappingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, xs := range s.accepted {
		n += len(xs)
	}
	return n
}

// counters is export i of a node's counters: nSeries cumulative sums
// c0..c(n-1) in two resources, at t0+i s, c<j> = 1000·i + j.
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
// that refuses a third of the requests: every sample is accepted exactly
// once, with its own value, and each series' samples arrive in time order.
// This is the path where exports kept in memory (request.go, keep) are
// handed over, merged by the queue's batching and retried in parts.
func TestDurableQueueFlappingSink(t *testing.T) {
	ctx := context.Background()
	sink := &flappingSink{accepted: map[string][]sample{}}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)

	sf := filestoragewrapper.NewFactory()
	scfg := sf.CreateDefaultConfig().(*filestoragewrapper.Config)
	scfg.Directory = t.TempDir()
	sid := component.MustNewIDWithName("file_storage", "queue")
	ext, err := sf.Create(ctx, extension.Settings{ID: sid, TelemetrySettings: componenttest.NewNopTelemetrySettings()}, scfg)
	require.NoError(t, err)
	host := storageHost{sid: ext}
	require.NoError(t, ext.Start(ctx, host))
	t.Cleanup(func() { _ = ext.Shutdown(ctx) })

	f := prwexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*prwexporter.Config)
	cfg.ClientConfig.Endpoint = srv.URL + "/api/v1/write"
	cfg.Shards = 3
	cfg.TargetInfo.Enabled = false
	q := cfg.QueueConfig.GetOrInsertDefault()
	q.StorageID = &sid
	q.Batch.GetOrInsertDefault().FlushTimeout = 50 * time.Millisecond
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.RetryConfig.RandomizationFactor = 0
	cfg.RetryConfig.MaxElapsedTime = 0
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(ctx) })
	set := exporter.Settings{ID: component.NewID(f.Type()), TelemetrySettings: tel.NewTelemetrySettings()}
	exp, err := f.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host))

	const exports, nSeries = 120, 40
	t0 := time.Unix(1_700_000_000, 0)
	for i := range exports {
		require.NoError(t, exp.ConsumeMetrics(ctx, counters(i, nSeries, t0)))
		if i%10 == 9 {
			// Let the queue read some back while others are queued, so
			// that some requests are merged and some are not.
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Waits for delivery; the deadline only stops a hung test.
	deadline := time.Now().Add(2 * time.Minute)
	for sink.count() < exports*nSeries && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, exp.Shutdown(ctx))

	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Positive(t, sink.refused, "the sink refused some requests")
	require.Len(t, sink.accepted, nSeries)
	for j := range nSeries {
		name := fmt.Sprintf("c%d_total", j)
		got := sink.accepted[name]
		require.Len(t, got, exports, "%s: every sample once", name)
		for i, x := range got {
			want := sample{t0.Add(time.Duration(i) * time.Second).UnixMilli(), float64(1000*i + j)}
			if !assert.Equal(t, want, x, "%s sample %d (in arrival order)", name, i) {
				break
			}
		}
	}
}
