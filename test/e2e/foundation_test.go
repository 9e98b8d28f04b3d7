// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

func tagValue(kvs []jgKV, key string) (any, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

func jaegerServiceTraces(t *testing.T, service string) jgTraces {
	t.Helper()
	var tr jgTraces
	GetJSON(t, JaegerQueryURL+"/api/traces?limit=10000&lookback=1h&service="+url.QueryEscape(service), &tr)
	return tr
}

// TestDefaultConfigTelemetrygen runs vigil with its embedded default
// configuration and proves that telemetrygen's traces, metrics and logs reach
// Jaeger, Prometheus and the logs backend (VictoriaLogs, through the loki
// exporter's Loki push API), counted exactly.
func TestDefaultConfigTelemetrygen(t *testing.T) {
	v := StartVigil(t, "")
	svc := "tg-" + RandomSuffix()
	mark := RandomSuffix()
	start := time.Now().Add(-time.Minute)

	const traces, childSpans, points, logs = 25, 2, 6, 9
	Telemetrygen(t, v, "traces", "--service", svc, "--traces", fmt.Sprint(traces),
		"--child-spans", fmt.Sprint(childSpans), "--rate", "100",
		"--telemetry-attributes", fmt.Sprintf("vigil.mark=%q", mark))
	// telemetrygen stamps its first two points with the same millisecond,
	// which Prometheus keeps once; --unique-timeseries gives each point its
	// own series (label timebox) and value i, so every point is checkable.
	Telemetrygen(t, v, "metrics", "--service", svc, "--metrics", fmt.Sprint(points), "--rate", "20",
		"--unique-timeseries", "--telemetry-attributes", fmt.Sprintf("vigil_mark=%q", mark))
	Telemetrygen(t, v, "logs", "--service", svc, "--logs", fmt.Sprint(logs), "--rate", "50",
		"--body", "hello from "+mark, "--severity-text", "Warn", "--severity-number", "13")

	t.Run("traces in Jaeger", func(t *testing.T) {
		var got jgTraces
		Eventually(t, 60*time.Second, func() (bool, string) {
			got = jaegerServiceTraces(t, svc)
			n := 0
			for _, tr := range got.Data {
				n += len(tr.Spans)
			}
			return len(got.Data) == traces && n == traces*(1+childSpans),
				fmt.Sprintf("%d traces with %d spans, want %d with %d", len(got.Data), n, traces, traces*(1+childSpans))
		})
		for _, tr := range got.Data {
			for _, sp := range tr.Spans {
				if v, ok := tagValue(sp.Tags, "vigil.mark"); !ok || v != mark {
					t.Fatalf("span %s %q: vigil.mark = %v, want %q", sp.SpanID, sp.OperationName, v, mark)
				}
				if p := tr.Processes[sp.ProcessID]; p.ServiceName != svc {
					t.Fatalf("span %s: service %q, want %q", sp.SpanID, p.ServiceName, svc)
				}
			}
		}
	})

	t.Run("metrics in Prometheus", func(t *testing.T) {
		sel := fmt.Sprintf(`gen{job=%q,vigil_mark=%q}`, svc, mark)
		for expr, want := range map[string]float64{
			"sum(count_over_time(" + sel + "[1h]))": points,
			"count(" + sel + ")":                    points,
			"sum(" + sel + ")":                      points * (points - 1) / 2, // values 0..points-1
		} {
			WaitPromValue(t, expr, want, 60*time.Second)
		}
	})

	t.Run("logs in the logs backend", func(t *testing.T) {
		q := fmt.Sprintf(`{service_name=%s}`, LogsQLString(svc))
		WaitLogsCount(t, q, start, logs, 60*time.Second)
		streams := LogsQuery(t, q, start, time.Now().Add(time.Minute))
		// The default config follows Loki's OTLP mapping: the body is the
		// line, the attributes that are not labels are structured metadata
		// (telemetrygen adds app=server to every record).
		want := fmt.Sprintf(`hello from %s`, mark)
		for _, s := range streams {
			if s.Labels["level"] != "warn" {
				t.Errorf("stream %v: level label %q, want warn", s.Labels, s.Labels["level"])
			}
			for _, e := range s.Entries {
				if e.Line != want {
					t.Fatalf("line %q, want %q", e.Line, want)
				}
				if e.Metadata["app"] != "server" {
					t.Fatalf("line %q: structured metadata %v, want app=server", e.Line, e.Metadata)
				}
			}
		}
	})

	// Vigil's own telemetry agrees with what the backends hold.
	if got := v.SelfMetric(t, "otelcol_receiver_accepted_spans_total", nil); got != traces*(1+childSpans) {
		t.Errorf("otelcol_receiver_accepted_spans_total = %v, want %d", got, traces*(1+childSpans))
	}
	if got := v.SelfMetric(t, "otelcol_receiver_accepted_log_records_total", nil); got != logs {
		t.Errorf("otelcol_receiver_accepted_log_records_total = %v, want %d", got, logs)
	}
}

// TestDefaultConfigSDK sends a known trace tree, known metrics and known
// logs with the OpenTelemetry Go SDK through vigil's default configuration
// and reads each field back from the backends.
func TestDefaultConfigSDK(t *testing.T) {
	v := StartVigil(t, "")
	ctx := context.Background()
	svc := "sdk-" + RandomSuffix()
	start := time.Now().Add(-time.Minute)
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(svc), semconv.ServiceInstanceID("instance-1"), attribute.String("host.name", "e2e-host"))

	// Traces: checkout → charge (error, one event), and a linked span.
	texp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(v.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(texp))
	tracer := tp.Tracer("vigil/e2e", trace.WithInstrumentationVersion("1.2.3"))
	pctx, parent := tracer.Start(ctx, "checkout", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("s", "text"), attribute.Int64("i", 42),
			attribute.Bool("b", true), attribute.Float64("f", 2.5)))
	cctx, child := tracer.Start(pctx, "charge", trace.WithSpanKind(trace.SpanKindClient))
	child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.SetStatus(codes.Error, "card declined")

	// Logs, with the child's trace context.
	lexp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(v.OTLPGRPC), otlploggrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)))
	logger := lp.Logger("vigil/e2e")
	const nlogs = 3
	for i := range nlogs {
		var r otellog.Record
		r.SetTimestamp(time.Now())
		r.SetSeverity(otellog.SeverityError)
		r.SetSeverityText("ERROR")
		r.SetBody(attribute.StringValue(fmt.Sprintf("payment failed %d", i)))
		r.AddAttributes(attribute.String("user_id", "u-7"))
		logger.Emit(cctx, r)
	}
	child.End()
	parent.End()
	traceID := parent.SpanContext().TraceID().String()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Metrics: a counter and a histogram, exported once at shutdown.
	mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(v.OTLPGRPC), otlpmetricgrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	meter := mp.Meter("vigil/e2e")
	requests, err := meter.Int64Counter("e2e.requests", metric.WithUnit("{request}"))
	if err != nil {
		t.Fatal(err)
	}
	latency, err := meter.Float64Histogram("e2e.latency", metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(10, 100, 1000))
	if err != nil {
		t.Fatal(err)
	}
	route := metric.WithAttributes(attribute.String("route", "/pay"))
	requests.Add(ctx, 3, route)
	requests.Add(ctx, 4, route)
	for _, ms := range []float64{5, 50, 500} {
		latency.Record(ctx, ms, route)
	}
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("trace tree in Jaeger", func(t *testing.T) {
		var tr jgTraces
		Eventually(t, 60*time.Second, func() (bool, string) {
			if err := getJSON(JaegerQueryURL+"/api/traces/"+traceID, nil, &tr); err != nil {
				return false, err.Error()
			}
			return len(tr.Data) == 1 && len(tr.Data[0].Spans) == 2, fmt.Sprintf("trace %s: %+v", traceID, tr.Data)
		})
		spans := map[string]jgSpan{}
		for _, s := range tr.Data[0].Spans {
			spans[s.OperationName] = s
		}
		p, c := spans["checkout"], spans["charge"]
		if len(c.References) != 1 || c.References[0].RefType != "CHILD_OF" || c.References[0].SpanID != p.SpanID {
			t.Errorf("charge references = %+v, want CHILD_OF %s", c.References, p.SpanID)
		}
		for key, want := range map[string]any{"s": "text", "i": float64(42), "b": true, "f": 2.5, "span.kind": "server",
			"otel.scope.name": "vigil/e2e", "otel.scope.version": "1.2.3"} {
			if got, _ := tagValue(p.Tags, key); got != want {
				t.Errorf("checkout tag %s = %v (%T), want %v", key, got, got, want)
			}
		}
		for key, want := range map[string]any{"error": true, "otel.status_code": "ERROR",
			"otel.status_description": "card declined", "span.kind": "client"} {
			if got, _ := tagValue(c.Tags, key); got != want {
				t.Errorf("charge tag %s = %v, want %v", key, got, want)
			}
		}
		if len(c.Logs) != 1 {
			t.Fatalf("charge logs = %+v, want the retry event", c.Logs)
		}
		if ev, _ := tagValue(c.Logs[0].Fields, "event"); ev != "retry" {
			t.Errorf("event name = %v, want retry", ev)
		}
		if a, _ := tagValue(c.Logs[0].Fields, "attempt"); a != float64(2) {
			t.Errorf("event attempt = %v, want 2", a)
		}
		proc := tr.Data[0].Processes[p.ProcessID]
		if proc.ServiceName != svc {
			t.Errorf("service = %q, want %q", proc.ServiceName, svc)
		}
		if h, _ := tagValue(proc.Tags, "host.name"); h != "e2e-host" {
			t.Errorf("process tag host.name = %v, want e2e-host", h)
		}
		var services struct {
			Data []string `json:"data"`
		}
		GetJSON(t, JaegerQueryURL+"/api/services", &services)
		if !contains(services.Data, svc) {
			t.Errorf("/api/services = %v, want it to contain %q", services.Data, svc)
		}
	})

	t.Run("metrics in Prometheus", func(t *testing.T) {
		for expr, want := range map[string]float64{
			fmt.Sprintf(`e2e_requests_total{job=%q,instance="instance-1",route="/pay"}`, svc):         7,
			fmt.Sprintf(`e2e_latency_milliseconds_count{job=%q,route="/pay"}`, svc):                   3,
			fmt.Sprintf(`e2e_latency_milliseconds_sum{job=%q,route="/pay"}`, svc):                     555,
			fmt.Sprintf(`e2e_latency_milliseconds_bucket{job=%q,route="/pay",le="100"}`, svc):         2,
			fmt.Sprintf(`e2e_latency_milliseconds_bucket{job=%q,route="/pay",le="+Inf"}`, svc):        3,
			fmt.Sprintf(`count(target_info{job=%q,instance="instance-1",host_name="e2e-host"})`, svc): 1,
		} {
			WaitPromValue(t, expr, want, 60*time.Second)
		}
	})

	t.Run("logs in the logs backend", func(t *testing.T) {
		q := fmt.Sprintf(`{service_name=%s} trace_id:=%s`, LogsQLString(svc), LogsQLString(traceID))
		WaitLogsCount(t, q, start, nlogs, 60*time.Second)
		streams := LogsQuery(t, q, start, time.Now().Add(time.Minute))
		var lines []string
		for _, s := range streams {
			for _, e := range s.Entries {
				lines = append(lines, e.Line)
				if e.Metadata["trace_id"] != traceID || e.Metadata["span_id"] != child.SpanContext().SpanID().String() {
					t.Errorf("line %q: structured metadata %v, want the child's trace_id and span_id", e.Line, e.Metadata)
				}
				// Record attributes and the resource attributes that are
				// not labels, as structured metadata.
				for k, v := range map[string]string{"user_id": "u-7", "host_name": "e2e-host", "service_instance_id": "instance-1"} {
					if e.Metadata[k] != v {
						t.Errorf("line %q: structured metadata %s = %q, want %q (all: %v)", e.Line, k, e.Metadata[k], v, e.Metadata)
					}
				}
			}
		}
		sort.Strings(lines)
		var want []string
		for i := range nlogs {
			want = append(want, fmt.Sprintf(`payment failed %d`, i))
		}
		if fmt.Sprint(lines) != fmt.Sprint(want) {
			t.Errorf("lines = %q, want %q", lines, want)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
