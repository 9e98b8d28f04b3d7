// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/vigil-otel/vigil/exporters/prwexporter/internal/metadatatest"
	"github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"
)

// received is one decoded request seen by the test server.
type received struct {
	header http.Header
	v1     *prompb.WriteRequest
	v2     *writev2.Request
	names  []string // __name__ of every series
}

type recorder struct {
	mu   sync.Mutex
	reqs []received
}

func (r *recorder) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func decode(t *testing.T, req *http.Request) received {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	rec := received{header: req.Header.Clone()}
	if req.Header.Get("Content-Type") == contentTypeV2 {
		rec.v2 = &writev2.Request{}
		require.NoError(t, rec.v2.Unmarshal(raw))
		for _, ts := range rec.v2.Timeseries {
			b := labels.NewScratchBuilder(0)
			l, err := ts.ToLabels(&b, rec.v2.Symbols)
			require.NoError(t, err)
			rec.names = append(rec.names, l.Get("__name__"))
		}
	} else {
		rec.v1 = &prompb.WriteRequest{}
		require.NoError(t, rec.v1.Unmarshal(raw))
		for _, ts := range rec.v1.Timeseries {
			for _, l := range ts.Labels {
				if l.Name == "__name__" {
					rec.names = append(rec.names, l.Value)
				}
			}
		}
	}
	return rec
}

// newTestExporter starts an exporter against handler; respond may inspect
// the decoded request.
func newTestExporter(t *testing.T, mutate func(*Config), respond func(w http.ResponseWriter, rec received)) (*prwExporter, *recorder, *componenttest.Telemetry) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := decode(t, r)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, got)
		rec.mu.Unlock()
		respond(w, got)
	}))
	t.Cleanup(srv.Close)
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = srv.URL + "/api/v1/write"
	cfg.Shards = 1
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.BuildInfo.Command = "vigil"
	set.BuildInfo.Version = "0.1.0"
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e, rec, tel
}

// gauges returns n gauge metrics g0..g(n-1), one data point each.
func gauges(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	sm := rm.ScopeMetrics().AppendEmpty()
	for i := range n {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("g%d", i))
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0)))
		dp.SetDoubleValue(float64(i))
	}
	return md
}

func ok204(w http.ResponseWriter, _ received) { w.WriteHeader(http.StatusNoContent) }

func TestRequestHeadersAndBody(t *testing.T) {
	t.Parallel()
	for _, proto := range []Protocol{ProtocolV1, ProtocolV2} {
		t.Run(string(proto), func(t *testing.T) {
			t.Parallel()
			e, rec, _ := newTestExporter(t, func(c *Config) { c.Protocol = proto }, func(w http.ResponseWriter, r received) {
				w.Header().Set(headerSamplesWritten, fmt.Sprint(len(r.names)))
				w.WriteHeader(http.StatusNoContent)
			})
			require.NoError(t, e.pushMetrics(context.Background(), gauges(2)))
			reqs := rec.all()
			require.Len(t, reqs, 1)
			h := reqs[0].header
			assert.Equal(t, "snappy", h.Get("Content-Encoding"))
			assert.Equal(t, "vigil/0.1.0", h.Get("User-Agent"))
			if proto == ProtocolV1 {
				assert.Equal(t, "application/x-protobuf", h.Get("Content-Type"))
				assert.Equal(t, "0.1.0", h.Get("X-Prometheus-Remote-Write-Version"))
				require.NotNil(t, reqs[0].v1)
			} else {
				assert.Equal(t, "application/x-protobuf;proto=io.prometheus.write.v2.Request", h.Get("Content-Type"))
				assert.Equal(t, "2.0.0", h.Get("X-Prometheus-Remote-Write-Version"))
				require.NotNil(t, reqs[0].v2)
			}
			assert.ElementsMatch(t, []string{"g0", "g1"}, reqs[0].names)
		})
	}
}

// TestStatusCodes is the status-code table: 2xx success; 429 and 5xx are
// retryable and honour Retry-After (seconds or HTTP date); all other codes
// are permanent, dropped and counted.
func TestStatusCodes(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status      int
		retryAfter  string
		wantErr     bool
		permanent   bool
		throttle    string // prefix of the throttle error, "" if none
		countedAs   string // "failed" or "dropped"
		countReason string
	}{
		{status: 200},
		{status: 204},
		{status: 400, wantErr: true, permanent: true, countedAs: "dropped", countReason: "http_400"},
		{status: 401, wantErr: true, permanent: true, countedAs: "dropped", countReason: "http_401"},
		{status: 404, wantErr: true, permanent: true, countedAs: "dropped", countReason: "http_404"},
		{status: 409, wantErr: true, permanent: true, countedAs: "dropped", countReason: "http_409"},
		{status: 413, wantErr: true, permanent: true, countedAs: "dropped", countReason: "http_413"},
		{status: 301, wantErr: true, permanent: true, countedAs: "dropped", countReason: "http_301"},
		{status: 429, wantErr: true, countedAs: "failed", countReason: "http_429"},
		{status: 429, retryAfter: "7", wantErr: true, throttle: "Throttle (7s)", countedAs: "failed", countReason: "http_429"},
		{status: 503, retryAfter: future, wantErr: true, throttle: "Throttle (1m", countedAs: "failed", countReason: "http_503"},
		{status: 503, retryAfter: "soon", wantErr: true, countedAs: "failed", countReason: "http_503"},
		{status: 500, wantErr: true, countedAs: "failed", countReason: "http_500"},
		{status: 502, wantErr: true, countedAs: "failed", countReason: "http_502"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.retryAfter), func(t *testing.T) {
			t.Parallel()
			e, _, tel := newTestExporter(t, nil, func(w http.ResponseWriter, _ received) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 301 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "server says no")
			})
			e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			err := e.pushMetrics(context.Background(), gauges(3))
			if !tt.wantErr {
				require.NoError(t, err)
				metadatatest.AssertEqualExporterPrometheusremotewriteSentItems(t, tel, []metricdata.DataPoint[int64]{
					{Attributes: attribute.NewSet(attribute.String("kind", "sample")), Value: 3},
				}, metricdatatest.IgnoreTimestamp())
				return
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, "server says no")
			assert.Equal(t, tt.permanent, consumererror.IsPermanent(err))
			if tt.throttle != "" {
				assert.Contains(t, err.Error(), tt.throttle)
			} else {
				assert.NotContains(t, err.Error(), "Throttle")
			}
			if !tt.permanent {
				var pe *partialError
				require.ErrorAs(t, err, &pe)
				require.Len(t, pe.rest, 1)
				assert.Equal(t, 3, pe.rest[0].md.DataPointCount(), "the failed shard is handed back for retry")
			}
			want := []metricdata.DataPoint[int64]{{Attributes: attribute.NewSet(attribute.String("kind", "sample"), attribute.String("reason", tt.countReason)), Value: 3}}
			if tt.countedAs == "dropped" {
				metadatatest.AssertEqualExporterPrometheusremotewriteDroppedItems(t, tel, want, metricdatatest.IgnoreTimestamp())
			} else {
				metadatatest.AssertEqualExporterPrometheusremotewriteFailedItems(t, tel, want, metricdatatest.IgnoreTimestamp())
			}
		})
	}
}

func TestTransportErrorIsRetryable(t *testing.T) {
	t.Parallel()
	e, _, _ := newTestExporter(t, nil, ok204)
	e.cfg.ClientConfig.Endpoint = "http://127.0.0.1:1/api/v1/write" // nothing listens on port 1
	err := e.pushMetrics(context.Background(), gauges(1))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, "failed to make an HTTP request")
}

func TestV2WrittenHeadersAndPartialWrites(t *testing.T) {
	t.Parallel()
	e, _, tel := newTestExporter(t, func(c *Config) { c.Protocol = ProtocolV2 }, func(w http.ResponseWriter, _ received) {
		w.Header().Set(headerSamplesWritten, "3")
		w.Header().Set(headerHistogramsWritten, "0")
		w.Header().Set(headerExemplarsWritten, "0")
		w.WriteHeader(http.StatusNoContent)
	})
	require.NoError(t, e.pushMetrics(context.Background(), gauges(5)))
	metadatatest.AssertEqualExporterPrometheusremotewriteSentItems(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("kind", "sample")), Value: 3},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterPrometheusremotewritePartialWrites(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterPrometheusremotewriteDroppedItems(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("kind", "sample"), attribute.String("reason", "partial_write")), Value: 2},
	}, metricdatatest.IgnoreTimestamp())
}

// prometheus242 behaves like Debian's Prometheus 2.42: a 2.0 body decodes as
// an empty 1.0 request and is answered 204 without written-count headers.
func prometheus242(w http.ResponseWriter, _ received) { w.WriteHeader(http.StatusNoContent) }

func TestV2UnacknowledgedFallsBackToV1(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		respond func(http.ResponseWriter, received)
	}{
		{"204 without written headers", prometheus242},
		{"415 unsupported media type", func(w http.ResponseWriter, r received) {
			if r.v2 != nil {
				w.WriteHeader(http.StatusUnsupportedMediaType)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, rec, tel := newTestExporter(t, func(c *Config) { c.Protocol = ProtocolV2 }, tc.respond)
			require.NoError(t, e.pushMetrics(context.Background(), gauges(2)))
			require.NoError(t, e.pushMetrics(context.Background(), gauges(2)))
			reqs := rec.all()
			require.Len(t, reqs, 3, "2.0 attempt, 1.0 resend, then 1.0 only")
			assert.NotNil(t, reqs[0].v2)
			assert.NotNil(t, reqs[1].v1)
			assert.NotNil(t, reqs[2].v1)
			assert.ElementsMatch(t, []string{"g0", "g1"}, reqs[1].names, "the unacknowledged data are resent")
			metadatatest.AssertEqualExporterPrometheusremotewriteProtocolFallbacks(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
			metadatatest.AssertEqualExporterPrometheusremotewriteSentItems(t, tel, []metricdata.DataPoint[int64]{
				{Attributes: attribute.NewSet(attribute.String("kind", "sample")), Value: 4},
			}, metricdatatest.IgnoreTimestamp())
		})
	}
}

func TestV2UnacknowledgedFails(t *testing.T) {
	t.Parallel()
	e, rec, tel := newTestExporter(t, func(c *Config) { c.Protocol = ProtocolV2; c.V2Unacknowledged = V2Fail }, prometheus242)
	err := e.pushMetrics(context.Background(), gauges(2))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, "it does not support remote-write 2.0")
	assert.Len(t, rec.all(), 1)
	metadatatest.AssertEqualExporterPrometheusremotewriteDroppedItems(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("kind", "sample"), attribute.String("reason", "v2_unacknowledged")), Value: 2},
	}, metricdatatest.IgnoreTimestamp())
}

// TestOnlyFailedShardsAreRetried: with 4 shards, the shard holding g0 fails
// once with 503; exporterhelper's retry resends only that shard's data, so
// every series is accepted exactly once.
func TestOnlyFailedShardsAreRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failedOnce := false
	accepted := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := decode(t, r)
		mu.Lock()
		defer mu.Unlock()
		for _, n := range got.names {
			if n == "g0" && !failedOnce {
				failedOnce = true
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		for _, n := range got.names {
			accepted[n]++
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = srv.URL
	cfg.Shards = 4
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.InitialInterval = time.Millisecond
	exp, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	md := gauges(40)
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	mu.Lock()
	defer mu.Unlock()
	assert.True(t, failedOnce)
	for i := range 40 {
		assert.Equal(t, 1, accepted[fmt.Sprintf("g%d", i)], "g%d", i)
	}
	assert.Len(t, accepted, 40, "no other series (the resource has no attributes for target_info)")
}

func TestPermanentErrorIsNotWrappedAsRetry(t *testing.T) {
	t.Parallel()
	e, _, _ := newTestExporter(t, func(c *Config) { c.Shards = 4 }, func(w http.ResponseWriter, _ received) {
		w.WriteHeader(http.StatusBadRequest)
	})
	err := e.pushMetrics(context.Background(), gauges(20))
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	var pe *partialError
	assert.False(t, errors.As(err, &pe))
}

// pushMetrics sends md as one queued export.
func (e *prwExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	return e.pushParts(ctx, []part{{md: md}})
}

// TestMixedShardOutcomes: of 4 shards, one is throttled for 7s, one for 60s,
// one rejected, one accepted. The export is retried (not permanent), after
// the longest Retry-After, with the data of the two throttled shards only;
// the rejected shard's message is kept in the error.
func TestMixedShardOutcomes(t *testing.T) {
	t.Parallel()
	md := gauges(40)
	// Which series each shard holds, as the exporter will cut them.
	shardOf := map[string]int{}
	for i, sh := range translate.New(translate.Settings{Shards: 4, TargetInfo: true}).Translate(md).Shards {
		for _, s := range sh.Series {
			for _, l := range s.Labels() {
				if l.Name == "__name__" {
					shardOf[l.Value] = i
				}
			}
		}
	}
	outcome := map[int]struct {
		status     int
		retryAfter string
	}{0: {http.StatusTooManyRequests, "7"}, 1: {http.StatusServiceUnavailable, "60"}, 2: {http.StatusBadRequest, ""}}
	e, _, _ := newTestExporter(t, func(c *Config) { c.Shards = 4 }, func(w http.ResponseWriter, got received) {
		o, ok := outcome[shardOf[got.names[0]]]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if o.retryAfter != "" {
			w.Header().Set("Retry-After", o.retryAfter)
		}
		w.WriteHeader(o.status)
		_, _ = fmt.Fprintf(w, "shard %d says %d", shardOf[got.names[0]], o.status)
	})
	err := e.pushMetrics(context.Background(), md)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "a rejected shard must not stop the retry of the throttled ones")
	assert.Contains(t, err.Error(), "Throttle (1m0s)")
	assert.Contains(t, err.Error(), "shard 2 says 400")
	var pe *partialError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.rest, 1)
	var retried []string
	rms := pe.rest[0].md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			for k := 0; k < sms.At(j).Metrics().Len(); k++ {
				retried = append(retried, sms.At(j).Metrics().At(k).Name())
			}
		}
	}
	var want []string
	for i := range 40 {
		if n := fmt.Sprintf("g%d", i); shardOf[n] == 0 || shardOf[n] == 1 {
			want = append(want, n)
		}
	}
	require.NotEmpty(t, want)
	assert.ElementsMatch(t, want, retried, "exactly the throttled shards' data is handed back")
}
