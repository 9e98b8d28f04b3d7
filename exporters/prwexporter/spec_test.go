// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/vigil-otel/vigil/exporters/prwexporter/internal/metadatatest"
)

// specServer answers each remote-write request with the next status of
// script (then 204), counting the requests and the samples of the accepted
// ones. block, when set, holds every request until it is closed.
type specServer struct {
	mu       sync.Mutex
	script   []int
	requests int
	accepted int
	block    chan struct{}
}

func (s *specServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.block != nil {
		<-s.block
	}
	rec := decodeRequest(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if len(s.script) > 0 {
		code := s.script[0]
		s.script = s.script[1:]
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
		return
	}
	s.accepted += rec
	w.Header().Set(headerSamplesWritten, strconv.Itoa(rec))
	w.WriteHeader(http.StatusNoContent)
}

func (s *specServer) counts() (requests, accepted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.accepted
}

// decodeRequest returns the number of samples of a 1.0 or 2.0 request (-1
// when it does not decode).
func decodeRequest(r *http.Request) int {
	t := &testing.T{}
	var rec received
	done := make(chan struct{})
	go func() { defer close(done); rec = decode(t, r) }()
	<-done
	if t.Failed() {
		return -1
	}
	n := 0
	if rec.v2 != nil {
		for _, ts := range rec.v2.Timeseries {
			n += len(ts.Samples)
		}
		return n
	}
	for _, ts := range rec.v1.Timeseries {
		n += len(ts.Samples)
	}
	return n
}

// newSpecExporter builds the exporter through its factory, so exporterhelper's
// retry (and, with a queue, its sending queue) is what the test exercises.
func newSpecExporter(t *testing.T, url string, mutate func(*Config)) exporter.Metrics {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = url
	cfg.Protocol = ProtocolV2
	cfg.Shards = 1
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = time.Minute
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	return exp
}

// TestRemoteWriteSenderSpec checks the sender rules of the remote-write 2.0
// specification through the whole exporter: 5xx and 429 are retried with
// backoff until the receiver accepts, and every other 4xx is never retried
// (one request, a permanent error, the data dropped).
func TestRemoteWriteSenderSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		script       []int
		wantRequests int
		permanent    bool
	}{
		{"500 then accepted", []int{500}, 2, false},
		{"503 twice then accepted", []int{503, 503}, 3, false},
		{"502 504 then accepted", []int{502, 504}, 3, false},
		{"429 then accepted", []int{429}, 2, false},
		{"400 never retried", []int{400, 400, 400}, 1, true},
		{"404 never retried", []int{404, 404, 404}, 1, true},
		{"413 never retried", []int{413, 413, 413}, 1, true},
		{"401 never retried", []int{401, 401}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &specServer{script: tt.script}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			exp := newSpecExporter(t, srv.URL, nil)
			err := exp.ConsumeMetrics(context.Background(), gauges(5))
			require.NoError(t, exp.Shutdown(context.Background()))
			requests, accepted := s.counts()
			assert.Equal(t, tt.wantRequests, requests, "requests")
			if tt.permanent {
				require.Error(t, err)
				assert.True(t, consumererror.IsPermanent(err), "a 4xx other than 429 is permanent: %v", err)
				assert.Zero(t, accepted)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 5, accepted, "every sample written exactly once")
		})
	}
}

// TestFlushOnShutdown: with a sending queue, exports that were accepted
// into the queue but not yet sent when Shutdown starts are all sent before
// Shutdown returns.
func TestFlushOnShutdown(t *testing.T) {
	t.Parallel()
	s := &specServer{block: make(chan struct{})}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	exp := newSpecExporter(t, srv.URL, func(c *Config) {
		q := exporterhelper.NewDefaultQueueConfig()
		q.NumConsumers = 1
		q.Batch = configoptional.None[exporterhelper.BatchConfig]()
		c.QueueConfig = configoptional.Some(q)
	})
	const exports = 20
	for range exports {
		// Queued: the receiver holds the first request, nothing is sent yet.
		require.NoError(t, exp.ConsumeMetrics(context.Background(), gauges(3)))
	}
	requests, _ := s.counts()
	assert.Zero(t, requests, "nothing answered before shutdown")
	shut := make(chan error, 1)
	go func() { shut <- exp.Shutdown(context.Background()) }()
	close(s.block)
	require.NoError(t, <-shut)
	requests, accepted := s.counts()
	assert.Equal(t, exports*3, accepted, "every queued sample was sent before Shutdown returned")
	assert.Equal(t, exports, requests)
}

// TestExemplarRefusalIsNotADrop: a 2.0 receiver that answers 400 but says,
// through its written-count headers, that every sample was written (as
// Prometheus does for an out-of-order exemplar) has stored the data: the
// export succeeds, the samples count as sent and the exemplars as dropped.
// Without the headers, a 400 stays a permanent failure.
func TestExemplarRefusalIsNotADrop(t *testing.T) {
	t.Parallel()
	for _, withHeaders := range []bool{true, false} {
		e, _, tel := newTestExporter(t, func(c *Config) { c.Protocol = ProtocolV2 }, func(w http.ResponseWriter, rec received) {
			if withHeaders {
				n := 0
				for _, ts := range rec.v2.Timeseries {
					n += len(ts.Samples)
				}
				w.Header().Set(headerSamplesWritten, strconv.Itoa(n))
				w.Header().Set(headerHistogramsWritten, "0")
				w.Header().Set(headerExemplarsWritten, "0")
			}
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("out of order exemplar"))
		})
		err := e.pushMetrics(context.Background(), gauges(3))
		if !withHeaders {
			require.Error(t, err)
			assert.True(t, consumererror.IsPermanent(err))
			continue
		}
		require.NoError(t, err)
		metadatatest.AssertEqualExporterPrometheusremotewriteSentItems(t, tel, []metricdata.DataPoint[int64]{
			{Attributes: attribute.NewSet(attribute.String("kind", "sample")), Value: 3},
		}, metricdatatest.IgnoreTimestamp())
	}
}
