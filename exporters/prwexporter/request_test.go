// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"go.opentelemetry.io/otel/trace"
)

// gaugesAt is n gauges g0..g(n-1) with one data point at ts.
func gaugesAt(n int, ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	for i := range n {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("g%d", i))
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(float64(i))
	}
	return md
}

// queued is what the persistent queue does with a request: encode it, and
// decode it when it is read (or redelivered after a restart).
func queued(t *testing.T, o *ordered, md pmetric.Metrics) *request {
	t.Helper()
	req, err := o.convert(context.Background(), md)
	require.NoError(t, err)
	b, err := o.Marshal(context.Background(), req)
	require.NoError(t, err)
	_, got, err := o.Unmarshal(b)
	require.NoError(t, err)
	r := got.(*request)
	require.Len(t, r.parts, 1)
	require.Equal(t, req.(*request).parts[0].seq, r.parts[0].seq)
	require.Equal(t, md.DataPointCount(), r.ItemsCount())
	return r
}

// g0Receiver records the timestamps of g0's samples in arrival order, and
// answers 503 while down.
type g0Receiver struct {
	mu    sync.Mutex
	down  bool
	order []int64
}

func (g *g0Receiver) respond(w http.ResponseWriter, rec received) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	for _, ts := range rec.v1.Timeseries {
		if ts.Labels[0].Value == "g0" {
			for _, x := range ts.Samples {
				g.order = append(g.order, x.Timestamp)
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (g *g0Receiver) arrived() []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.order)
}

func TestEncodingRejectsGarbage(t *testing.T) {
	t.Parallel()
	o := newOrdered()
	for _, b := range [][]byte{
		append(slices.Clone(queueMarkV1), 1, 2, 3),                                                             // too short
		append(append(slices.Clone(queueMarkV1), make([]byte, 8)...), 0xff, 0xff),                              // not a protobuf
		append(slices.Clone(queueMark), 1, 2, 3),                                                               // too short
		append(append(slices.Clone(queueMark), make([]byte, 8)...), 0xff, 0xff),                                // not snappy
		append(append(slices.Clone(queueMark), make([]byte, 8)...), snappy.Encode(nil, []byte{0xff, 0xff})...), // not a protobuf
		{0xff, 0xff}, // no mark, not a protobuf
	} {
		_, _, err := o.Unmarshal(b)
		assert.Error(t, err, "%x", b)
	}
	assert.Empty(t, o.pending)
}

// TestLegacyQueueEntries: entries written by exporterhelper's own encoding
// (by a Vigil before this request type) are read as exports older than any
// numbered one, in the order they are decoded, and sent before newer ones.
func TestLegacyQueueEntries(t *testing.T) {
	t.Parallel()
	g := &g0Receiver{}
	e, _, _ := newTestExporter(t, nil, g.respond)
	t0 := time.Unix(1_700_000_000, 0)
	withCtx, err := pdatareq.MarshalMetrics(context.Background(), gaugesAt(5, t0))
	require.NoError(t, err)
	var m pmetric.ProtoMarshaler
	plain, err := m.MarshalMetrics(gaugesAt(5, t0.Add(time.Second)))
	require.NoError(t, err)
	var legacy []*request
	for i, b := range [][]byte{withCtx, plain} {
		_, got, err := e.order.Unmarshal(b)
		require.NoError(t, err)
		r := got.(*request)
		assert.Equal(t, uint64(i+1), r.parts[0].seq)
		assert.Equal(t, 5, r.ItemsCount())
		legacy = append(legacy, r)
	}
	newer := queued(t, e.order, gaugesAt(5, t0.Add(time.Minute)))
	require.NoError(t, e.pushRequest(context.Background(), newer))
	for _, r := range legacy {
		require.NoError(t, e.pushRequest(context.Background(), r))
	}
	assert.Equal(t, []int64{t0.UnixMilli(), t0.Add(time.Second).UnixMilli(), t0.Add(time.Minute).UnixMilli()}, g.arrived(),
		"the legacy entries first, in decoding order, once each")
	assert.Empty(t, e.order.pending)
	assert.Empty(t, e.order.sent)
}

// TestRedeliveredRequestIsSentFirst is the restart after a crash: the queue
// decodes the request that was in flight (old) first and hands it over
// after a newer one. The old samples must reach the receiver first, and the
// old request must not be sent again when its turn comes.
func TestRedeliveredRequestIsSentFirst(t *testing.T) {
	t.Parallel()
	g := &g0Receiver{}
	e, _, _ := newTestExporter(t, nil, g.respond)
	t0 := time.Unix(1_700_000_000, 0)
	old := queued(t, e.order, gaugesAt(5, t0))
	newer := queued(t, e.order, gaugesAt(5, t0.Add(time.Minute)))

	require.NoError(t, e.pushRequest(context.Background(), newer))
	require.NoError(t, e.pushRequest(context.Background(), old), "the redelivered request's turn")
	assert.Equal(t, []int64{t0.UnixMilli(), t0.Add(time.Minute).UnixMilli()}, g.arrived())
	assert.Empty(t, e.order.pending)
	assert.Empty(t, e.order.sent)
}

// TestRedeliveredRequestFailing: while the old request cannot be written,
// the newer one is not sent either, and the error handed to exporterhelper
// carries none of the old request's data (it would replace the newer one's).
func TestRedeliveredRequestFailing(t *testing.T) {
	t.Parallel()
	g := &g0Receiver{down: true}
	e, _, _ := newTestExporter(t, func(c *Config) { c.Shards = 2 }, g.respond)
	t0 := time.Unix(1_700_000_000, 0)
	old := queued(t, e.order, gaugesAt(20, t0))
	newer := queued(t, e.order, gaugesAt(20, t0.Add(time.Minute)))

	err := e.pushRequest(context.Background(), newer)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	_, carriesData := errors.AsType[*partialError](err)
	assert.False(t, carriesData)
	assert.Same(t, newer, newer.OnError(err), "the newer request is retried whole")

	g.mu.Lock()
	g.down = false
	g.mu.Unlock()
	require.NoError(t, e.pushRequest(context.Background(), newer))
	require.NoError(t, e.pushRequest(context.Background(), old))
	assert.Equal(t, []int64{t0.UnixMilli(), t0.Add(time.Minute).UnixMilli()}, g.arrived())
}

func TestOnErrorKeepsTheOrder(t *testing.T) {
	t.Parallel()
	r := &request{parts: []part{{md: gaugesAt(3, time.Unix(1, 0)), seq: 42}, {md: gaugesAt(3, time.Unix(2, 0)), seq: 43}}}
	rest := []part{{md: gaugesAt(1, time.Unix(2, 0)), seq: 43}}
	got := r.OnError(fmt.Errorf("wrapped: %w", &partialError{err: errors.New("x"), rest: rest})).(*request)
	assert.Equal(t, rest, got.parts)
	assert.Equal(t, 1, got.ItemsCount())
	assert.Same(t, r, r.OnError(errors.New("y")))
}

// TestMergedRequests: the queue's batching merges exports; a merge that
// holds a redelivered export already sent ahead sends only the rest.
func TestMergedRequests(t *testing.T) {
	t.Parallel()
	g := &g0Receiver{}
	e, _, _ := newTestExporter(t, nil, g.respond)
	t0 := time.Unix(1_700_000_000, 0)
	old := queued(t, e.order, gaugesAt(5, t0))
	b1 := queued(t, e.order, gaugesAt(5, t0.Add(time.Minute)))
	b2 := queued(t, e.order, gaugesAt(5, t0.Add(2*time.Minute)))
	require.NoError(t, e.pushRequest(context.Background(), b1)) // sends old, then b1
	merged, err := b2.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, old)
	require.NoError(t, err)
	require.Len(t, merged, 1)
	assert.Equal(t, 10, merged[0].ItemsCount())
	require.NoError(t, e.pushRequest(context.Background(), merged[0]))
	_, err = b2.MergeSplit(context.Background(), 100, exporterhelper.RequestSizerTypeItems, old)
	assert.Error(t, err, "splitting is not supported")
	assert.Equal(t, []int64{t0.UnixMilli(), t0.Add(time.Minute).UnixMilli(), t0.Add(2 * time.Minute).UnixMilli()}, g.arrived())
	assert.Empty(t, e.order.pending)
	assert.Empty(t, e.order.sent)
}

func TestSequenceGrows(t *testing.T) {
	t.Parallel()
	o := newOrdered()
	prev := o.next()
	for range 1000 {
		n := o.next()
		require.Greater(t, n, prev)
		prev = n
	}
	assert.Greater(t, prev, uint64(time.Now().Add(-time.Hour).UnixNano()), "numbers follow the clock, so a restarted process numbers after the old one")
}

// TestKeptExports: an export read back in the process that queued it is the
// one kept in memory, with the context its entry decodes to; an entry whose
// bytes differ from the one kept under its number (a restart, an old file,
// a clock set back) is decoded.
func TestKeptExports(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	ctx = client.NewContext(ctx, client.Info{Metadata: client.NewMetadata(map[string][]string{"tenant": {"a"}})})
	cctx, cancel := context.WithCancel(ctx)

	o := newOrdered()
	md := gaugesAt(5, t0)
	req, err := o.convert(cctx, md)
	require.NoError(t, err)
	b, err := o.Marshal(cctx, req)
	require.NoError(t, err)
	cancel() // the receiver's request has ended before the queue reads the entry

	fresh := newOrdered() // the same entry read by a restarted process
	wantCtx, wantReq, err := fresh.Unmarshal(slices.Clone(b))
	require.NoError(t, err)

	gotCtx, gotReq, err := o.Unmarshal(slices.Clone(b))
	require.NoError(t, err)
	got := gotReq.(*request)
	assert.True(t, got.parts[0].md == md, "the export kept, not a decoded copy")
	assert.Equal(t, wantReq.(*request).parts, got.parts)
	require.NoError(t, gotCtx.Err(), "not the caller's context")
	assert.Equal(t, trace.SpanContextFromContext(wantCtx), trace.SpanContextFromContext(gotCtx))
	assert.Equal(t, []string{"a"}, client.FromContext(gotCtx).Metadata.Get("tenant"))
	assert.Contains(t, o.pending, got.parts[0].seq)
	assert.Empty(t, o.kept)
	assert.Zero(t, o.keptBytes)

	// Read again (the queue never does in one process): decoded.
	_, again, err := o.Unmarshal(b)
	require.NoError(t, err)
	assert.False(t, again.(*request).parts[0].md == md)
	assert.Equal(t, 5, again.ItemsCount())

	// Another entry under a kept export's number: decoded, not the kept one.
	kept, err := o.convert(context.Background(), gaugesAt(3, t0))
	require.NoError(t, err)
	_, err = o.Marshal(context.Background(), kept)
	require.NoError(t, err)
	other, err := fresh.Marshal(context.Background(), &request{parts: []part{{md: gaugesAt(7, t0), seq: kept.(*request).parts[0].seq}}})
	require.NoError(t, err)
	_, dec, err := o.Unmarshal(other)
	require.NoError(t, err)
	assert.Equal(t, 7, dec.ItemsCount())
	assert.Empty(t, o.kept)
}

// TestKeptExportsBounded: exports the queue has not read back are kept up
// to maxKeptBytes, the oldest first; the rest are decoded when read, and
// exports that were never written are let go once the queue reads past them.
func TestKeptExportsBounded(t *testing.T) {
	t.Parallel()
	o := newOrdered()
	t0 := time.Unix(1_700_000_000, 0)
	var entries [][]byte
	var mds []pmetric.Metrics
	for i := range 12 {
		md := gaugesAt(20_000, t0.Add(time.Duration(i)*time.Minute))
		req, err := o.convert(context.Background(), md)
		require.NoError(t, err)
		b, err := o.Marshal(context.Background(), req)
		require.NoError(t, err)
		entries, mds = append(entries, b), append(mds, md)
		assert.LessOrEqual(t, o.keptBytes, maxKeptBytes)
	}
	raw, err := pdatareq.MarshalMetrics(context.Background(), mds[0])
	require.NoError(t, err)
	require.Greater(t, len(raw)*len(entries), maxKeptBytes, "the test must exceed the bound")
	hits := 0
	for i, b := range entries {
		_, r, err := o.Unmarshal(b)
		require.NoError(t, err)
		if r.(*request).parts[0].md == mds[i] {
			hits++
		}
		assert.Equal(t, 20_000, r.ItemsCount())
	}
	assert.Equal(t, maxKeptBytes/len(raw), hits, "the oldest entries that fit were kept")
	assert.Empty(t, o.kept)
	assert.Zero(t, o.keptBytes)

	// An export whose write failed is let go when the queue reads an entry
	// numbered more than keptSlack after it.
	lost, err := o.convert(context.Background(), gaugesAt(5, t0))
	require.NoError(t, err)
	_, err = o.Marshal(context.Background(), lost)
	require.NoError(t, err)
	require.Len(t, o.kept, 1)
	later, err := o.Marshal(context.Background(), &request{parts: []part{{md: gaugesAt(5, t0), seq: lost.(*request).parts[0].seq + 2*keptSlack}}})
	require.NoError(t, err)
	_, _, err = o.Unmarshal(later)
	require.NoError(t, err)
	assert.Empty(t, o.kept)
	assert.Zero(t, o.keptBytes)
}

// TestUncompressedQueueEntries: numbered entries written before the queue's
// entries were compressed (a Vigil of 2026-12-04) are read as before, with
// their numbers; new entries are compressed.
func TestUncompressedQueueEntries(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	raw, err := pdatareq.MarshalMetrics(context.Background(), gaugesAt(1000, t0))
	require.NoError(t, err)
	old := append(binary.BigEndian.AppendUint64(slices.Clone(queueMarkV1), 42), raw...)
	o := newOrdered()
	_, got, err := o.Unmarshal(old)
	require.NoError(t, err)
	assert.Equal(t, uint64(42), got.(*request).parts[0].seq)
	assert.Equal(t, 1000, got.ItemsCount())

	req, err := o.convert(context.Background(), gaugesAt(1000, t0))
	require.NoError(t, err)
	b, err := o.Marshal(context.Background(), req)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, queueMark))
	assert.Less(t, len(b), len(raw)/2, "compressed")
	_, dec, err := newOrdered().Unmarshal(b)
	require.NoError(t, err)
	assert.Equal(t, req.(*request).parts[0].seq, dec.(*request).parts[0].seq)
	assert.Equal(t, 1000, dec.ItemsCount())
}

// TestRedeliveredAfterRestart: entries written by the process before a
// restart (compressed, nothing kept in the new process) are decoded and
// keep their order: the redelivered export is sent before the newer one.
func TestRedeliveredAfterRestart(t *testing.T) {
	t.Parallel()
	g := &g0Receiver{}
	e, _, _ := newTestExporter(t, nil, g.respond)
	t0 := time.Unix(1_700_000_000, 0)
	before := newOrdered() // the process that was killed
	var entries [][]byte
	for i := range 2 {
		req, err := before.convert(context.Background(), gaugesAt(5, t0.Add(time.Duration(i)*time.Minute)))
		require.NoError(t, err)
		b, err := before.Marshal(context.Background(), req)
		require.NoError(t, err)
		entries = append(entries, b)
	}
	// The queue hands over the newer entry first, then the one that was in flight.
	_, newer, err := e.order.Unmarshal(entries[1])
	require.NoError(t, err)
	_, old, err := e.order.Unmarshal(entries[0])
	require.NoError(t, err)
	require.NoError(t, e.pushRequest(context.Background(), newer))
	require.NoError(t, e.pushRequest(context.Background(), old))
	assert.Equal(t, []int64{t0.UnixMilli(), t0.Add(time.Minute).UnixMilli()}, g.arrived())
	assert.Empty(t, e.order.pending)
	assert.Empty(t, e.order.sent)
}

// TestRequestSizes: a request's counts are its exports' (counted once per
// export and shared by its copies), also when asked from two goroutines.
func TestRequestSizes(t *testing.T) {
	t.Parallel()
	o := newOrdered()
	t0 := time.Unix(1_700_000_000, 0)
	var s pmetric.ProtoMarshaler
	a, b := gaugesAt(5, t0), gaugesAt(7, t0.Add(time.Minute))
	ra, err := o.convert(context.Background(), a)
	require.NoError(t, err)
	rb := queued(t, o, b)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			assert.Equal(t, 5, ra.ItemsCount())
			assert.Equal(t, s.MetricsSize(a), ra.BytesSize())
		})
	}
	wg.Wait()
	merged, err := ra.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, rb)
	require.NoError(t, err)
	assert.Equal(t, 12, merged[0].ItemsCount())
	assert.Equal(t, s.MetricsSize(a)+s.MetricsSize(b), merged[0].BytesSize())
	// A part without cached counts (a literal) is counted every time.
	assert.Equal(t, 5, (&request{parts: []part{{md: a}}}).ItemsCount())
}
