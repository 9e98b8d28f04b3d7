// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"testing"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
)

func startSink(t *testing.T) *Sink {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func post(t *testing.T, url string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestOTLPGRPCWithGzip(t *testing.T) {
	s := startSink(t)
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.UseCompressor(grpcgzip.Name)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(),
		ptraceotlp.NewExportRequestFromTraces(testdata.GenerateTraces(7))); err != nil {
		t.Fatal(err)
	}
	if _, err := api_v2.NewCollectorServiceClient(conn).PostSpans(context.Background(),
		&api_v2.PostSpansRequest{Batch: model.Batch{Spans: []*model.Span{{}, {}, {}}}}); err != nil {
		t.Fatal(err)
	}
	if c := s.Counts(); c.Spans != 10 || c.Bad != 0 {
		t.Errorf("counts = %+v, want 10 spans (7 OTLP + 3 Jaeger), 0 bad", c)
	}
}

func TestOTLPHTTPWithGzip(t *testing.T) {
	s := startSink(t)
	body, err := plogotlp.NewExportRequestFromLogs(testdata.GenerateLogs(5)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write(body)
	zw.Close()
	resp := post(t, "http://"+s.HTTPAddr+"/otlp/v1/logs", zb.Bytes(),
		map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if c := s.Counts(); c.LogRecords != 5 || c.Bad != 0 {
		t.Errorf("counts = %+v, want 5 log records", c)
	}
}

func TestRemoteWriteV1AndV2(t *testing.T) {
	s := startSink(t)
	v1 := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Samples: []prompb.Sample{{Value: 1}, {Value: 2}}},
		{Histograms: []prompb.Histogram{{}}},
	}}
	b1, err := v1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, "http://"+s.HTTPAddr+"/api/v1/write", snappy.Encode(nil, b1),
		map[string]string{"X-Prometheus-Remote-Write-Version": "0.1.0", "Content-Encoding": "snappy"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("v1 status %s", resp.Status)
	}
	v2 := writev2.Request{Symbols: []string{""}, Timeseries: []writev2.TimeSeries{{Samples: []writev2.Sample{{Value: 1}, {Value: 2}, {Value: 3}}}}}
	b2, err := v2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp = post(t, "http://"+s.HTTPAddr+"/api/v1/write", snappy.Encode(nil, b2),
		map[string]string{"X-Prometheus-Remote-Write-Version": "2.0.0"})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written") != "3" {
		t.Fatalf("v2 status %s, samples written %q", resp.Status, resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"))
	}
	if c := s.Counts(); c.Points != 6 || c.Bad != 0 {
		t.Errorf("counts = %+v, want 6 points (3 v1 + 3 v2)", c)
	}
}

func TestLokiPushAndBadInput(t *testing.T) {
	s := startSink(t)
	req := push.PushRequest{Streams: []push.Stream{{Labels: `{a="b"}`, Entries: []push.Entry{{Line: "x"}, {Line: "y"}}}}}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if resp := post(t, "http://"+s.HTTPAddr+"/loki/api/v1/push", snappy.Encode(nil, b), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %s", resp.Status)
	}
	if resp := post(t, "http://"+s.HTTPAddr+"/loki/api/v1/push", []byte("not snappy"), nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad input: status %s, want 400", resp.Status)
	}
	if c := s.Counts(); c.LogRecords != 2 || c.Bad != 1 {
		t.Errorf("counts = %+v, want 2 log records and 1 bad request", c)
	}
}
