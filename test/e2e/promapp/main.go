// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Command promapp is a small program instrumented with
// prometheus/client_golang, the scrape target of the end-to-end tests
// (test/e2e/scrape_test.go): a counter and a counter without the _total
// suffix, gauges, a classic histogram, a native histogram and a summary,
// with exemplars on the counter and both histograms. It records a fixed set
// of observations at start, so two scrapers that read it at different
// moments see the same values, and then changes only when asked:
//
//	GET /metrics           the exposition (protobuf, OpenMetrics or text, as negotiated)
//	GET /forget?room=NAME  deletes promapp_temperature_celsius{room=NAME}: the series disappears
//	GET /observe           records one more round of the fixed observations
//
// It prints "listening on ADDR" once the listener is bound.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "promapp:", err)
		os.Exit(1)
	}
}

// Exemplar labels as a tracing SDK sets them: trace_id (32 hex digits) and
// span_id (16), which the collector's prometheus receiver turns into an
// exemplar's trace and span id and the remote-write exporter back into labels.
var exemplars = []prometheus.Labels{
	{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"},
	{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"},
	{"trace_id": "a3ce929d0e0e47364bf92f3577b34da6", "span_id": "53995c3f42cd8ad8"},
}

type app struct {
	requests    *prometheus.CounterVec
	events      prometheus.Counter
	temperature *prometheus.GaugeVec
	inflight    prometheus.Gauge
	duration    *prometheus.HistogramVec
	payload     prometheus.Histogram
	latency     prometheus.Summary
}

func newApp(reg prometheus.Registerer) *app {
	a := &app{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "promapp_requests_total", Help: "Requests handled, by method and code.",
		}, []string{"method", "code"}),
		// A counter whose name has no _total: Prometheus stores it as it
		// is named; a translator that adds suffixes would rename it.
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "promapp_events", Help: "Events seen (a counter named without _total).",
		}),
		temperature: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "promapp_temperature_celsius", Help: "Temperature by room.",
		}, []string{"room"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "promapp_inflight_requests", Help: "Requests in flight.",
			ConstLabels: prometheus.Labels{"pool": "main"},
		}),
		// Classic buckets only.
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "promapp_request_duration_seconds", Help: "Request duration (classic buckets).",
			Buckets: []float64{0.005, 0.01, 0.05, 0.1, 0.5, 1, 5},
		}, []string{"handler"}),
		// Native buckets only (no Buckets given, a bucket factor set).
		payload: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "promapp_payload_bytes", Help: "Payload size (native histogram).",
			NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100,
			NativeHistogramMaxExemplars: 4,
		}),
		latency: prometheus.NewSummary(prometheus.SummaryOpts{
			Name: "promapp_latency_seconds", Help: "Latency (summary).",
			Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
		}),
	}
	reg.MustRegister(a.requests, a.events, a.temperature, a.inflight, a.duration, a.payload, a.latency)
	return a
}

// observe records one round of fixed observations.
func (a *app) observe() {
	for i, c := range []struct {
		method, code string
		n            float64
	}{{"GET", "200", 17}, {"GET", "500", 2}, {"POST", "201", 5.5}} {
		a.requests.WithLabelValues(c.method, c.code).(prometheus.ExemplarAdder).AddWithExemplar(c.n, exemplars[i])
	}
	a.events.Add(3)
	a.temperature.WithLabelValues("kitchen").Set(21.5)
	a.temperature.WithLabelValues("attic").Set(-3.25)
	a.temperature.WithLabelValues("cellar").Set(12)
	a.inflight.Set(4)
	for i, v := range []float64{0.003, 0.007, 0.02, 0.02, 0.08, 0.3, 0.7, 2, 9} {
		a.duration.WithLabelValues("/api").(prometheus.ExemplarObserver).ObserveWithExemplar(v, exemplars[i%len(exemplars)])
		a.duration.WithLabelValues("/health").Observe(v / 10)
	}
	for i, v := range []float64{0, 1, 100, 120, 130, 1024, 1500, 4096, 65536, 1e6} {
		if i%4 == 0 {
			a.payload.(prometheus.ExemplarObserver).ObserveWithExemplar(v, exemplars[i%len(exemplars)])
		} else {
			a.payload.Observe(v)
		}
	}
	for _, v := range []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0} {
		a.latency.Observe(v)
	}
}

func run(listen string) error {
	reg := prometheus.NewRegistry()
	a := newApp(reg)
	a.observe()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("/forget", func(w http.ResponseWriter, r *http.Request) {
		room := r.URL.Query().Get("room")
		if !a.temperature.DeleteLabelValues(room) {
			http.Error(w, "no such room: "+room, http.StatusNotFound)
			return
		}
		fmt.Fprintln(w, "forgot", room)
	})
	mux.HandleFunc("/observe", func(w http.ResponseWriter, _ *http.Request) {
		a.observe()
		fmt.Fprintln(w, "observed")
	})

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("net.Listen: %w", err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
		return srv.Close()
	}
}
