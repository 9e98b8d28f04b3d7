// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadatatest"
	"github.com/vigil-otel/vigil/internal/queuekeep"
	"github.com/vigil-otel/vigil/internal/queuekeep/queuekeeptest"
)

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
