// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-otel/vigil/internal/testca"
)

// tlsProxy terminates TLS in front of a backend that is started here
// without TLS (scripts/backends.sh starts every backend in plain text on
// loopback): it accepts TLS connections with a certificate of the test's
// CA and copies the bytes both ways to the backend. It is a byte pipe, not
// an HTTP or gRPC proxy, so what reaches the backend is exactly what vigil
// sent. It counts the handshakes that succeeded and failed.
type tlsProxy struct {
	Addr    string
	backend string
	ln      net.Listener
	cfg     *tls.Config

	ok, failed atomic.Int64
	mu         sync.Mutex
	lastErr    error
	conns      map[net.Conn]struct{}
	wg         sync.WaitGroup
}

// startTLSProxy listens on a free loopback port. alpn is what the proxy
// offers: "h2" in front of gRPC (grpc-go requires it), "http/1.1" in front
// of an HTTP/1.1 backend, so that no client speaks HTTP/2 to it.
func startTLSProxy(t *testing.T, backend string, cert tls.Certificate, alpn ...string) *tlsProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsProxy{
		Addr: ln.Addr().String(), backend: backend, ln: ln, conns: map[net.Conn]struct{}{},
		cfg: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: alpn, MinVersion: tls.VersionTLS12},
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *tlsProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *tlsProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *tlsProxy) handle(raw net.Conn) {
	p.track(raw, true)
	defer p.track(raw, false)
	defer raw.Close()
	c := tls.Server(raw, p.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := c.HandshakeContext(ctx)
	cancel()
	if err != nil {
		p.failed.Add(1)
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		return
	}
	p.ok.Add(1)
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		return // the client sees the connection close, as with a backend that is down
	}
	p.track(b, true)
	defer p.track(b, false)
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done // either side ended: closing both (deferred) ends the other copy
}

// handshakes returns the counts of TLS handshakes that succeeded and
// failed, and the last failure.
func (p *tlsProxy) handshakes() (ok, failed int64, lastErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok.Load(), p.failed.Load(), p.lastErr
}

func (p *tlsProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// exporterTLSConfig is a vigil whose three backend exporters (Jaeger's
// gRPC collector API, Prometheus remote-write, the Loki push API of
// VictoriaLogs) each reach their backend through a TLS proxy, trusting
// caFile. delivering: an in-memory queue and retries, as in production;
// otherwise neither, so that a failed send fails the client's request at
// once and nothing is left to arrive later.
func exporterTLSConfig(caFile string, jaeger, prom, logs *tlsProxy, delivering bool) string {
	send := `
    sending_queue:
      enabled: false
    retry_on_failure:
      enabled: false`
	if delivering {
		send = `
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 2s
      max_elapsed_time: 0s`
	}
	tlsBlock := `
    tls:
      ca_file: ` + caFile
	return `
receivers:
` + yamlOTLPReceiver + `exporters:
  jaeger:
    endpoint: ` + jaeger.Addr + tlsBlock + send + `
  prometheusremotewrite:
    endpoint: https://` + prom.Addr + `/api/v1/write` + tlsBlock + send + `
  loki:
    endpoint: https://` + logs.Addr + `/insert/loki/api/v1/push` + tlsBlock + send + `
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger]
    metrics:
      receivers: [otlp]
      exporters: [prometheusremotewrite]
    logs:
      receivers: [otlp]
      exporters: [loki]
  telemetry:
    metrics:
` + yamlTelemetryReader
}

// TestExportersTLSThroughProxy: each of vigil's backend exporters sends
// over TLS, to a TLS-terminating loopback proxy in front of its real
// backend (the backends are started without TLS; a proxy keeps the shared
// backends as they are). The CA and the proxy's certificate are made at run
// time. With the CA in tls.ca_file every span, sample and log record
// vigil acknowledged is in Jaeger, Prometheus and VictoriaLogs. A vigil that
// trusts another CA fails every handshake (the proxies count them), every
// send fails, and nothing of its data reaches a backend.
func TestExportersTLSThroughProxy(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t, dir, "backends")
	other := testca.New(t, dir, "other")
	leaf := ca.Issue(t, dir, "proxy", true)
	jaeger := startTLSProxy(t, JaegerGRPC, leaf.Pair, "h2")
	prom := startTLSProxy(t, strings.TrimPrefix(PrometheusURL, "http://"), leaf.Pair, "http/1.1")
	logsProxy := startTLSProxy(t, strings.TrimPrefix(LogsURL, "http://"), leaf.Pair, "http/1.1")
	proxies := map[string]*tlsProxy{"jaeger": jaeger, "prometheus": prom, "victorialogs": logsProxy}

	const requests = 10
	send := func(t *testing.T, v *Vigil, sfx string) (*spanLoad, *loadGen, *logSender) {
		t.Helper()
		spans := newSpanLoad(t, v, "tls-"+sfx)
		metrics := &loadGen{sfx: "tls" + sfx, series: 5, acked: map[int64]float64{}}
		logs := newLogSender("tls-"+sfx, 20, 40)
		for range requests {
			spans.send(5)
			metrics.send(v)
			logs.send(v)
			time.Sleep(20 * time.Millisecond) // distinct sample timestamps
		}
		return spans, metrics, logs
	}

	t.Run("trusted CA", func(t *testing.T) {
		v := StartVigil(t, exporterTLSConfig(ca.CertFile, jaeger, prom, logsProxy, true))
		since := time.Now()
		spans, metrics, logs := send(t, v, RandomSuffix())
		acked := spans.snapshot()
		accepted, refused := logs.counts()
		if len(acked) != requests*5 || len(metrics.acked) != requests || accepted != requests*20 {
			t.Fatalf("vigil refused data: %d spans, %d metric steps, %d log records acknowledged (refusals %v)",
				len(acked), len(metrics.acked), accepted, refused)
		}
		waitAllInJaeger(t, spans.svc, since, acked, 2*time.Minute)
		metrics.verify(t)
		logs.waitStored(t, accepted, 2*time.Minute)
		t.Logf("in the backends: %d spans, %d steps × %d series, %d log records", len(acked), len(metrics.acked), metrics.series, accepted)
		for name, p := range proxies {
			ok, failed, lastErr := p.handshakes()
			t.Logf("proxy for %s: %d handshakes, %d failed", name, ok, failed)
			if ok == 0 || failed != 0 {
				t.Errorf("proxy for %s: %d handshakes succeeded, %d failed (last: %v); want some and none", name, ok, failed, lastErr)
			}
		}
	})

	t.Run("other CA", func(t *testing.T) {
		before := map[string]int64{}
		for name, p := range proxies {
			_, before[name], _ = p.handshakes()
		}
		v := StartVigil(t, exporterTLSConfig(other.CertFile, jaeger, prom, logsProxy, false))
		since := time.Now()
		sfx := RandomSuffix()
		spans, metrics, logs := send(t, v, sfx)
		accepted, refused := logs.counts()
		if n := len(spans.snapshot()); n != 0 || spans.failed != requests {
			t.Errorf("traces: %d spans acknowledged, %d of %d exports failed; want none and all", n, spans.failed, requests)
		}
		if len(metrics.acked) != 0 || metrics.errors != requests {
			t.Errorf("metrics: %d steps acknowledged, %d of %d failed; want none and all", len(metrics.acked), metrics.errors, requests)
		}
		if accepted != 0 {
			t.Errorf("logs: %d records acknowledged (refusals %v); want none", accepted, refused)
		}
		for name, p := range proxies {
			_, failed, lastErr := p.handshakes()
			t.Logf("proxy for %s: %d handshakes failed (last: %v)", name, failed-before[name], lastErr)
			if failed == before[name] {
				t.Errorf("proxy for %s: no failed handshake from the vigil that trusts another CA", name)
			}
		}
		if !strings.Contains(v.Log(), "certificate signed by unknown authority") {
			t.Errorf("vigil's log does not name the cause (certificate signed by unknown authority)")
		}
		// Nothing is queued, so nothing can arrive later: what is stored now
		// is final.
		if got, err := jaegerServiceSpans(spans.svc, since); err != nil || len(got) != 0 {
			t.Errorf("Jaeger holds %d spans of %s (err %v), want none", len(got), spans.svc, err)
		}
		if got := PromQuery(t, PrometheusURL, fmt.Sprintf(`count(load_%s_total)`, metrics.sfx)); len(got) != 0 {
			t.Errorf("Prometheus holds series of load_%s_total: %v", metrics.sfx, got)
		}
		if n := logs.stored(t); n != 0 {
			t.Errorf("VictoriaLogs holds %d records of %s, want none", n, logs.service)
		}
	})
}
