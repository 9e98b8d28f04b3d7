// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

// Security tests (issue 18): vigil runs as a child process with a config
// written to t.TempDir(), every listener on a free loopback port, a debug
// exporter (no backend). A test CA, server and client certificates are made
// at run time (internal/testca); no key is committed.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vigil-otel/vigil/internal/syncbuf"
	"github.com/vigil-otel/vigil/internal/testca"
)

// handedOut holds every address freeAddr returned in this test process.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr returns a loopback address with a port that was free a moment
// ago, never one it returned before: the kernel may give a closed port out
// again at once, and two of a test's listeners on one port make vigil fail
// to start ("address already in use").
func freeAddr(t *testing.T) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		handedOut.Lock()
		seen := handedOut.addrs[addr]
		handedOut.addrs[addr] = true
		handedOut.Unlock()
		if !seen {
			return addr
		}
	}
}

// runningVigil is a vigil child process started by startVigil.
type runningVigil struct {
	metricsAddr string
	out         *syncbuf.Buffer
}

// startVigil writes cfg to a file and runs `vigil --config` on it with env
// added, until the test ends. It returns once the self-telemetry endpoint
// (metricsAddr, which cfg must use) and every address in listen accept
// connections.
func startVigil(t *testing.T, cfg, metricsAddr string, env []string, listen ...string) *runningVigil {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncbuf.Buffer{}
	cmd := exec.Command(os.Args[0], "--config", path)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1", stateDirEnv+"="+dir), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the child has exited; waitErr is then its status.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("vigil output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for _, addr := range append([]string{metricsAddr}, listen...) {
		for {
			select {
			case <-exited:
				t.Fatalf("vigil exited before it listened on %s: %v\n%s", addr, waitErr, out.String())
			default:
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("vigil does not listen on %s: %v\n%s", addr, err, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return &runningVigil{metricsAddr: metricsAddr, out: out}
}

// metric sums the samples of the self-telemetry metric name whose labels
// contain every one of labels (e.g. `transport="grpc"`).
func (v *runningVigil) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + v.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum
}

// traces returns an OTLP export request of n spans.
func traces(n int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "security-test")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		s := ss.Spans().AppendEmpty()
		s.SetName("span-" + strconv.Itoa(i))
		s.SetTraceID([16]byte{1, byte(i + 1)})
		s.SetSpanID([8]byte{1, byte(i + 1)})
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

// sendGRPC exports n spans over OTLP gRPC; tlsCfg nil means plain text;
// token "" sends no authorization header. It returns the gRPC error.
func sendGRPC(t *testing.T, addr string, tlsCfg *tls.Config, token string, n int) error {
	t.Helper()
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, traces(n))
	return err
}

// sendHTTP exports n spans over OTLP HTTP (protobuf); tlsCfg nil means plain
// text. It returns the HTTP status, or an error when no response came.
func sendHTTP(t *testing.T, addr string, tlsCfg *tls.Config, token string, n int) (int, error) {
	t.Helper()
	body, err := traces(n).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	req, err := http.NewRequest(http.MethodPost, scheme+"://"+addr+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// telemetryConfig is the service::telemetry section: metrics pulled from
// metricsAddr, at the detailed level (gRPC/HTTP server metrics included).
func telemetryConfig(t *testing.T, metricsAddr string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: %s
                port: %s
                without_type_suffix: false
                without_units: false
`, host, port)
}

// tlsReceiverConfig is an otlp receiver with TLS on both protocols, extra
// (e.g. client_ca_file or auth) added to each protocol, and a debug exporter.
func tlsReceiverConfig(t *testing.T, grpcAddr, httpAddr, metricsAddr string, server testca.Leaf, tlsExtra, protoExtra, extensions string) string {
	t.Helper()
	proto := func(addr string) string {
		return fmt.Sprintf(`        endpoint: %s
        tls:
          cert_file: %s
          key_file: %s
%s%s`, addr, server.CertFile, server.KeyFile, tlsExtra, protoExtra)
	}
	return extensions + `receivers:
  otlp:
    protocols:
      grpc:
` + proto(grpcAddr) + `      http:
` + proto(httpAddr) + `exporters:
  debug:
    verbosity: basic
service:
` + telemetryConfig(t, metricsAddr) + `  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`
}

// TestOTLPReceiverTLS: with TLS on the OTLP receiver, a client that trusts
// the test CA is served; a plain-text client and a client that does not trust
// the CA are refused, on gRPC and on HTTP.
func TestOTLPReceiverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t, dir, "test")
	server := ca.Issue(t, dir, "server", true)
	grpcAddr, httpAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	v := startVigil(t, tlsReceiverConfig(t, grpcAddr, httpAddr, metricsAddr, server, "", "", ""), metricsAddr, nil, grpcAddr, httpAddr)

	trusting := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	other := &tls.Config{RootCAs: testca.New(t, dir, "other").Pool, MinVersion: tls.VersionTLS12}

	if err := sendGRPC(t, grpcAddr, trusting, "", 3); err != nil {
		t.Errorf("gRPC over TLS, CA trusted: %v", err)
	}
	if err := sendGRPC(t, grpcAddr, nil, "", 1); err == nil {
		t.Error("gRPC in plain text was accepted by a TLS receiver")
	}
	if err := sendGRPC(t, grpcAddr, other, "", 1); err == nil {
		t.Error("gRPC client that does not trust the CA was served")
	}
	if code, err := sendHTTP(t, httpAddr, trusting, "", 2); err != nil || code != http.StatusOK {
		t.Errorf("HTTP over TLS, CA trusted: status %d, %v", code, err)
	}
	if code, err := sendHTTP(t, httpAddr, nil, "", 1); err == nil && code == http.StatusOK {
		t.Error("HTTP in plain text was accepted by a TLS receiver")
	}
	if _, err := sendHTTP(t, httpAddr, other, "", 1); err == nil {
		t.Error("HTTP client that does not trust the CA was served")
	}
	// Only the two trusted exports reached the pipeline.
	if got := v.metric(t, "otelcol_receiver_accepted_spans_total", `transport="grpc"`); got != 3 {
		t.Errorf("accepted gRPC spans = %v, want 3", got)
	}
	if got := v.metric(t, "otelcol_receiver_accepted_spans_total", `transport="http"`); got != 2 {
		t.Errorf("accepted HTTP spans = %v, want 2", got)
	}
}

// TestOTLPReceiverMutualTLS: with client_ca_file, a client without a
// certificate and a client with a certificate of another CA are refused; a
// client with a certificate signed by the CA is served, on gRPC and on HTTP.
func TestOTLPReceiverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t, dir, "test")
	server := ca.Issue(t, dir, "server", true)
	client := ca.Issue(t, dir, "client", false)
	stranger := testca.New(t, dir, "other").Issue(t, dir, "stranger", false)
	grpcAddr, httpAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := tlsReceiverConfig(t, grpcAddr, httpAddr, metricsAddr, server, "          client_ca_file: "+ca.CertFile+"\n", "", "")
	v := startVigil(t, cfg, metricsAddr, nil, grpcAddr, httpAddr)

	withCert := func(c *tls.Certificate) *tls.Config {
		cfg := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		return cfg
	}
	for _, tt := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"no client certificate", withCert(nil), false},
		{"certificate of another CA", withCert(&stranger.Pair), false},
		{"certificate signed by the CA", withCert(&client.Pair), true},
	} {
		err := sendGRPC(t, grpcAddr, tt.cfg, "", 1)
		if tt.ok != (err == nil) {
			t.Errorf("gRPC, %s: error %v, want ok=%v", tt.name, err, tt.ok)
		}
		code, err := sendHTTP(t, httpAddr, tt.cfg, "", 1)
		if tt.ok != (err == nil && code == http.StatusOK) {
			t.Errorf("HTTP, %s: status %d, error %v, want ok=%v", tt.name, code, err, tt.ok)
		}
	}
	if got := v.metric(t, "otelcol_receiver_accepted_spans_total"); got != 2 {
		t.Errorf("accepted spans = %v, want 2 (one gRPC, one HTTP export with a CA-signed certificate)", got)
	}
}

const authExtensions = `extensions:
  bearertokenauth/server:
    token: ${env:VIGIL_TEST_TOKEN}
`

// TestOTLPReceiverBearerToken: a receiver that requires a bearer token
// (bearertokenauth, token from an env var, over TLS) refuses a missing or
// wrong token (gRPC Unauthenticated, HTTP 401) and serves the right one. The
// refusals happen in the authenticator, before the receiver: they are not in
// otelcol_receiver_refused_spans; they are counted by the server metrics of
// the detailed telemetry level (rpc_server_* with status code 16 for gRPC,
// http_server_* with status 401 for HTTP).
func TestOTLPReceiverBearerToken(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t, dir, "test")
	server := ca.Issue(t, dir, "server", true)
	grpcAddr, httpAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := tlsReceiverConfig(t, grpcAddr, httpAddr, metricsAddr, server, "",
		"        auth:\n          authenticator: bearertokenauth/server\n", authExtensions)
	cfg = strings.Replace(cfg, "  pipelines:", "  extensions: [bearertokenauth/server]\n  pipelines:", 1)
	const token = "s3cret-token"
	v := startVigil(t, cfg, metricsAddr, []string{"VIGIL_TEST_TOKEN=" + token}, grpcAddr, httpAddr)
	tlsCfg := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}

	for _, tok := range []string{"", "wrong-token"} {
		if err := sendGRPC(t, grpcAddr, tlsCfg, tok, 1); status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC with token %q: %v, want Unauthenticated", tok, err)
		}
		if code, err := sendHTTP(t, httpAddr, tlsCfg, tok, 1); err != nil || code != http.StatusUnauthorized {
			t.Errorf("HTTP with token %q: status %d, %v, want 401", tok, code, err)
		}
	}
	if err := sendGRPC(t, grpcAddr, tlsCfg, token, 4); err != nil {
		t.Errorf("gRPC with the right token: %v", err)
	}
	if code, err := sendHTTP(t, httpAddr, tlsCfg, token, 5); err != nil || code != http.StatusOK {
		t.Errorf("HTTP with the right token: status %d, %v", code, err)
	}

	if got := v.metric(t, "otelcol_receiver_accepted_spans_total", `transport="grpc"`); got != 4 {
		t.Errorf("accepted gRPC spans = %v, want 4", got)
	}
	if got := v.metric(t, "otelcol_receiver_accepted_spans_total", `transport="http"`); got != 5 {
		t.Errorf("accepted HTTP spans = %v, want 5", got)
	}
	if got := v.metric(t, "otelcol_receiver_refused_spans_total"); got != 0 {
		t.Errorf("refused spans = %v; the authenticator refuses before the receiver, want 0", got)
	}
	if got := v.metric(t, "rpc_server_call_duration_seconds_count", `rpc_response_status_code="UNAUTHENTICATED"`); got != 2 {
		t.Errorf("gRPC calls refused as Unauthenticated in the server metrics = %v, want 2", got)
	}
	if got := v.metric(t, "http_server_request_duration_seconds_count", `http_response_status_code="401"`); got != 2 {
		t.Errorf("HTTP requests answered 401 in the server metrics = %v, want 2", got)
	}
}

// TestExporterHopTLSBearerToken: vigil A's otlp_grpc or otlp_http exporter
// sends over TLS with a bearer token (bearertokenauth/client), and in one
// case a client certificate, to vigil B, whose receiver requires TLS, the
// token and (then) a certificate of the CA; B accepts every span sent to A.
func TestExporterHopTLSBearerToken(t *testing.T) {
	for _, tt := range []struct {
		name     string
		exporter string // otlp_grpc or otlp_http
		mutual   bool   // B requires a client certificate; A presents one
	}{
		{"grpc TLS and token", "otlp_grpc", false},
		{"grpc mTLS and token", "otlp_grpc", true},
		{"http TLS and token", "otlp_http", false},
	} {
		t.Run(tt.name, func(t *testing.T) { testExporterHop(t, tt.exporter, tt.mutual) })
	}
}

func testExporterHop(t *testing.T, exporter string, mutual bool) {
	dir := t.TempDir()
	ca := testca.New(t, dir, "test")
	server := ca.Issue(t, dir, "gateway", true)
	const token = "hop-token"

	bGRPC, bHTTP, bMetrics := freeAddr(t), freeAddr(t), freeAddr(t)
	tlsExtra, clientTLS := "", ""
	if mutual {
		client := ca.Issue(t, dir, "agent", false)
		tlsExtra = "          client_ca_file: " + ca.CertFile + "\n"
		clientTLS = fmt.Sprintf("\n      cert_file: %s\n      key_file: %s", client.CertFile, client.KeyFile)
	}
	bCfg := tlsReceiverConfig(t, bGRPC, bHTTP, bMetrics, server, tlsExtra,
		"        auth:\n          authenticator: bearertokenauth/server\n", authExtensions)
	bCfg = strings.Replace(bCfg, "  pipelines:", "  extensions: [bearertokenauth/server]\n  pipelines:", 1)
	b := startVigil(t, bCfg, bMetrics, []string{"VIGIL_TEST_TOKEN=" + token}, bGRPC, bHTTP)

	endpoint, transport := bGRPC, "grpc"
	if exporter == "otlp_http" {
		endpoint, transport = "https://"+bHTTP, "http"
	}
	aGRPC, aMetrics := freeAddr(t), freeAddr(t)
	aCfg := fmt.Sprintf(`extensions:
  bearertokenauth/client:
    token: ${env:VIGIL_TEST_TOKEN}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  %s/gateway:
    endpoint: %s
    tls:
      ca_file: %s%s
    auth:
      authenticator: bearertokenauth/client
service:
  extensions: [bearertokenauth/client]
%s  pipelines:
    traces:
      receivers: [otlp]
      exporters: [%s/gateway]
`, aGRPC, exporter, endpoint, ca.CertFile, clientTLS, telemetryConfig(t, aMetrics), exporter)
	a := startVigil(t, aCfg, aMetrics, []string{"VIGIL_TEST_TOKEN=" + token}, aGRPC)

	const n = 7
	if err := sendGRPC(t, aGRPC, nil, "", n); err != nil {
		t.Fatalf("export to vigil A: %v", err)
	}
	// A queues and sends on; wait (with a deadline) for B to count them and A
	// to count them as sent.
	deadline := time.Now().Add(30 * time.Second)
	for (b.metric(t, "otelcol_receiver_accepted_spans_total") < n || a.metric(t, "otelcol_exporter_sent_spans_total") < n) &&
		time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := b.metric(t, "otelcol_receiver_accepted_spans_total", `transport="`+transport+`"`); got != n {
		t.Errorf("gateway B accepted %v spans over %s, want %d", got, transport, n)
	}
	if got := a.metric(t, "otelcol_exporter_sent_spans_total"); got != n {
		t.Errorf("agent A sent %v spans, want %d", got, n)
	}
	if got := a.metric(t, "otelcol_exporter_send_failed_spans_total"); got != 0 {
		t.Errorf("agent A failed to send %v spans, want 0", got)
	}
}

// tlsSink is an HTTPS server standing in for a backend (not the backend):
// it counts requests carrying the right bearer token and answers others 401.
type tlsSink struct {
	mu              sync.Mutex
	authorized, bad int
}

func (s *tlsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer sink-token" {
		s.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.authorized++
	w.WriteHeader(http.StatusNoContent)
}

func (s *tlsSink) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authorized, s.bad
}

// TestHTTPExportersTLSBearerToken: Vigil's own HTTP exporters
// (prometheusremotewrite, loki) take `tls.ca_file` and `auth:
// authenticator: bearertokenauth/...` from their squashed confighttp client:
// they reach an HTTPS endpoint of the test CA with the token, and every item
// sent to vigil is counted as sent. The endpoint is a stand-in in the test,
// not Prometheus or Loki.
func TestHTTPExportersTLSBearerToken(t *testing.T) {
	for _, tt := range []struct {
		exporter, path, extra, pipeline, sentMetric string
		send                                        func(conn *grpc.ClientConn) error
	}{
		{
			exporter: "prometheusremotewrite", path: "/api/v1/write", extra: "    protocol: v1\n",
			pipeline: "metrics", sentMetric: "otelcol_exporter_sent_metric_points_total",
			send: func(conn *grpc.ClientConn) error {
				md := pmetric.NewMetrics()
				m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
				m.SetName("security_test_gauge")
				g := m.SetEmptyGauge()
				for i := range 3 {
					dp := g.DataPoints().AppendEmpty()
					dp.SetIntValue(int64(i))
					dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
					dp.Attributes().PutStr("i", strconv.Itoa(i))
				}
				_, err := pmetricotlp.NewGRPCClient(conn).Export(context.Background(), pmetricotlp.NewExportRequestFromMetrics(md))
				return err
			},
		},
		{
			exporter: "loki", path: "/loki/api/v1/push",
			pipeline: "logs", sentMetric: "otelcol_exporter_sent_log_records_total",
			send: func(conn *grpc.ClientConn) error {
				ld := plog.NewLogs()
				lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				for i := range 3 {
					lr := lrs.AppendEmpty()
					lr.Body().SetStr("line " + strconv.Itoa(i))
					lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
				}
				_, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequestFromLogs(ld))
				return err
			},
		},
	} {
		t.Run(tt.exporter, func(t *testing.T) {
			dir := t.TempDir()
			ca := testca.New(t, dir, "test")
			server := ca.Issue(t, dir, "sink", true)
			sink := &tlsSink{}
			srv := httptest.NewUnstartedServer(sink)
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.Pair}, MinVersion: tls.VersionTLS12}
			srv.StartTLS()
			t.Cleanup(srv.Close)

			grpcAddr, metricsAddr := freeAddr(t), freeAddr(t)
			cfg := fmt.Sprintf(`extensions:
  bearertokenauth/sink:
    token: ${env:VIGIL_TEST_TOKEN}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  %s:
    endpoint: %s
    tls:
      ca_file: %s
    auth:
      authenticator: bearertokenauth/sink
%sservice:
  extensions: [bearertokenauth/sink]
%s  pipelines:
    %s:
      receivers: [otlp]
      exporters: [%s]
`, grpcAddr, tt.exporter, srv.URL+tt.path, ca.CertFile, tt.extra, telemetryConfig(t, metricsAddr), tt.pipeline, tt.exporter)
			v := startVigil(t, cfg, metricsAddr, []string{"VIGIL_TEST_TOKEN=sink-token"}, grpcAddr)

			conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := tt.send(conn); err != nil {
				t.Fatalf("export to vigil: %v", err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for v.metric(t, tt.sentMetric) < 3 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			if got := v.metric(t, tt.sentMetric); got != 3 {
				t.Errorf("%s = %v, want 3", tt.sentMetric, got)
			}
			if ok, bad := sink.counts(); ok == 0 || bad != 0 {
				t.Errorf("the HTTPS endpoint saw %d requests with the token and %d without it; want some and none", ok, bad)
			}
		})
	}
}
