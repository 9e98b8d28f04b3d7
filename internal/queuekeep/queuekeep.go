// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package queuekeep saves exporterhelper's persistent queue the decode of
// the entries it has just written. It wraps the queue's encoding: each
// request the queue encodes is kept in memory (bounded) next to the entry's
// bytes, and when the queue reads an entry back that is byte for byte a
// kept one, the kept request is returned instead of decoding the entry.
//
// Why: while the exporter keeps up, the persistent queue writes every
// request to the file and reads it back milliseconds later, decoding the
// whole OTLP payload it had in memory a moment before. That decode was
// about 12 % of the process CPU of Vigil's durable metrics path
// (prometheusremotewrite, which keeps its own exports the same way in its
// own request type) and the largest of the durable traces path's extra
// costs.
//
// Nothing of the queue's guarantees depends on what is kept: every entry
// is written to the file before the queue accepts the request, as before,
// and the file's format is the wrapped encoding's, unchanged. An entry is
// used from memory only when its bytes equal a kept entry's, so that the
// decode would give the same data and context: after a restart nothing is
// kept, and entries of an older file, redelivered or written by an older
// Vigil decode as before. Each kept request is handed out once.
package queuekeep // import "github.com/vigil-otel/vigil/internal/queuekeep"

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// DefaultMaxBytes bounds the entries kept in memory (their encoded size).
// The queue reads an entry back within milliseconds while the exporter
// keeps up, so one or two are kept; while it falls behind, entries are read
// from the file again and decoded.
const DefaultMaxBytes = 4 << 20

// Encoding is the persistent queue's encoding of requests of type T
// (exporterhelper's QueueBatchSettings.Encoding).
type Encoding[T any] interface {
	Marshal(context.Context, T) ([]byte, error)
	Unmarshal([]byte) (context.Context, T, error)
}

// ReferenceCounter is exporterhelper's QueueBatchSettings.ReferenceCounter:
// it tells pdata that a request's data is still in use, so that a receiver
// recycling its pdata (the alpha gate pdata.useProtoPooling) does not reuse
// a kept request's.
type ReferenceCounter[T any] interface {
	Ref(T)
	Unref(T)
}

// Keeper is an Encoding that keeps what it encodes (see the package doc).
// It is safe for concurrent use.
type Keeper[T any] struct {
	inner    Encoding[T]
	refs     ReferenceCounter[T]
	maxBytes int

	mu    sync.Mutex
	kept  []kept[T] // in the order encoded, which is the order the queue writes them
	bytes int       // of the kept entries

	taken atomic.Uint64
}

type kept[T any] struct {
	entry []byte
	req   T
	// ctx is the context the entry decodes to (its span context and client
	// metadata), not the caller's, which ends with its request.
	ctx context.Context
}

// New returns a Keeper around inner keeping entries of up to maxBytes in
// all. refs may be nil (requests whose data is never recycled).
func New[T any](inner Encoding[T], refs ReferenceCounter[T], maxBytes int) *Keeper[T] {
	return &Keeper[T]{inner: inner, refs: refs, maxBytes: maxBytes}
}

// Marshal encodes req with the wrapped encoding and keeps it, unless that
// would hold more than maxBytes of entries: then the older entries, which
// the queue reads first, are kept and this one is decoded when its turn
// comes.
func (k *Keeper[T]) Marshal(ctx context.Context, req T) ([]byte, error) {
	b, err := k.inner.Marshal(ctx, req)
	if err != nil || len(b) > k.maxBytes {
		return b, err
	}
	k.mu.Lock()
	full := k.bytes+len(b) > k.maxBytes
	k.mu.Unlock()
	if full {
		return b, nil
	}
	kctx, err := entryContext(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.bytes+len(b) > k.maxBytes {
		return b, nil
	}
	if k.refs != nil {
		k.refs.Ref(req)
	}
	k.kept = append(k.kept, kept[T]{entry: b, req: req, ctx: kctx})
	k.bytes += len(b)
	return b, nil
}

// Unmarshal returns the kept request whose entry is b, or decodes b. The
// queue reads entries in the order it wrote them, so the entries kept
// before the one read were not written (a failed write) or will not be read
// in this process: they are let go.
func (k *Keeper[T]) Unmarshal(b []byte) (context.Context, T, error) {
	if e, ok := k.take(b); ok {
		return e.ctx, e.req, nil
	}
	return k.inner.Unmarshal(b)
}

func (k *Keeper[T]) take(b []byte) (kept[T], bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.kept {
		e := k.kept[i]
		if len(e.entry) != len(b) || !bytes.Equal(e.entry, b) {
			continue
		}
		for _, old := range k.kept[:i] {
			k.bytes -= len(old.entry)
			if k.refs != nil {
				k.refs.Unref(old.req)
			}
		}
		k.bytes -= len(e.entry)
		k.kept = slices.Delete(k.kept, 0, i+1)
		k.taken.Add(1)
		return e, true
	}
	return kept[T]{}, false
}

// Taken is how many entries were read back from memory, not decoded.
func (k *Keeper[T]) Taken() uint64 { return k.taken.Load() }

// Len is how many entries are kept now.
func (k *Keeper[T]) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.kept)
}

// entryContext is the context an entry of exporterhelper's encoding
// (pdata/xpdata/request) written with ctx decodes to: its span context and
// client metadata, round-tripped through that encoding with no data (the
// context is encoded the same way for every signal).
func entryContext(ctx context.Context) (context.Context, error) {
	b, err := pdatareq.MarshalTraces(ctx, ptrace.NewTraces())
	if err != nil {
		return nil, err
	}
	kctx, _, err := pdatareq.UnmarshalTraces(b)
	return kctx, err
}
