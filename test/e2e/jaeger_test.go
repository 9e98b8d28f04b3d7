// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// jaegerVigilConfig sends OTLP traces through vigil's jaeger exporter (gRPC
// api_v2) to the test Jaeger. With persist, the sending queue is on disk
// (file_storage) and there is no batch processor in front of it, so a span
// acknowledged to the client is already on disk.
func jaegerVigilConfig(persist bool) string {
	queue := `
    sending_queue:
      enabled: true
      queue_size: 100000
      sizer: items`
	ext := ""
	extList := "[health_check]"
	if persist {
		queue += `
      storage: file_storage`
		ext = `  file_storage:
    directory: ${env:VIGIL_STORAGE_DIR}
    create_directory: true
`
		extList = "[health_check, file_storage]"
	}
	return `
receivers:
` + yamlOTLPReceiver + `exporters:
  jaeger:
    endpoint: ` + JaegerGRPC + `
    tls:
      insecure: true
    retry_on_failure:
      enabled: true
      initial_interval: 200ms
      max_interval: 2s
      max_elapsed_time: 0` + queue + `
extensions:
` + yamlHealthCheck + ext + `service:
  extensions: ` + extList + `
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger]
  telemetry:
    metrics:
` + yamlTelemetryReader
}

// Jaeger query API shapes (only what these tests read).
type jgTraces struct {
	Data []jgTrace `json:"data"`
}

type jgTrace struct {
	TraceID   string               `json:"traceID"`
	Spans     []jgSpan             `json:"spans"`
	Processes map[string]jgProcess `json:"processes"`
}

type jgSpan struct {
	TraceID       string   `json:"traceID"`
	SpanID        string   `json:"spanID"`
	OperationName string   `json:"operationName"`
	References    []jgRef  `json:"references"`
	Tags          []jgKV   `json:"tags"`
	Logs          []jgLog  `json:"logs"`
	ProcessID     string   `json:"processID"`
	StartTime     int64    `json:"startTime"`
	Duration      int64    `json:"duration"`
	Warnings      []string `json:"warnings"`
	Flags         uint32   `json:"flags"`

	process jgProcess // filled from the trace's processes map
}

type jgLog struct {
	Timestamp int64  `json:"timestamp"`
	Fields    []jgKV `json:"fields"`
}

type jgRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jgKV struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jgProcess struct {
	ServiceName string `json:"serviceName"`
	Tags        []jgKV `json:"tags"`
}

// tag returns the tag with key, failing the test when it is missing.
func jgTag(t *testing.T, where string, kvs []jgKV, key string) jgKV {
	t.Helper()
	for _, kv := range kvs {
		if kv.Key == key {
			return kv
		}
	}
	t.Errorf("%s: tag %q missing (have %s)", where, key, jgKeys(kvs))
	return jgKV{}
}

func jgKeys(kvs []jgKV) string {
	ks := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		ks = append(ks, kv.Key)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func jgHasTag(kvs []jgKV, key string) bool {
	for _, kv := range kvs {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// wantTag asserts type and value of a tag (JSON numbers decode as float64).
func wantTag(t *testing.T, where string, kvs []jgKV, key, typ string, value any) {
	t.Helper()
	kv := jgTag(t, where, kvs, key)
	if kv.Key == "" {
		return
	}
	if kv.Type != typ || fmt.Sprint(kv.Value) != fmt.Sprint(value) {
		t.Errorf("%s: tag %s = (%s) %v, want (%s) %v", where, key, kv.Type, kv.Value, typ, value)
	}
}

func jgGetTrace(t *testing.T, traceID string) (jgTrace, bool) {
	t.Helper()
	var out jgTraces
	if err := getJSON(JaegerQueryURL+"/api/traces/"+traceID, nil, &out); err != nil || len(out.Data) != 1 {
		return jgTrace{}, false
	}
	return out.Data[0], true
}

// waitWholeTraces waits until Jaeger holds exactly traces traces of
// service, each with all its spans (spans per trace), and returns their
// IDs as 32 hex digits (Jaeger drops leading zeros; OTLP exporters do not).
func waitWholeTraces(t *testing.T, timeout time.Duration, service string, traces, spans int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	Eventually(t, timeout, func() (bool, string) {
		var resp jgTraces
		if err := getJSON(JaegerQueryURL+"/api/traces?lookback=1h&limit=1000&service="+service, nil, &resp); err != nil {
			return false, err.Error()
		}
		whole := 0
		for _, tr := range resp.Data {
			if len(tr.Spans) == spans {
				whole++
				ids[strings.Repeat("0", max(0, 32-len(tr.TraceID)))+tr.TraceID] = true
			}
		}
		return len(resp.Data) == traces && whole == traces, fmt.Sprintf("Jaeger has %d traces of %s, %d whole, want %d", len(resp.Data), service, whole, traces)
	})
	return ids
}

func spansByName(tr jgTrace) map[string]jgSpan {
	m := map[string]jgSpan{}
	for _, s := range tr.Spans {
		s.process = tr.Processes[s.ProcessID]
		m[s.OperationName] = s
	}
	return m
}

// traceStateSampler samples everything and gives root spans a trace state
// (children inherit their parent's), so the test can check w3c.tracestate.
type traceStateSampler struct{ ts trace.TraceState }

func (s traceStateSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts := trace.SpanContextFromContext(p.ParentContext).TraceState()
	if ts.Len() == 0 {
		ts = s.ts
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
}

func (traceStateSampler) Description() string { return "traceStateSampler" }

// TestJaegerExporterKnownTree sends a known trace tree through vigil's jaeger
// exporter with the OpenTelemetry Go SDK (and one span with the attribute
// types and counters the Go SDK cannot make, with the collector's OTLP gRPC
// client) and reads every mapped field back from Jaeger's query API.
func TestJaegerExporterKnownTree(t *testing.T) {
	v := StartVigil(t, jaegerVigilConfig(false))
	ctx := context.Background()
	svc := "jg-tree-" + RandomSuffix()

	res := resource.NewSchemaless(attribute.String("service.name", svc),
		attribute.String("host.name", "e2e-node"), attribute.Int("vigil.replica", 3))
	texp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(v.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trace.ParseTraceState("vigil=e2e,congo=t61rcWkgMzE")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(texp),
		sdktrace.WithSampler(traceStateSampler{ts: ts}))
	tracer := tp.Tracer("vigil.e2e/jaeger", trace.WithInstrumentationVersion("1.4.2"))

	// A producer in its own trace, linked from the consumer below.
	_, producer := tracer.Start(ctx, "publish", trace.WithSpanKind(trace.SpanKindProducer))
	producerSC := producer.SpanContext()
	producer.End()

	rootCtx, root := tracer.Start(ctx, "checkout", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("attr.string", "hello"),
			attribute.Bool("attr.bool", true),
			attribute.Int64("attr.int", -42),
			attribute.Float64("attr.double", 3.25),
			attribute.StringSlice("attr.strings", []string{"a", "b"}),
			attribute.Int64Slice("attr.ints", []int64{1, 2, 3}),
			attribute.BoolSlice("attr.bools", []bool{true, false}),
			attribute.Float64Slice("attr.doubles", []float64{0.5, 1.5}),
		))
	_, charge := tracer.Start(rootCtx, "charge", trace.WithSpanKind(trace.SpanKindClient))
	charge.AddEvent("retrying", trace.WithAttributes(attribute.Int("attempt", 2), attribute.String("reason", "timeout")))
	charge.SetStatus(codes.Error, "card declined")
	charge.End()
	_, consume := tracer.Start(rootCtx, "consume", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(trace.Link{SpanContext: producerSC, Attributes: []attribute.KeyValue{
			attribute.String("link.reason", "batch"), attribute.Int("link.index", 7)}}))
	consume.SetStatus(codes.Ok, "")
	consume.End()
	_, internal := tracer.Start(rootCtx, "compute", trace.WithSpanKind(trace.SpanKindInternal))
	internal.End()
	root.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rootSC := root.SpanContext()

	// Types the Go SDK has no API for (bytes, maps) and dropped counts, sent
	// with the collector's OTLP gRPC client.
	raw := ptrace.NewTraces()
	rs := raw.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", svc)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("vigil.e2e/raw")
	rawSpan := ss.Spans().AppendEmpty()
	rawTID := pcommon.TraceID(randomBytes16())
	rawSpan.SetTraceID(rawTID)
	rawSpan.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	rawSpan.SetName("raw")
	now := time.Now()
	rawSpan.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	rawSpan.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(5 * time.Millisecond)))
	rawSpan.Attributes().PutEmptyBytes("attr.bytes").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	m := rawSpan.Attributes().PutEmptyMap("attr.map")
	m.PutStr("k", "v")
	m.PutInt("n", 1)
	rawSpan.SetDroppedAttributesCount(4)
	rawSpan.SetDroppedEventsCount(5)
	rawSpan.SetDroppedLinksCount(6)
	l := rawSpan.Links().AppendEmpty()
	l.SetTraceID(rawTID)
	l.SetSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
	l.TraceState().FromRaw("vendor=link")
	l.Attributes().PutBool("link.flag", true)
	conn, err := grpc.NewClient(v.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(raw)); err != nil {
		t.Fatal(err)
	}

	var tr jgTrace
	Eventually(t, 60*time.Second, func() (bool, string) {
		var ok bool
		tr, ok = jgGetTrace(t, rootSC.TraceID().String())
		return ok && len(tr.Spans) == 4, fmt.Sprintf("trace %s: %d spans, want 4", rootSC.TraceID(), len(tr.Spans))
	})
	spans := spansByName(tr)
	rootJ, chargeJ, consumeJ, computeJ := spans["checkout"], spans["charge"], spans["consume"], spans["compute"]

	t.Run("process", func(t *testing.T) {
		p := rootJ.process
		if p.ServiceName != svc {
			t.Errorf("service %q, want %q", p.ServiceName, svc)
		}
		wantTag(t, "process", p.Tags, "host.name", "string", "e2e-node")
		wantTag(t, "process", p.Tags, "vigil.replica", "int64", 3)
		if jgHasTag(p.Tags, "service.name") {
			t.Error("service.name must be the service, not a process tag")
		}
	})
	t.Run("ids, names, timing, parent CHILD_OF", func(t *testing.T) {
		if rootJ.SpanID != rootSC.SpanID().String() || rootJ.TraceID != rootSC.TraceID().String() {
			t.Errorf("root ids %s/%s, want %s/%s", rootJ.TraceID, rootJ.SpanID, rootSC.TraceID(), rootSC.SpanID())
		}
		if len(rootJ.References) != 0 {
			t.Errorf("root references %+v, want none", rootJ.References)
		}
		for _, c := range []jgSpan{chargeJ, computeJ} {
			if len(c.References) != 1 || c.References[0] != (jgRef{RefType: "CHILD_OF", TraceID: rootJ.TraceID, SpanID: rootJ.SpanID}) {
				t.Errorf("%s references %+v, want CHILD_OF root", c.OperationName, c.References)
			}
		}
		if rootJ.Duration <= 0 || chargeJ.StartTime < rootJ.StartTime {
			t.Errorf("timing: root start %d dur %d, charge start %d", rootJ.StartTime, rootJ.Duration, chargeJ.StartTime)
		}
	})
	t.Run("link FOLLOWS_FROM with attributes", func(t *testing.T) {
		want := []jgRef{
			{RefType: "CHILD_OF", TraceID: rootJ.TraceID, SpanID: rootJ.SpanID},
			{RefType: "FOLLOWS_FROM", TraceID: producerSC.TraceID().String(), SpanID: producerSC.SpanID().String()},
		}
		if fmt.Sprint(consumeJ.References) != fmt.Sprint(want) {
			t.Errorf("consume references %+v, want %+v", consumeJ.References, want)
		}
		wantTag(t, "consume", consumeJ.Tags, "otel.link.0.trace_id", "string", producerSC.TraceID().String())
		wantTag(t, "consume", consumeJ.Tags, "otel.link.0.span_id", "string", producerSC.SpanID().String())
		wantTag(t, "consume", consumeJ.Tags, "otel.link.0.attributes.link.reason", "string", "batch")
		wantTag(t, "consume", consumeJ.Tags, "otel.link.0.attributes.link.index", "int64", 7)
	})
	t.Run("span kind", func(t *testing.T) {
		for name, kind := range map[string]string{"checkout": "server", "charge": "client", "consume": "consumer", "compute": "internal"} {
			wantTag(t, name, spans[name].Tags, "span.kind", "string", kind)
		}
	})
	t.Run("status", func(t *testing.T) {
		wantTag(t, "charge", chargeJ.Tags, "otel.status_code", "string", "ERROR")
		wantTag(t, "charge", chargeJ.Tags, "otel.status_description", "string", "card declined")
		wantTag(t, "charge", chargeJ.Tags, "error", "bool", true)
		wantTag(t, "consume", consumeJ.Tags, "otel.status_code", "string", "OK")
		for _, s := range []jgSpan{consumeJ, rootJ} {
			if jgHasTag(s.Tags, "error") {
				t.Errorf("%s has an error tag without an error status", s.OperationName)
			}
		}
		if jgHasTag(rootJ.Tags, "otel.status_code") {
			t.Error("unset status must not add otel.status_code")
		}
	})
	t.Run("events as logs", func(t *testing.T) {
		if len(chargeJ.Logs) != 1 {
			t.Fatalf("charge logs %+v, want 1", chargeJ.Logs)
		}
		lg := chargeJ.Logs[0]
		wantTag(t, "log", lg.Fields, "event", "string", "retrying")
		wantTag(t, "log", lg.Fields, "attempt", "int64", 2)
		wantTag(t, "log", lg.Fields, "reason", "string", "timeout")
		if lg.Timestamp < chargeJ.StartTime || lg.Timestamp > chargeJ.StartTime+chargeJ.Duration {
			t.Errorf("log at %d outside span [%d, +%d]", lg.Timestamp, chargeJ.StartTime, chargeJ.Duration)
		}
	})
	t.Run("scope and trace state", func(t *testing.T) {
		for _, s := range tr.Spans {
			wantTag(t, s.OperationName, s.Tags, "otel.scope.name", "string", "vigil.e2e/jaeger")
			wantTag(t, s.OperationName, s.Tags, "otel.scope.version", "string", "1.4.2")
			wantTag(t, s.OperationName, s.Tags, "w3c.tracestate", "string", "vigil=e2e,congo=t61rcWkgMzE")
		}
	})
	t.Run("attribute types", func(t *testing.T) {
		wantTag(t, "root", rootJ.Tags, "attr.string", "string", "hello")
		wantTag(t, "root", rootJ.Tags, "attr.bool", "bool", true)
		wantTag(t, "root", rootJ.Tags, "attr.int", "int64", -42)
		wantTag(t, "root", rootJ.Tags, "attr.double", "float64", 3.25)
		wantTag(t, "root", rootJ.Tags, "attr.strings", "string", `["a","b"]`)
		wantTag(t, "root", rootJ.Tags, "attr.ints", "string", `[1,2,3]`)
		wantTag(t, "root", rootJ.Tags, "attr.bools", "string", `[true,false]`)
		wantTag(t, "root", rootJ.Tags, "attr.doubles", "string", `[0.5,1.5]`)
	})
	t.Run("bytes, maps, dropped counts, link trace state", func(t *testing.T) {
		var rt jgTrace
		Eventually(t, 60*time.Second, func() (bool, string) {
			var ok bool
			rt, ok = jgGetTrace(t, rawTID.String())
			return ok && len(rt.Spans) == 1, "raw span not in Jaeger yet"
		})
		s := rt.Spans[0]
		wantTag(t, "raw", s.Tags, "attr.bytes", "binary", base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef}))
		wantTag(t, "raw", s.Tags, "attr.map", "string", `{"k":"v","n":1}`)
		wantTag(t, "raw", s.Tags, "otel.dropped_attributes_count", "int64", 4)
		wantTag(t, "raw", s.Tags, "otel.dropped_events_count", "int64", 5)
		wantTag(t, "raw", s.Tags, "otel.dropped_links_count", "int64", 6)
		wantTag(t, "raw", s.Tags, "otel.link.0.trace_state", "string", "vendor=link")
		wantTag(t, "raw", s.Tags, "otel.link.0.attributes.link.flag", "bool", true)
		wantTag(t, "raw", s.Tags, "otel.scope.name", "string", "vigil.e2e/raw")
	})
	t.Run("services and operations", func(t *testing.T) {
		var services struct {
			Data []string `json:"data"`
		}
		GetJSON(t, JaegerQueryURL+"/api/services", &services)
		found := false
		for _, s := range services.Data {
			found = found || s == svc
		}
		if !found {
			t.Errorf("/api/services does not list %q", svc)
		}
		var ops struct {
			Data json.RawMessage `json:"data"`
		}
		GetJSON(t, JaegerQueryURL+"/api/services/"+url.PathEscape(svc)+"/operations", &ops)
		var names []string
		if err := json.Unmarshal(ops.Data, &names); err != nil {
			t.Fatalf("operations %s: %v", ops.Data, err)
		}
		sort.Strings(names)
		if want := []string{"charge", "checkout", "compute", "consume", "publish", "raw"}; fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("operations %v, want %v", names, want)
		}
	})
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_sent_spans", nil); got != 6 {
		t.Errorf("otelcol_exporter_jaeger_sent_spans = %v, want 6", got)
	}
}

func randomBytes16() [16]byte {
	var b [16]byte
	s := RandomSuffix() + RandomSuffix() + RandomSuffix() + RandomSuffix()
	copy(b[:], s)
	b[0] |= 0x80
	return b
}

// jaegerServiceSpans returns the span IDs Jaeger holds for service.
func jaegerServiceSpans(service string, since time.Time) (map[string]bool, error) {
	var out jgTraces
	u := fmt.Sprintf("%s/api/traces?service=%s&limit=100000&start=%d&end=%d", JaegerQueryURL, url.QueryEscape(service),
		since.Add(-time.Minute).UnixMicro(), time.Now().Add(time.Minute).UnixMicro())
	if err := getJSON(u, nil, &out); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, tr := range out.Data {
		for _, s := range tr.Spans {
			ids[s.SpanID] = true
		}
	}
	return ids, nil
}

func TestJaegerExporterTelemetrygen(t *testing.T) {
	v := StartVigil(t, jaegerVigilConfig(false))
	svc := "jg-tg-" + RandomSuffix()
	since := time.Now()
	const traces, children = 200, 3
	Telemetrygen(t, v, "traces", "--service", svc, "--traces", fmt.Sprint(traces), "--child-spans", fmt.Sprint(children),
		"--workers", "2", "--rate", "200")
	want := 2 * traces * (1 + children)
	Eventually(t, 60*time.Second, func() (bool, string) {
		ids, err := jaegerServiceSpans(svc, since)
		if err != nil {
			return false, err.Error()
		}
		return len(ids) == want, fmt.Sprintf("%d spans in Jaeger, want %d", len(ids), want)
	})
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_sent_spans", nil); got != float64(want) {
		t.Errorf("otelcol_exporter_jaeger_sent_spans = %v, want %d", got, want)
	}
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_dropped_spans", nil); got != 0 {
		t.Errorf("otelcol_exporter_jaeger_dropped_spans = %v, want 0", got)
	}
}

// spanLoad exports small traces to vigil over OTLP gRPC and remembers the
// span IDs of every export vigil acknowledged.
type spanLoad struct {
	svc    string
	client ptraceotlp.GRPCClient
	mu     sync.Mutex
	acked  []string
	failed int
	next   uint64
}

func newSpanLoad(t *testing.T, v *Vigil, svc string) *spanLoad {
	conn, err := grpc.NewClient(v.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &spanLoad{svc: svc, client: ptraceotlp.NewGRPCClient(conn), next: uint64(time.Now().UnixNano())}
}

// send exports one trace of n spans; it records the IDs only on success.
func (l *spanLoad) send(n int) { l.sendPadded(n, "") }

// sendPadded is send with a string attribute pad on every span.
func (l *spanLoad) sendPadded(n int, pad string) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", l.svc)
	ss := rs.ScopeSpans().AppendEmpty()
	l.mu.Lock()
	var tid pcommon.TraceID
	binary.BigEndian.PutUint64(tid[:8], l.next)
	binary.BigEndian.PutUint64(tid[8:], l.next^0x5bd1e995)
	ids := make([]string, 0, n)
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < n; i++ {
		l.next++
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(tid)
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], l.next)
		s.SetSpanID(sid)
		s.SetName("load")
		if pad != "" {
			s.Attributes().PutStr("pad", pad)
		}
		s.SetStartTimestamp(now)
		s.SetEndTimestamp(now + 1000)
		ids = append(ids, sid.String())
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := l.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		return
	}
	l.acked = append(l.acked, ids...)
}

// run sends a trace of spansPer spans every interval until stop is closed.
func (l *spanLoad) run(stop <-chan struct{}, interval time.Duration, spansPer int) <-chan struct{} {
	return Every(stop, interval, func() { l.send(spansPer) })
}

func (l *spanLoad) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

func missing(want []string, have map[string]bool) []string {
	var out []string
	for _, id := range want {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

// waitAllInJaeger waits until Jaeger holds every span in want.
func waitAllInJaeger(t *testing.T, svc string, since time.Time, want []string, timeout time.Duration) map[string]bool {
	t.Helper()
	var have map[string]bool
	Eventually(t, timeout, func() (bool, string) {
		var err error
		have, err = jaegerServiceSpans(svc, since)
		if err != nil {
			return false, err.Error()
		}
		miss := missing(want, have)
		return len(miss) == 0, fmt.Sprintf("%d of %d acknowledged spans not in Jaeger", len(miss), len(want))
	})
	return have
}

// TestJaegerExporterOutage: Jaeger is down for 60 s while load continues;
// with the persistent queue, no span acknowledged to the client is lost.
//
// Jaeger's memory store forgets everything on restart, so the test first
// waits until Jaeger holds every span acknowledged so far (set A, lost with
// the restart, but proven delivered), then stops Jaeger. Every span
// acknowledged after that point (set B: during the outage and after) must be
// in the restarted Jaeger.
func TestJaegerExporterOutage(t *testing.T) {
	v := StartVigil(t, jaegerVigilConfig(true))
	svc := "jg-outage-" + RandomSuffix()
	since := time.Now()
	load := newSpanLoad(t, v, svc)

	stop1 := make(chan struct{})
	done1 := load.run(stop1, 50*time.Millisecond, 5) // 100 spans/s
	time.Sleep(5 * time.Second)
	close(stop1)
	<-done1
	setA := load.snapshot()
	waitAllInJaeger(t, svc, since, setA, 60*time.Second)
	t.Logf("before the outage: %d spans acknowledged and in Jaeger", len(setA))

	// Jaeger stops before the load resumes: a span the old Jaeger accepted
	// while shutting down would be acknowledged and then forgotten with its
	// memory store, which is Jaeger's loss, not vigil's.
	StopBackend(t, "jaeger")
	restarted := false
	defer func() {
		if !restarted {
			StartBackend(t, "jaeger") // leave Jaeger up for the other tests
		}
	}()
	stop2 := make(chan struct{})
	done2 := load.run(stop2, 50*time.Millisecond, 5)
	time.Sleep(60 * time.Second)
	if v.SelfMetric(t, "otelcol_exporter_jaeger_failed_spans", nil) == 0 {
		t.Error("no failed (retried) sends counted during the outage")
	}
	StartBackend(t, "jaeger")
	restarted = true
	time.Sleep(5 * time.Second)
	close(stop2)
	<-done2
	all := load.snapshot()
	setB := all[len(setA):]
	if len(setB) < 60*100/2 {
		t.Errorf("only %d spans acknowledged during/after the outage: the load did not run", len(setB))
	}
	waitAllInJaeger(t, svc, since, setB, 120*time.Second)
	t.Logf("during and after the outage: %d spans acknowledged, all in Jaeger after restart; %d exports refused", len(setB), load.failed)
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_dropped_spans", nil); got != 0 {
		t.Errorf("otelcol_exporter_jaeger_dropped_spans = %v, want 0", got)
	}
}

// TestJaegerExporterCrash: with Jaeger down, spans pile up in the persistent
// queue; vigil is killed with SIGKILL and restarted, Jaeger comes back, and
// every acknowledged span arrives.
func TestJaegerExporterCrash(t *testing.T) {
	v := StartVigil(t, jaegerVigilConfig(true))
	svc := "jg-crash-" + RandomSuffix()
	since := time.Now()
	load := newSpanLoad(t, v, svc)

	StopBackend(t, "jaeger")
	restarted := false
	defer func() {
		if !restarted {
			StartBackend(t, "jaeger")
		}
	}()
	stop := make(chan struct{})
	done := load.run(stop, 20*time.Millisecond, 10) // 500 spans/s
	time.Sleep(8 * time.Second)
	v.Kill(t) // mid-load: exports in flight fail and are not acknowledged
	close(stop)
	<-done
	acked := load.snapshot()
	if len(acked) < 1000 {
		t.Fatalf("only %d spans acknowledged before the kill", len(acked))
	}
	v.Restart(t)
	StartBackend(t, "jaeger")
	restarted = true
	waitAllInJaeger(t, svc, since, acked, 120*time.Second)
	t.Logf("%d spans acknowledged before kill -9, all in Jaeger after restart (%d exports refused)", len(acked), load.failed)
}

// TestJaegerExporterSplitsOversizedBatch: vigil's queue batches 6000 spans of
// ~1 KiB into one request, larger than Jaeger's 4 MiB receive limit, and
// max_request_size is raised so vigil does not pre-split. Jaeger answers
// ResourceExhausted ("message larger than max"); the exporter splits until
// the halves fit. Every span arrives, none is dropped.
func TestJaegerExporterSplitsOversizedBatch(t *testing.T) {
	v := StartVigil(t, `
receivers:
`+yamlOTLPGRPCReceiver+`exporters:
  jaeger:
    endpoint: `+JaegerGRPC+`
    tls:
      insecure: true
    compression: none
    max_request_size: 67108864
    sending_queue:
      enabled: true
      sizer: items
      queue_size: 100000
      batch:
        flush_timeout: 5s
        min_size: 6000
        max_size: 6000
extensions:
`+yamlHealthCheck+`service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger]
  telemetry:
    metrics:
`+yamlTelemetryReader)
	svc := "jg-split-" + RandomSuffix()
	since := time.Now()
	load := newSpanLoad(t, v, svc)
	pad := strings.Repeat("p", 1000)
	for range 60 { // 60 exports of 100 spans, ~100 KiB each
		load.sendPadded(100, pad)
	}
	acked := load.snapshot()
	if len(acked) != 6000 {
		t.Fatalf("%d spans acknowledged, want 6000 (%d exports refused)", len(acked), load.failed)
	}
	waitAllInJaeger(t, svc, since, acked, 90*time.Second)
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_split_requests", nil); got < 1 {
		t.Errorf("otelcol_exporter_jaeger_split_requests = %v: the batch was never split, so the test did not exercise the limit", got)
	}
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_dropped_spans", nil); got != 0 {
		t.Errorf("otelcol_exporter_jaeger_dropped_spans = %v, want 0", got)
	}
	if got := v.SelfMetric(t, "otelcol_exporter_jaeger_sent_spans", nil); got != 6000 {
		t.Errorf("otelcol_exporter_jaeger_sent_spans = %v, want 6000", got)
	}
}
