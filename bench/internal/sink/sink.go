// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package sink is the bench's receiving end: tiny servers on 127.0.0.1 that
// accept what a collector exports (OTLP gRPC and HTTP, Prometheus
// remote-write 1.0 and 2.0, Jaeger api_v2 gRPC, Loki push) and count the
// items, so Vigil and its peer are measured by what arrives, not by what they
// claim to have sent. Decoding is real: a request that does not decode is
// counted as bad, not as items.
package sink

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	// Collectors compress OTLP/gRPC with gzip by default.
	_ "google.golang.org/grpc/encoding/gzip"
)

// maxBody bounds one decoded request body.
const maxBody = 64 << 20

// Counts is what arrived so far.
type Counts struct {
	Spans      int64 `json:"spans"`
	Points     int64 `json:"points"` // metric data points, or RW samples + histograms
	LogRecords int64 `json:"log_records"`
	Requests   int64 `json:"requests"`
	Bad        int64 `json:"bad"` // requests that did not decode
}

// Sink counts what it receives.
type Sink struct {
	spans, points, logs, requests, bad atomic.Int64

	grpcSrv *grpc.Server
	httpSrv *http.Server
	// GRPCAddr serves OTLP (traces, metrics, logs) and Jaeger api_v2.
	GRPCAddr string
	// HTTPAddr serves OTLP/HTTP (/v1/traces, /v1/metrics, /v1/logs and the
	// same under /otlp/), remote-write (/api/v1/write) and Loki (/loki/api/v1/push).
	HTTPAddr string
}

// Start listens on two free loopback ports.
func Start() (*Sink, error) {
	s := &Sink{}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, err
	}
	s.GRPCAddr, s.HTTPAddr = gl.Addr().String(), hl.Addr().String()

	s.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(maxBody))
	ptraceotlp.RegisterGRPCServer(s.grpcSrv, &traceServer{s: s})
	pmetricotlp.RegisterGRPCServer(s.grpcSrv, &metricServer{s: s})
	plogotlp.RegisterGRPCServer(s.grpcSrv, &logServer{s: s})
	api_v2.RegisterCollectorServiceServer(s.grpcSrv, jaegerServer{s: s})
	go func() { _ = s.grpcSrv.Serve(gl) }()

	mux := http.NewServeMux()
	for _, prefix := range []string{"", "/otlp"} {
		mux.HandleFunc(prefix+"/v1/traces", s.handleOTLP(s.countTraces))
		mux.HandleFunc(prefix+"/v1/metrics", s.handleOTLP(s.countMetrics))
		mux.HandleFunc(prefix+"/v1/logs", s.handleOTLP(s.countLogs))
	}
	mux.HandleFunc("/api/v1/write", s.handleRemoteWrite)
	mux.HandleFunc("/loki/api/v1/push", s.handleLoki)
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10e9}
	go func() { _ = s.httpSrv.Serve(hl) }()
	return s, nil
}

// Counts returns a snapshot.
func (s *Sink) Counts() Counts {
	return Counts{Spans: s.spans.Load(), Points: s.points.Load(), LogRecords: s.logs.Load(),
		Requests: s.requests.Load(), Bad: s.bad.Load()}
}

// Reset zeroes the counters.
func (s *Sink) Reset() {
	for _, c := range []*atomic.Int64{&s.spans, &s.points, &s.logs, &s.requests, &s.bad} {
		c.Store(0)
	}
}

// Close stops both servers.
func (s *Sink) Close() {
	s.grpcSrv.Stop()
	_ = s.httpSrv.Close()
}

func (s *Sink) countTraces(body []byte, proto bool) error {
	req := ptraceotlp.NewExportRequest()
	if err := unmarshalOTLP(req.UnmarshalProto, req.UnmarshalJSON, body, proto); err != nil {
		return err
	}
	s.spans.Add(int64(req.Traces().SpanCount()))
	return nil
}

func (s *Sink) countMetrics(body []byte, proto bool) error {
	req := pmetricotlp.NewExportRequest()
	if err := unmarshalOTLP(req.UnmarshalProto, req.UnmarshalJSON, body, proto); err != nil {
		return err
	}
	s.points.Add(int64(req.Metrics().DataPointCount()))
	return nil
}

func (s *Sink) countLogs(body []byte, proto bool) error {
	req := plogotlp.NewExportRequest()
	if err := unmarshalOTLP(req.UnmarshalProto, req.UnmarshalJSON, body, proto); err != nil {
		return err
	}
	s.logs.Add(int64(req.Logs().LogRecordCount()))
	return nil
}

func unmarshalOTLP(p, j func([]byte) error, body []byte, proto bool) error {
	if proto {
		return p(body)
	}
	return j(body)
}

func (s *Sink) handleOTLP(count func([]byte, bool) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		body, err := readBody(r)
		if err == nil {
			err = count(body, r.Header.Get("Content-Type") != "application/json")
		}
		if err != nil {
			s.bad.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusOK)
	}
}

// handleRemoteWrite accepts remote-write 1.0 and 2.0 and, for 2.0, answers
// with the written-count headers a 2.0 receiver must send.
func (s *Sink) handleRemoteWrite(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	raw, err := readBody(r)
	var body []byte
	if err == nil {
		body, err = snappy.Decode(nil, raw)
	}
	if err != nil {
		s.bad.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get("X-Prometheus-Remote-Write-Version") >= "2" {
		var req writev2.Request
		if err := req.Unmarshal(body); err != nil {
			s.bad.Add(1)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var samples, hists, exemplars int
		for _, ts := range req.Timeseries {
			samples += len(ts.Samples)
			hists += len(ts.Histograms)
			exemplars += len(ts.Exemplars)
		}
		s.points.Add(int64(samples + hists))
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(samples))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.Itoa(hists))
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", strconv.Itoa(exemplars))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var req prompb.WriteRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		s.bad.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var n int
	for _, ts := range req.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	s.points.Add(int64(n))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sink) handleLoki(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	raw, err := readBody(r)
	var body []byte
	if err == nil {
		body, err = snappy.Decode(nil, raw)
	}
	var req push.PushRequest
	if err == nil {
		err = req.Unmarshal(body)
	}
	if err != nil {
		s.bad.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var n int
	for _, st := range req.Streams {
		n += len(st.Entries)
	}
	s.logs.Add(int64(n))
	w.WriteHeader(http.StatusNoContent)
}

func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	var in io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity", "snappy":
		// Remote-write and Loki bodies are snappy blocks, decoded by their
		// handlers; contrib's remote-write exporter labels them so.
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		in = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	body, err := io.ReadAll(io.LimitReader(in, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("body over %d bytes", maxBody)
	}
	return body, nil
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	s *Sink
}

func (t *traceServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	t.s.requests.Add(1)
	t.s.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

type metricServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

func (m *metricServer) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	m.s.requests.Add(1)
	m.s.points.Add(int64(req.Metrics().DataPointCount()))
	return pmetricotlp.NewExportResponse(), nil
}

type logServer struct {
	plogotlp.UnimplementedGRPCServer
	s *Sink
}

func (l *logServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	l.s.requests.Add(1)
	l.s.logs.Add(int64(req.Logs().LogRecordCount()))
	return plogotlp.NewExportResponse(), nil
}

type jaegerServer struct{ s *Sink }

func (j jaegerServer) PostSpans(_ context.Context, req *api_v2.PostSpansRequest) (*api_v2.PostSpansResponse, error) {
	j.s.requests.Add(1)
	if req == nil {
		j.s.bad.Add(1)
		return nil, errors.New("empty request")
	}
	j.s.spans.Add(int64(len(req.Batch.Spans)))
	return &api_v2.PostSpansResponse{}, nil
}
