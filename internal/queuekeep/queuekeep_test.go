// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package queuekeep

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// item is a request of the test encoding, which writes its text as is.
type item struct{ text string }

type textEncoding struct{}

func (textEncoding) Marshal(_ context.Context, it *item) ([]byte, error) {
	return []byte(it.text), nil
}

func (textEncoding) Unmarshal(b []byte) (context.Context, *item, error) {
	return context.Background(), &item{text: string(b)}, nil
}

// refCounts counts Ref minus Unref per item.
type refCounts struct {
	mu sync.Mutex
	n  map[*item]int
}

func (r *refCounts) Ref(it *item)   { r.add(it, 1) }
func (r *refCounts) Unref(it *item) { r.add(it, -1) }
func (r *refCounts) add(it *item, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[*item]int{}
	}
	r.n[it] += d
}

func (r *refCounts) of(it *item) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[it]
}

func marshal(t *testing.T, k *Keeper[*item], text string) (*item, []byte) {
	t.Helper()
	it := &item{text: text}
	b, err := k.Marshal(context.Background(), it)
	require.NoError(t, err)
	return it, b
}

func unmarshal(t *testing.T, k *Keeper[*item], b []byte) *item {
	t.Helper()
	_, it, err := k.Unmarshal(b)
	require.NoError(t, err)
	return it
}

func TestKeptRequestHandedOutOnce(t *testing.T) {
	k := New[*item](textEncoding{}, nil, DefaultMaxBytes)
	a, ab := marshal(t, k, "first")
	b, bb := marshal(t, k, "second")
	assert.Equal(t, 2, k.Len())

	assert.Same(t, a, unmarshal(t, k, ab))
	// The same bytes again (another entry equal to it, or a read after a
	// restart of the queue) are decoded: a kept request is handed out once.
	again := unmarshal(t, k, ab)
	assert.NotSame(t, a, again)
	assert.Equal(t, "first", again.text)

	assert.Same(t, b, unmarshal(t, k, bb))
	assert.Equal(t, 0, k.Len())
	assert.Equal(t, uint64(2), k.Taken())
}

// Entries of the same length are told apart by their bytes: a request is
// used only for its own entry.
func TestSameLengthOtherBytesDecoded(t *testing.T) {
	k := New[*item](textEncoding{}, nil, DefaultMaxBytes)
	a, _ := marshal(t, k, "aaaa")
	got := unmarshal(t, k, []byte("abab"))
	assert.NotSame(t, a, got)
	assert.Equal(t, "abab", got.text)
	assert.Equal(t, 1, k.Len(), "an entry kept by nobody lets go of nothing")
	assert.Equal(t, uint64(0), k.Taken())
}

// The queue reads entries in the order it wrote them: once a later entry is
// read, the ones kept before it will not be (their write failed) and are let
// go, with their references.
func TestOlderEntriesLetGo(t *testing.T) {
	refs := &refCounts{}
	k := New[*item](textEncoding{}, refs, DefaultMaxBytes)
	a, ab := marshal(t, k, "never written")
	b, bb := marshal(t, k, "written")
	assert.Equal(t, 1, refs.of(a))
	assert.Equal(t, 1, refs.of(b))

	assert.Same(t, b, unmarshal(t, k, bb))
	assert.Equal(t, 0, k.Len())
	assert.Equal(t, 0, refs.of(a), "let go: unreferenced")
	assert.Equal(t, 1, refs.of(b), "handed out: its reference goes with it")

	got := unmarshal(t, k, ab)
	assert.NotSame(t, a, got)
	assert.Equal(t, "never written", got.text)
}

func TestBounded(t *testing.T) {
	k := New[*item](textEncoding{}, nil, 10)
	_, big := marshal(t, k, "eleven char")
	assert.Equal(t, 0, k.Len(), "larger than the bound: not kept")
	a, ab := marshal(t, k, "sixsix")
	_, bb := marshal(t, k, "sevenes")
	assert.Equal(t, 1, k.Len(), "the older entry is kept, the newer would pass the bound")
	assert.Equal(t, "eleven char", unmarshal(t, k, big).text)
	assert.Same(t, a, unmarshal(t, k, ab))
	assert.Equal(t, "sevenes", unmarshal(t, k, bb).text)
	_, cb := marshal(t, k, "room again")
	assert.Equal(t, 1, k.Len())
	assert.Equal(t, "room again", unmarshal(t, k, cb).text)
	assert.Equal(t, uint64(2), k.Taken())
}

type ctxKey struct{}

// The context handed out with a kept request is the one its entry decodes
// to: the client metadata travel, the caller's other values and its
// cancellation do not.
func TestKeptContextIsTheEntrys(t *testing.T) {
	k := New[*item](textEncoding{}, nil, DefaultMaxBytes)
	ctx := client.NewContext(context.Background(), client.Info{
		Metadata: client.NewMetadata(map[string][]string{"tenant": {"t1"}}),
	})
	ctx = context.WithValue(ctx, ctxKey{}, "caller's")
	ctx, cancel := context.WithCancel(ctx)
	it := &item{text: "x"}
	b, err := k.Marshal(ctx, it)
	require.NoError(t, err)
	cancel()

	kctx, got, err := k.Unmarshal(b)
	require.NoError(t, err)
	assert.Same(t, it, got)
	require.NoError(t, kctx.Err())
	assert.Nil(t, kctx.Value(ctxKey{}))
	assert.Equal(t, []string{"t1"}, client.FromContext(kctx).Metadata.Get("tenant"))

	// The same as exporterhelper's encoding gives for an entry written with ctx.
	eb, err := pdatareq.MarshalTraces(ctx, ptrace.NewTraces())
	require.NoError(t, err)
	dctx, _, err := pdatareq.UnmarshalTraces(eb)
	require.NoError(t, err)
	assert.Equal(t, client.FromContext(dctx), client.FromContext(kctx))
}

// exporterhelper's traces encoding reads through the Keeper entries written
// without it: its own (pdata/xpdata/request, with the context) and the
// plain OTLP protobuf of older releases.
func TestExporterhelperEntriesStillRead(t *testing.T) {
	qs := xexporterhelper.NewTracesQueueBatchSettings()
	k := New(qs.Encoding, qs.ReferenceCounter, DefaultMaxBytes)
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := range 3 {
		ss.Spans().AppendEmpty().SetName(fmt.Sprint("span", i))
	}
	withCtx, err := pdatareq.MarshalTraces(context.Background(), td)
	require.NoError(t, err)
	var m ptrace.ProtoMarshaler
	plain, err := m.MarshalTraces(td)
	require.NoError(t, err)
	for name, b := range map[string][]byte{"with context": withCtx, "plain OTLP": plain} {
		_, req, err := k.Unmarshal(b)
		require.NoError(t, err, name)
		assert.Equal(t, 3, req.ItemsCount(), name)
	}

	// And what the Keeper writes is exporterhelper's encoding as is.
	_, req, err := qs.Encoding.Unmarshal(withCtx)
	require.NoError(t, err)
	b, err := k.Marshal(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, withCtx, b)
	_, got, err := k.Unmarshal(b)
	require.NoError(t, err)
	assert.Same(t, req, got)
}

// One writer (the queue writes under its lock) and readers, as the queue
// runs them; -race checks the Keeper's own state.
func TestConcurrentUse(t *testing.T) {
	k := New[*item](textEncoding{}, &refCounts{}, 64)
	entries := make(chan []byte, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(entries)
		for i := range 2000 {
			b, err := k.Marshal(context.Background(), &item{text: fmt.Sprint("entry ", i)})
			if err != nil {
				t.Error(err)
				return
			}
			entries <- b
		}
	})
	var mu sync.Mutex
	seen := map[string]int{}
	for range 2 {
		wg.Go(func() {
			for b := range entries {
				_, it, err := k.Unmarshal(b)
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				seen[it.text]++
				mu.Unlock()
				_ = k.Len()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, 2000)
	for text, n := range seen {
		assert.Equal(t, 1, n, text)
	}
	assert.Positive(t, k.Taken())
}
