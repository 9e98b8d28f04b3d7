// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"context"
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
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/vigil-otel/vigil/exporters/prwexporter/internal/metadatatest"
	"github.com/vigil-otel/vigil/internal/benchdata"
	"github.com/vigil-otel/vigil/internal/keepalive/keepalivetest"
)

// seriesKey is a series' labels as one string.
func seriesKey(ts prompb.TimeSeries) string {
	return labelsKey(ts.Labels)
}

func labelsKey(ls []prompb.Label) string {
	k := ""
	for _, l := range ls {
		k += l.Name + "=" + l.Value + ","
	}
	return k
}

// partServer is a remote-write 1.0 receiver that counts the samples and
// histograms it accepted per series; fail decides the answer to request n
// (from 1). With samples set, it also keeps the float samples it accepted,
// per series name, in arrival order.
type partServer struct {
	mu       sync.Mutex
	n        int
	sizes    []int
	accepted map[string]int
	samples  map[string][]prompb.Sample
	fail     func(n int) int // status for request n, 0 to accept
}

// newPartServer starts a partServer that answers status to request number
// failOn (counted from 1) and accepts every other one (failOn 0: all); it
// returns the server and its URL.
func newPartServer(t *testing.T, failOn, status int) (*partServer, string) {
	t.Helper()
	p := &partServer{accepted: map[string]int{}, fail: func(n int) int {
		if n == failOn {
			return status
		}
		return 0
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *partServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if code := p.fail(p.n); code != 0 {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(code)
		return
	}
	p.sizes = append(p.sizes, len(raw))
	for _, ts := range req.Timeseries {
		p.accepted[seriesKey(ts)] += len(ts.Samples) + len(ts.Histograms)
		for _, l := range ts.Labels {
			if p.samples != nil && l.Name == "__name__" {
				p.samples[l.Value] = append(p.samples[l.Value], ts.Samples...)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestPartsBoundedAndRetriedFromTheFailedOne sends a node batch through the
// whole exporter (exporterhelper's retry included) with a small
// max_batch_size_bytes: requests stay under the limit, and when the third
// request fails, the retry carries exactly what was not written, so every
// series' samples are accepted exactly once.
func TestPartsBoundedAndRetriedFromTheFailedOne(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	ts := pcommon.Timestamp(1_700_000_000_000_000_000)
	md := benchdata.NodeBatch("t", 3, 0, ts, ts-60e9)

	// Every series and how many samples it has, from an unchunked export.
	ref, refURL := newPartServer(t, 0, 0)
	e, _, _ := newTestExporter(t, func(c *Config) { c.MaxBatchSizeBytes = 1 << 30 }, ok204)
	e.cfg.ClientConfig.Endpoint = refURL
	require.NoError(t, e.pushMetrics(context.Background(), md))
	require.Len(t, ref.sizes, 1)
	require.Greater(t, ref.sizes[0], 4*limit)

	for _, shards := range []int{1, 3} {
		p, url := newPartServer(t, 3, http.StatusServiceUnavailable)
		cfg := createDefaultConfig().(*Config)
		cfg.ClientConfig.Endpoint = url
		cfg.Shards = shards
		cfg.MaxBatchSizeBytes = limit
		cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		cfg.RetryConfig.InitialInterval = time.Millisecond
		exp, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
		require.NoError(t, exp.Shutdown(context.Background()))

		p.mu.Lock()
		assert.Greater(t, p.n, 8, "shards %d: requests", shards)
		for _, n := range p.sizes {
			assert.LessOrEqual(t, n, limit, "shards %d: request size", shards)
		}
		for k, want := range ref.accepted {
			got := p.accepted[k]
			if k[:len("__name__=target_info,")] == "__name__=target_info," {
				// target_info is rebuilt for every resource a retry
				// carries: an identical sample, which Prometheus accepts.
				assert.GreaterOrEqual(t, got, want, "shards %d: %s", shards, k)
				continue
			}
			assert.Equal(t, want, got, "shards %d: %s", shards, k)
		}
		assert.Len(t, p.accepted, len(ref.accepted), "shards %d: no other series", shards)
		p.mu.Unlock()
	}
}

// TestPermanentFailureDropsOnlyItsPart: a part answered 400 is dropped
// (counted, permanent error), the shard's other parts are still written.
func TestPermanentFailureDropsOnlyItsPart(t *testing.T) {
	t.Parallel()
	ts := pcommon.Timestamp(1_700_000_000_000_000_000)
	md := benchdata.NodeBatch("t", 2, 0, ts, ts-60e9)
	p, url := newPartServer(t, 2, http.StatusBadRequest)
	e, _, _ := newTestExporter(t, func(c *Config) { c.MaxBatchSizeBytes = 16 << 10 }, ok204)
	e.cfg.ClientConfig.Endpoint = url
	err := e.pushMetrics(context.Background(), md)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Greater(t, p.n, 4)
	assert.Len(t, p.sizes, p.n-1, "every part but the rejected one was written")
}

// TestConnectionsAreReused: every shard keeps its connection between
// requests (net/http keeps only 2 idle per host unless told otherwise).
func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	srv, conns := keepalivetest.NewServer(t)
	const shards = 6
	e, _, _ := newTestExporter(t, func(c *Config) {
		c.Shards = shards
		c.MaxBatchSizeBytes = 16 << 10
	}, ok204)
	e.cfg.ClientConfig.Endpoint = srv.URL
	ts := pcommon.Timestamp(1_700_000_000_000_000_000)
	for i := range 5 {
		require.NoError(t, e.pushMetrics(context.Background(), benchdata.NodeBatch("t", 3, i, ts+pcommon.Timestamp(i)*1e9, ts-60e9)))
	}
	// A part can start a moment before another shard's connection is back
	// in the pool, which dials one more; without reuse it was one dial for
	// most requests (60 for these 5 exports).
	assert.LessOrEqual(t, conns(), 2*shards, "connections opened for 5 exports of %d shards in parts", shards)
}
