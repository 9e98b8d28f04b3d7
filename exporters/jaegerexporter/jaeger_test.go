// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // server side of the default gzip compression
	grpcmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadatatest"
	"github.com/vigil-otel/vigil/internal/queuekeep"
	"github.com/vigil-otel/vigil/internal/queuekeep/queuekeeptest"
)

// collector is an in-process Jaeger CollectorService: a real gRPC peer that
// records what it accepted and answers with a scripted error per call.
type collector struct {
	api_v2.UnimplementedCollectorServiceServer

	mu       sync.Mutex
	calls    int
	respond  func(call int, req *api_v2.PostSpansRequest) error
	accepted []*model.Span
	sizes    []int
	services []string
	md       []grpcmetadata.MD
}

func (c *collector) PostSpans(ctx context.Context, req *api_v2.PostSpansRequest) (*api_v2.PostSpansResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	md, _ := grpcmetadata.FromIncomingContext(ctx)
	c.md = append(c.md, md)
	if c.respond != nil {
		if err := c.respond(c.calls, req); err != nil {
			return nil, err
		}
	}
	c.accepted = append(c.accepted, req.Batch.Spans...)
	c.sizes = append(c.sizes, req.Size())
	c.services = append(c.services, req.Batch.Process.ServiceName)
	return &api_v2.PostSpansResponse{}, nil
}

func (c *collector) acceptedIDs() map[model.SpanID]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[model.SpanID]int{}
	for _, s := range c.accepted {
		m[s.SpanID]++
	}
	return m
}

func startCollector(t testing.TB, c *collector, opts ...grpc.ServerOption) string {
	t.Helper()
	srv := grpc.NewServer(opts...)
	api_v2.RegisterCollectorServiceServer(srv, c)
	return serve(t, srv)
}

// serve runs srv on a loopback port until the test ends.
func serve(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// startExporter builds the bare exporter (no exporterhelper) so that the
// error class returned by one push can be inspected directly.
func startExporter(t testing.TB, addr string, tt *componenttest.Telemetry, mutate func(*Config)) *jaegerExporter {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = addr
	cfg.ClientConfig.TLS.Insecure = true
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	e, err := newJaegerExporter(cfg, metadatatest.NewSettings(tt))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

// genTraces makes nRes resources (service svc-<i>) of perRes spans each,
// every span with a unique span ID and pad bytes of attribute payload.
func genTraces(nRes, perRes, pad int) ptrace.Traces {
	td := ptrace.NewTraces()
	id := uint64(1)
	for r := range nRes {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc-"+string(rune('a'+r)))
		ss := rs.ScopeSpans().AppendEmpty()
		for range perRes {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(tTraceID)
			var sid pcommon.SpanID
			for b := range 8 {
				sid[7-b] = byte(id >> (8 * b))
			}
			id++
			s.SetSpanID(sid)
			s.SetName("op")
			if pad > 0 {
				s.Attributes().PutStr("pad", strings.Repeat("x", pad))
			}
		}
	}
	return td
}

func counterPoints(reason string, v int64) []metricdata.DataPoint[int64] {
	if reason == "" {
		return []metricdata.DataPoint[int64]{{Value: v}}
	}
	return []metricdata.DataPoint[int64]{{Value: v, Attributes: attribute.NewSet(attribute.String("reason", reason))}}
}

func TestStatusClasses(t *testing.T) {
	t.Parallel()
	withRetryInfo := func(c codes.Code, d time.Duration) error {
		st, err := status.New(c, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			panic(err)
		}
		return st.Err()
	}
	tests := []struct {
		name         string
		err          error
		wantPerm     bool
		wantThrottle string // substring of the throttle error, if any
	}{
		{name: "Unavailable", err: status.Error(codes.Unavailable, "down")},
		{name: "ResourceExhausted", err: status.Error(codes.ResourceExhausted, "queue full")},
		{name: "DeadlineExceeded", err: status.Error(codes.DeadlineExceeded, "slow")},
		{name: "Aborted", err: status.Error(codes.Aborted, "conflict")},
		{name: "Unavailable with RetryInfo", err: withRetryInfo(codes.Unavailable, 3*time.Second), wantThrottle: "Throttle (3s)"},
		{name: "ResourceExhausted with RetryInfo", err: withRetryInfo(codes.ResourceExhausted, 1500*time.Millisecond), wantThrottle: "Throttle (1.5s)"},
		{name: "InvalidArgument", err: status.Error(codes.InvalidArgument, "bad span"), wantPerm: true},
		{name: "Internal", err: status.Error(codes.Internal, "boom"), wantPerm: true},
		{name: "Unimplemented", err: status.Error(codes.Unimplemented, "no"), wantPerm: true},
		{name: "PermissionDenied", err: status.Error(codes.PermissionDenied, "no"), wantPerm: true},
		{name: "Unauthenticated", err: status.Error(codes.Unauthenticated, "no"), wantPerm: true},
		{name: "FailedPrecondition", err: status.Error(codes.FailedPrecondition, "no"), wantPerm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &collector{respond: func(int, *api_v2.PostSpansRequest) error { return tt.err }}
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			e := startExporter(t, startCollector(t, c), tel, nil)

			err := e.pushTraces(context.Background(), genTraces(1, 5, 0))
			require.Error(t, err)
			assert.Equal(t, status.Code(tt.err), status.Code(errors.Unwrap(err)), "the gRPC status is kept in the chain")
			if tt.wantPerm {
				assert.True(t, consumererror.IsPermanent(err), "want permanent: %v", err)
				metadatatest.AssertEqualExporterJaegerDroppedSpans(t, tel, counterPoints(reasonPermanent, 5), metricdatatest.IgnoreTimestamp())
				_, ferr := tel.GetMetric("otelcol_exporter_jaeger_failed_spans")
				assert.Error(t, ferr, "no failed (retryable) spans expected")
				return
			}
			assert.False(t, consumererror.IsPermanent(err), "want retryable: %v", err)
			var te consumererror.Traces
			require.ErrorAs(t, err, &te)
			assert.Equal(t, 5, te.Data().SpanCount(), "all spans handed back for retry")
			if tt.wantThrottle != "" {
				assert.Contains(t, err.Error(), tt.wantThrottle)
			} else {
				assert.NotContains(t, err.Error(), "Throttle")
			}
			metadatatest.AssertEqualExporterJaegerFailedSpans(t, tel, counterPoints("", 5), metricdatatest.IgnoreTimestamp())
			_, derr := tel.GetMetric("otelcol_exporter_jaeger_dropped_spans")
			assert.Error(t, derr, "nothing dropped on a retryable error")
		})
	}
}

func TestSuccessHeadersAndBatchPerResource(t *testing.T) {
	t.Parallel()
	c := &collector{}
	tel := newTelemetry(t)
	e := startExporter(t, startCollector(t, c), tel, func(cfg *Config) {
		cfg.ClientConfig.Headers.Set("x-tenant", configopaque.String("vigil"))
	})
	require.NoError(t, e.pushTraces(context.Background(), genTraces(3, 4, 0)))
	assert.Equal(t, 3, c.calls, "one PostSpans per resource")
	assert.Equal(t, []string{"svc-a", "svc-b", "svc-c"}, c.services)
	assert.Len(t, c.acceptedIDs(), 12)
	for _, md := range c.md {
		assert.Equal(t, []string{"vigil"}, md.Get("x-tenant"))
	}
	metadatatest.AssertEqualExporterJaegerSentSpans(t, tel, counterPoints("", 12), metricdatatest.IgnoreTimestamp())
}

// A retryable failure after some resources went through hands back only the
// rest, so the retry does not duplicate spans Jaeger already has.
func TestPartialFailureReturnsOnlyUnsent(t *testing.T) {
	t.Parallel()
	c := &collector{respond: unavailableOn("restarting", 2)}
	tel := newTelemetry(t)
	e := startExporter(t, startCollector(t, c), tel, nil)
	err := e.pushTraces(context.Background(), genTraces(3, 4, 0))
	var te consumererror.Traces
	require.ErrorAs(t, err, &te)
	rest := te.Data()
	require.Equal(t, 2, rest.ResourceSpans().Len())
	assert.Equal(t, 8, rest.SpanCount())
	svc, _ := rest.ResourceSpans().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "svc-b", svc.Str())
	metadatatest.AssertEqualExporterJaegerSentSpans(t, tel, counterPoints("", 4), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterJaegerFailedSpans(t, tel, counterPoints("", 8), metricdatatest.IgnoreTimestamp())
}

// Through exporterhelper's retry: two Unavailable answers, then success; every
// span arrives exactly once.
func TestRetryThroughHelperNoDuplicates(t *testing.T) {
	t.Parallel()
	c := &collector{respond: unavailableOn("restarting", 2, 3)}
	addr := startCollector(t, c)
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = addr
	cfg.ClientConfig.TLS.Insecure = true
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	tel := newTelemetry(t)
	exp, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	require.NoError(t, exp.ConsumeTraces(context.Background(), genTraces(3, 4, 0)))
	ids := c.acceptedIDs()
	assert.Len(t, ids, 12)
	for id, n := range ids {
		assert.Equal(t, 1, n, "span %s delivered %d times", id, n)
	}
}

// The server's receive limit is far below the batch: the exporter splits on
// "received message larger than max" until every span fits; none is dropped.
func TestSplitOnServerMessageLimit(t *testing.T) {
	t.Parallel()
	c := &collector{}
	tel := newTelemetry(t)
	const serverLimit = 64 << 10
	e := startExporter(t, startCollector(t, c, grpc.MaxRecvMsgSize(serverLimit)), tel, nil)

	td := genTraces(1, 400, 1000) // ~400 KB in one resource
	require.NoError(t, e.pushTraces(context.Background(), td))
	ids := c.acceptedIDs()
	assert.Len(t, ids, 400)
	for _, n := range ids {
		assert.Equal(t, 1, n)
	}
	for _, s := range c.sizes {
		assert.LessOrEqual(t, s, serverLimit)
	}
	assert.Greater(t, c.calls, 400*1000/serverLimit, "the batch was split into several calls")
	metadatatest.AssertEqualExporterJaegerSentSpans(t, tel, counterPoints("", 400), metricdatatest.IgnoreTimestamp())
	_, derr := tel.GetMetric("otelcol_exporter_jaeger_dropped_spans")
	assert.Error(t, derr, "nothing dropped")
	split, err := tel.GetMetric("otelcol_exporter_jaeger_split_requests")
	require.NoError(t, err)
	assert.Positive(t, split.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
}

// max_request_size pre-splits before sending, so the server never rejects.
func TestPreSplitByMaxRequestSize(t *testing.T) {
	t.Parallel()

	c := &collector{}
	tel := newTelemetry(t)
	const limit = 50_000
	e := startExporter(t, startCollector(t, c), tel, func(cfg *Config) { cfg.MaxRequestSize = limit })

	require.NoError(t, e.pushTraces(context.Background(), genTraces(2, 300, 500)))
	assert.Len(t, c.acceptedIDs(), 600)
	for _, s := range c.sizes {
		assert.LessOrEqual(t, s, limit)
	}
	assert.Greater(t, c.calls, 2)
}

// A single span larger than the limit cannot be split: it alone is dropped
// and counted as too_large, its neighbours are delivered.
func TestOversizedSingleSpanDropped(t *testing.T) {
	t.Parallel()
	c := &collector{}
	tel := newTelemetry(t)
	e := startExporter(t, startCollector(t, c, grpc.MaxRecvMsgSize(32<<10)), tel, nil)

	td := genTraces(1, 10, 100)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(3).Attributes().PutStr("huge", strings.Repeat("y", 100<<10))
	err := e.pushTraces(context.Background(), td)
	require.Error(t, err)
	assert.True(t, consumererror.IsPermanent(err))
	assert.Len(t, c.acceptedIDs(), 9)
	metadatatest.AssertEqualExporterJaegerDroppedSpans(t, tel, counterPoints(reasonTooLarge, 1), metricdatatest.IgnoreTimestamp())
}

// After a split, a retryable error on the second half hands back only that
// half's spans.
func TestSplitThenRetryableReturnsOnlyUnsentHalf(t *testing.T) {
	t.Parallel()
	c := &collector{respond: unavailableOn("blip", 2)}
	tel := newTelemetry(t)
	e := startExporter(t, startCollector(t, c), tel, func(cfg *Config) { cfg.MaxRequestSize = 3000 })

	td := genTraces(1, 8, 500) // ~4.5 KB: split into halves of 4 spans
	err := e.pushTraces(context.Background(), td)
	var te consumererror.Traces
	require.ErrorAs(t, err, &te)
	assert.Len(t, c.acceptedIDs(), 4)
	assert.Equal(t, 4, te.Data().SpanCount())
	firstLeft := te.Data().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID()
	assert.Equal(t, pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 5}, firstLeft)
}

func TestPushBeforeStart(t *testing.T) {
	t.Parallel()
	e, err := newJaegerExporter(createDefaultConfig().(*Config), metadatatest.NewSettings(componenttest.NewTelemetry()))
	require.NoError(t, err)
	assert.EqualError(t, e.pushTraces(context.Background(), genTraces(1, 1, 0)), "jaeger exporter not started")
}

// Resources with the same process travel in one call; when that call fails
// retryably, exactly its spans come back, each under its own resource.
func TestMergedProcessPartialFailure(t *testing.T) {
	t.Parallel()
	c := &collector{respond: unavailableOn("restarting", 2)}
	tel := newTelemetry(t)
	e := startExporter(t, startCollector(t, c), tel, nil)

	td := genTraces(4, 3, 0)
	for i := range 4 { // services a, b, a, b
		td.ResourceSpans().At(i).Resource().Attributes().PutStr("service.name", []string{"a", "b"}[i%2])
	}
	err := e.pushTraces(context.Background(), td)
	var te consumererror.Traces
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, len(c.services))
	assert.Equal(t, "a", c.services[0])
	assert.Len(t, c.acceptedIDs(), 6, "both 'a' resources in the first call")
	rest := te.Data()
	require.Equal(t, 2, rest.ResourceSpans().Len())
	for i := range 2 {
		svc, _ := rest.ResourceSpans().At(i).Resource().Attributes().Get("service.name")
		assert.Equal(t, "b", svc.Str())
		assert.Equal(t, 3, rest.ResourceSpans().At(i).ScopeSpans().At(0).Spans().Len())
	}
}

// newTelemetry is a test telemetry provider, shut down with the test.
func newTelemetry(t *testing.T) *componenttest.Telemetry {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return tel
}

// unavailableOn answers the given PostSpans calls (1-based) with a retryable
// Unavailable carrying msg, and accepts every other call.
func unavailableOn(msg string, calls ...int) func(int, *api_v2.PostSpansRequest) error {
	return func(call int, _ *api_v2.PostSpansRequest) error {
		if slices.Contains(calls, call) {
			return status.Error(codes.Unavailable, msg)
		}
		return nil
	}
}

// durableConfig is the exporter's config as the default config runs it:
// batching inside a file_storage persistent queue; fast retries.
func durableConfig(addr string, sid component.ID) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = addr
	cfg.ClientConfig.TLS.Insecure = true
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	q := cfg.QueueConfig.GetOrInsertDefault()
	q.StorageID = &sid
	q.Batch.GetOrInsertDefault().FlushTimeout = 50 * time.Millisecond
	return cfg
}

// startDurableTraces starts the exporter built by its factory with cfg on
// host, keeping up to keptBytes of queue entries; it stops when t ends,
// before the storage.
func startDurableTraces(t *testing.T, host queuekeeptest.Host, cfg *Config, keptBytes int) (exporter.Traces, *queuekeep.Keeper[xexporterhelper.Request]) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	exp, keeper, err := newTraces(context.Background(), metadatatest.NewSettings(newTelemetry(t)), cfg, keptBytes)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp, keeper
}

// exportOf makes export number i: two resources of spansPerResource spans,
// span IDs i*1000+k+1, each tagged with its export's number, and a payload
// of the same length in every export (so that entries are told apart by
// content, not length).
const spansPerResource = 10

func exportOf(i int) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc-"+string(rune('a'+r)))
		ss := rs.ScopeSpans().AppendEmpty()
		for k := range spansPerResource {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(tTraceID)
			s.SetSpanID(spanIDOf(uint64(i*1000 + r*spansPerResource + k + 1)))
			s.SetName("op")
			s.Attributes().PutInt("export", int64(i))
			s.Attributes().PutStr("pad", strings.Repeat("x", 200))
		}
	}
	return td
}

func spanIDOf(n uint64) pcommon.SpanID {
	var sid pcommon.SpanID
	for b := range 8 {
		sid[7-b] = byte(n >> (8 * b))
	}
	return sid
}

// waitAccepted waits until the collector holds n distinct spans, then
// checks that each arrived once and carries its own export's tag.
func waitAccepted(t *testing.T, c *collector, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(c.acceptedIDs()) >= n }, 30*time.Second, 10*time.Millisecond,
		"spans accepted by the collector")
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[model.SpanID]int{}
	for _, s := range c.accepted {
		seen[s.SpanID]++
		var export int64 = -1
		for _, tag := range s.Tags {
			if tag.Key == "export" {
				export = tag.VInt64
			}
		}
		assert.Equal(t, int64(s.SpanID-1)/1000, export, "span %d carries the tag of another export", s.SpanID)
	}
	assert.Len(t, seen, n)
	for id, k := range seen {
		assert.Equal(t, 1, k, "span %d accepted %d times", id, k)
	}
}

// The exporter against a collector that refuses every third call and is
// slower than the input: every span arrives exactly once and with its own
// data. The bound on what is kept is two and a half entries, so that some
// entries are read back from memory and others decoded from the file:
// "batched" is the default config's queue (its batcher reads entries as
// they come, so the queue keeps up); "backlog" has no batching and one
// consumer, which waits for each send, so entries pile up in the file and
// those kept and those decoded alternate.
func TestDurableQueueFlappingCollector(t *testing.T) {
	for _, batched := range []bool{true, false} {
		name := map[bool]string{true: "batched", false: "backlog"}[batched]
		t.Run(name, func(t *testing.T) {
			c := &collector{respond: func(call int, _ *api_v2.PostSpansRequest) error {
				time.Sleep(2 * time.Millisecond)
				if call%3 == 0 {
					return status.Error(codes.Unavailable, "flapping")
				}
				return nil
			}}
			addr := startCollector(t, c)
			host, sid := queuekeeptest.StartFileStorage(t, "")
			entry, err := pdatareq.MarshalTraces(context.Background(), exportOf(0))
			require.NoError(t, err)
			cfg := durableConfig(addr, sid)
			if !batched {
				cfg.QueueConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
				cfg.QueueConfig.Get().NumConsumers = 1
			}
			exp, keeper := startDurableTraces(t, host, cfg, len(entry)*5/2)

			const exports = 60
			for i := range exports {
				require.NoError(t, exp.ConsumeTraces(context.Background(), exportOf(i)))
				if i%5 == 4 {
					time.Sleep(10 * time.Millisecond) // let the queue read some back now and then
				}
			}
			waitAccepted(t, c, exports*2*spansPerResource)
			assert.Positive(t, keeper.Taken(), "entries read back from memory")
			t.Logf("%d of %d entries read back from memory", keeper.Taken(), exports)
		})
	}
}

// A queue file written by the exporter as it was before keeping (exporterhelper's
// default traces encoding, via exporterhelper.WithQueue): after the upgrade
// its entries are read and sent once each.
func TestQueueFileOfEarlierRelease(t *testing.T) {
	dir := t.TempDir()
	const exports = 12

	// Before: the first export is being sent when the process stops, the
	// others wait in the file. (What exporterhelper does with the one in
	// flight at a clean shutdown, redeliver or drop, is its business: this
	// test does not count on it.)
	host, sid, stopStorage := queuekeeptest.StartStoppableFileStorage(t, dir)
	cfg := durableConfig("127.0.0.1:1", sid)
	cfg.QueueConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
	cfg.QueueConfig.Get().NumConsumers = 1
	sending := make(chan struct{}, exports)
	stuck := func(ctx context.Context, _ ptrace.Traces) error {
		sending <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	old, err := exporterhelper.NewTraces(context.Background(), metadatatest.NewSettings(newTelemetry(t)), cfg, stuck,
		exporterhelper.WithQueue(cfg.QueueConfig))
	require.NoError(t, err)
	require.NoError(t, old.Start(context.Background(), host))
	for i := range exports {
		require.NoError(t, old.ConsumeTraces(context.Background(), exportOf(i)))
	}
	<-sending
	require.NoError(t, old.Shutdown(context.Background()))
	stopStorage()

	// After: this release on the same directory, with one consumer, so that
	// an export queued now is sent after every entry of the file (the one
	// redelivered too: it is queued again at start).
	c := &collector{}
	addr := startCollector(t, c)
	host, sid = queuekeeptest.StartFileStorage(t, dir)
	cfg = durableConfig(addr, sid)
	cfg.QueueConfig.Get().NumConsumers = 1
	exp, keeper := startDurableTraces(t, host, cfg, queuekeep.DefaultMaxBytes)
	require.NoError(t, exp.ConsumeTraces(context.Background(), exportOf(exports)))
	last := spanIDOf(uint64(exports*1000 + 2*spansPerResource))
	require.Eventually(t, func() bool { return c.acceptedIDs()[model.NewSpanID(binary.BigEndian.Uint64(last[:]))] > 0 },
		time.Minute, 10*time.Millisecond, "the export queued after the upgrade sent")

	redelivered := c.acceptedIDs()[1] > 0  // export 0's first span
	want := exports * 2 * spansPerResource // 1 … exports
	if redelivered {
		want += 2 * spansPerResource
	}
	waitAccepted(t, c, want)
	t.Logf("export in flight at the stop redelivered: %v; %d entries read back from memory", redelivered, keeper.Taken())
}
