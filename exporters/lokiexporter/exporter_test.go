// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadatatest"
)

// received is one push request as Loki would see it.
type received struct {
	tenant string
	req    push.PushRequest
}

// fakeLoki decodes pushes like Loki's distributor and answers with the
// status chosen per tenant.
type fakeLoki struct {
	mu     sync.Mutex
	got    []received
	answer func(tenant string) (status int, header http.Header, body string)
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad path or content type", http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	tenant := r.Header.Get("X-Scope-OrgID")
	f.mu.Lock()
	f.got = append(f.got, received{tenant: tenant, req: req})
	f.mu.Unlock()
	status, header, msg := http.StatusNoContent, http.Header(nil), ""
	if f.answer != nil {
		status, header, msg = f.answer(tenant)
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func newTestExporter(t *testing.T, url string, tel *componenttest.Telemetry, mutate func(*Config)) *lokiExporter {
	t.Helper()
	cfg := defaultCfg()
	cfg.ClientConfig.Endpoint = url + "/loki/api/v1/push"
	cfg.Tenant.ResourceAttribute = "tenant"
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(metadata.Type)
	if tel != nil {
		set = metadatatest.NewSettings(tel)
	}
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

func twoTenantLogs(t *testing.T) plog.Logs {
	return makeLogs(t,
		res{attrs: map[string]any{"service.name": "a", "tenant": "ok"}, records: []rec{{body: "a1", ts: t0}, {body: "a2", ts: t0.Add(time.Second)}}},
		res{attrs: map[string]any{"service.name": "b", "tenant": "bad"}, records: []rec{{body: "b1", ts: t0}, {body: "b2", ts: t0}, {body: "b3", ts: t0}}},
	)
}

func TestPushStatusTable(t *testing.T) {
	t.Parallel()
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		// expectations for the "bad" tenant's 3 entries
		wantErr       bool
		wantPermanent bool
		wantThrottle  string // substring of the error, e.g. "Throttle (7s)"
		wantDropped   map[string]int64
		wantFailed    int64
	}{
		{name: "204 accepted", status: http.StatusNoContent},
		{name: "200 accepted", status: http.StatusOK},
		{
			name: "429 with Retry-After seconds is retried after that delay", status: http.StatusTooManyRequests,
			header: http.Header{"Retry-After": {"7"}}, body: "Ingestion rate limit exceeded",
			wantErr: true, wantThrottle: "Throttle (7s)", wantFailed: 3,
		},
		{
			name: "503 with Retry-After HTTP date is retried", status: http.StatusServiceUnavailable,
			header: http.Header{"Retry-After": {httpDate}}, body: "unavailable",
			wantErr: true, wantThrottle: "Throttle (1m", wantFailed: 3,
		},
		{name: "500 retried with normal backoff", status: http.StatusInternalServerError, body: "oops", wantErr: true, wantFailed: 3},
		{name: "502 retried", status: http.StatusBadGateway, wantErr: true, wantFailed: 3},
		{name: "504 retried", status: http.StatusGatewayTimeout, wantErr: true, wantFailed: 3},
		{
			name: "400 out of order: dropped by Loki's count, not retried", status: http.StatusBadRequest,
			body:        "entry with timestamp 2026-11-22 10:00:00 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: ...' for stream: {service_name=\"b\"},\nuser 'bad', total ignored: 2 out of 3 for stream: {service_name=\"b\"}",
			wantDropped: map[string]int64{reasonOutOfOrder: 2},
		},
		{
			name: "400 too old", status: http.StatusBadRequest,
			body:        "entry for stream '{service_name=\"b\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-15T10:00:00Z",
			wantDropped: map[string]int64{reasonTooOld: 3},
		},
		{
			name: "400 line too long", status: http.StatusBadRequest,
			body:        "max entry size '256' bytes exceeded for stream '{service_name=\"b\"}' while adding an entry with length '300' bytes",
			wantDropped: map[string]int64{reasonLineTooLong: 3},
		},
		{
			name: "400 too many labels", status: http.StatusBadRequest,
			body:        "entry for stream '{a=\"1\", ...}' has 16 label names; limit 15",
			wantDropped: map[string]int64{reasonTooManyLabels: 3},
		},
		{
			name: "400 too new", status: http.StatusBadRequest,
			body:        "entry for stream '{service_name=\"b\"}' has timestamp too new: 2027-01-01T00:00:00Z",
			wantDropped: map[string]int64{reasonTooNew: 3},
		},
		{name: "400 other", status: http.StatusBadRequest, body: "something else", wantDropped: map[string]int64{reasonOther: 3}},
		{
			name: "401 is permanent", status: http.StatusUnauthorized, body: "no org id",
			wantErr: true, wantPermanent: true, wantDropped: map[string]int64{reasonRejected: 3},
		},
		{
			name: "413 is permanent", status: http.StatusRequestEntityTooLarge,
			wantErr: true, wantPermanent: true, wantDropped: map[string]int64{reasonRejected: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fl := &fakeLoki{answer: func(tenant string) (int, http.Header, string) {
				if tenant == "bad" {
					return tt.status, tt.header, tt.body
				}
				return http.StatusNoContent, nil, ""
			}}
			srv := httptest.NewServer(fl)
			defer srv.Close()
			tel := componenttest.NewTelemetry()
			defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
			e := newTestExporter(t, srv.URL, tel, nil)

			err := e.pushLogs(context.Background(), twoTenantLogs(t))
			require.Len(t, fl.got, 2, "one request per tenant")

			if !tt.wantErr {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Equal(t, tt.wantPermanent, consumererror.IsPermanent(err))
				if tt.wantThrottle != "" {
					assert.Contains(t, err.Error(), tt.wantThrottle)
				} else {
					assert.NotContains(t, err.Error(), "Throttle")
				}
				if !tt.wantPermanent {
					// Only the failed tenant's records are handed back for retry.
					var le consumererror.Logs
					require.ErrorAs(t, err, &le)
					assert.Equal(t, 3, le.Data().LogRecordCount())
				}
			}

			sent := int64(2)
			if tt.status/100 == 2 {
				sent = 5
			}
			metadatatest.AssertEqualExporterLokiSentEntries(t, tel, []metricdata.DataPoint[int64]{{Value: sent}}, metricdatatest.IgnoreTimestamp())
			if tt.wantFailed > 0 {
				metadatatest.AssertEqualExporterLokiFailedEntries(t, tel, []metricdata.DataPoint[int64]{{Value: tt.wantFailed}}, metricdatatest.IgnoreTimestamp())
				metadatatest.AssertEqualExporterLokiFailedStreams(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
			}
			if tt.wantDropped != nil {
				var dps, sdps []metricdata.DataPoint[int64]
				for reason, n := range tt.wantDropped {
					attrs := attribute.NewSet(attribute.String("reason", reason))
					dps = append(dps, metricdata.DataPoint[int64]{Attributes: attrs, Value: n})
					sdps = append(sdps, metricdata.DataPoint[int64]{Attributes: attrs, Value: 1})
				}
				metadatatest.AssertEqualExporterLokiDroppedEntries(t, tel, dps, metricdatatest.IgnoreTimestamp())
				metadatatest.AssertEqualExporterLokiDroppedStreams(t, tel, sdps, metricdatatest.IgnoreTimestamp())
			} else {
				_, err := tel.GetMetric("otelcol_exporter_loki_dropped_entries")
				assert.Error(t, err, "nothing may be counted as dropped")
			}
		})
	}
}

func TestTransportErrorIsRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	e := newTestExporter(t, url, nil, nil)
	err := e.pushLogs(context.Background(), twoTenantLogs(t))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	var le consumererror.Logs
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 5, le.Data().LogRecordCount())
}

func TestPushRequestContent(t *testing.T) {
	t.Parallel()
	fl := &fakeLoki{}
	srv := httptest.NewServer(fl)
	defer srv.Close()
	e := newTestExporter(t, srv.URL, nil, func(c *Config) {
		c.Tenant = TenantConfig{ID: "static"}
		c.Shards = 1
	})
	ld := makeLogs(t, res{attrs: map[string]any{"service.name": "a"}, records: []rec{
		{body: "late", ts: t0.Add(time.Second), sevText: "info", trace: true},
		{body: "early", ts: t0, sevText: "info"},
	}})
	require.NoError(t, e.pushLogs(context.Background(), ld))
	require.Len(t, fl.got, 1)
	assert.Equal(t, "static", fl.got[0].tenant)
	require.Len(t, fl.got[0].req.Streams, 1)
	s := fl.got[0].req.Streams[0]
	assert.Equal(t, `{level="info", service_name="a"}`, s.Labels)
	require.Len(t, s.Entries, 2)
	assert.Equal(t, "early", s.Entries[0].Line)
	assert.True(t, s.Entries[0].Timestamp.Equal(t0))
	assert.Equal(t, "late", s.Entries[1].Line)
	assert.Equal(t, push.LabelsAdapter{{Name: "trace_id", Value: "5b8efff798038103d269b633813fc60c"}, {Name: "span_id", Value: "eee19b7ec3c1b174"}}, s.Entries[1].StructuredMetadata)
}

func TestRejectionsAreLoggedAtABoundedRate(t *testing.T) {
	t.Parallel()
	fl := &fakeLoki{answer: func(string) (int, http.Header, string) {
		return http.StatusBadRequest, nil, "entry too far behind, total ignored: 1 out of 1"
	}}
	srv := httptest.NewServer(fl)
	defer srv.Close()
	e := newTestExporter(t, srv.URL, nil, nil)
	core, logs := observer.New(zapcore.DebugLevel)
	e.rejectLog = newRejectLogger(zap.New(core))
	for range 50 {
		require.NoError(t, e.pushLogs(context.Background(), makeLogs(t, res{attrs: map[string]any{"service.name": "a"}, records: []rec{{body: "x", ts: t0}}})))
	}
	require.Len(t, fl.got, 50)
	entries := logs.All()
	require.Len(t, entries, 1, "50 rejections within one interval must log once")
	assert.Equal(t, "entry too far behind, total ignored: 1 out of 1", entries[0].ContextMap()["loki_message"])
	assert.Equal(t, reasonOutOfOrder, entries[0].ContextMap()["reason"])
}

func TestPermanentAndRetryableMixRetriesOnlyRetryable(t *testing.T) {
	t.Parallel()
	fl := &fakeLoki{answer: func(tenant string) (int, http.Header, string) {
		if tenant == "bad" {
			return http.StatusServiceUnavailable, nil, "down"
		}
		return http.StatusUnauthorized, nil, "denied"
	}}
	srv := httptest.NewServer(fl)
	defer srv.Close()
	e := newTestExporter(t, srv.URL, nil, nil)
	err := e.pushLogs(context.Background(), twoTenantLogs(t))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	var le consumererror.Logs
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 3, le.Data().LogRecordCount(), "the 401 tenant is dropped, the 503 one retried")
}
