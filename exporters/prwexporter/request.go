// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter // import "github.com/vigil-otel/vigil/exporters/prwexporter"

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
)

// Why the exporter has its own request type: exporterhelper's persistent
// queue (v0.162, and upstream as of 2026-08) puts the requests that were being
// sent when the process died *behind* every request queued after them
// ("Moved items for dispatching back to queue"). The samples of such a
// request are older than those of the requests sent before it on restart,
// and a receiver without an out-of-order window rejects them. The queue,
// its storage, batching and retries stay exporterhelper's; this type only
// stamps every queued export with a sequence number, so that the exporter
// can send a redelivered export before any newer one (see ordered).

// part is one queued export and its place in the order.
type part struct {
	md  pmetric.Metrics
	seq uint64
}

// request is what the queue hands over: one export, or several merged by
// the queue's batching (sending_queue::batch), oldest first.
type request struct {
	parts []part
}

var _ xexporterhelper.Request = (*request)(nil)

func (r *request) ItemsCount() int {
	n := 0
	for _, p := range r.parts {
		n += p.md.DataPointCount()
	}
	return n
}

func (r *request) BytesSize() int {
	var s pmetric.ProtoMarshaler
	n := 0
	for _, p := range r.parts {
		n += s.MetricsSize(p.md)
	}
	return n
}

// MergeSplit merges by keeping the exports apart (they are translated
// together, see pushParts); it does not split: Validate rejects
// sending_queue::batch::max_size, and max_batch_size_bytes bounds requests.
func (r *request) MergeSplit(_ context.Context, maxSize int, _ exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	if maxSize > 0 {
		return nil, errors.New("the prometheusremotewrite exporter does not split queued requests (sending_queue::batch::max_size); max_batch_size_bytes bounds its requests")
	}
	if r2 == nil {
		return []xexporterhelper.Request{r}, nil
	}
	o, ok := r2.(*request)
	if !ok {
		return nil, fmt.Errorf("unexpected request type %T", r2)
	}
	return []xexporterhelper.Request{&request{parts: append(slices.Clip(r.parts), o.parts...)}}, nil
}

// partialError is a retryable failure of part of a request: rest is what
// was not written, each export keeping its place in the order.
type partialError struct {
	err  error
	rest []part
}

func (e *partialError) Error() string { return e.err.Error() }
func (e *partialError) Unwrap() error { return e.err }

// OnError keeps what is left to send after a partial failure.
func (r *request) OnError(err error) xexporterhelper.Request {
	if pe, ok := errors.AsType[*partialError](err); ok {
		return &request{parts: pe.rest}
	}
	return r
}

// ordered numbers exports, encodes them for the persistent queue, and puts
// redelivered ones back in order.
//
// Every export the persistent queue hands over was decoded by Unmarshal
// first; decoded exports wait in pending until they are sent. Before a
// request is sent, every pending export with a smaller sequence number (one
// the queue redelivered behind newer ones after a restart) is sent, and it
// is skipped when the queue hands it over later. The in-memory queue never
// encodes, and pending stays empty.
type ordered struct {
	mu      sync.Mutex
	last    uint64
	legacy  uint64           // numbers given to entries of exporterhelper's encoding
	pending map[uint64]*part // decoded, not sent yet
	sent    map[uint64]bool  // sent ahead of their turn
}

func newOrdered() *ordered {
	return &ordered{pending: map[uint64]*part{}, sent: map[uint64]bool{}}
}

// next returns a sequence number larger than any before, in this process or
// (the wall clock moving forward) an earlier one.
func (o *ordered) next() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = max(o.last+1, uint64(time.Now().UnixNano()))
	return o.last
}

func (o *ordered) convert(_ context.Context, md pmetric.Metrics) (xexporterhelper.Request, error) {
	return &request{parts: []part{{md: md, seq: o.next()}}}, nil
}

// The encoding: a 4-byte mark, 8 bytes of sequence number, then the export
// in exporterhelper's own format (pdata/xpdata/request: the OTLP protobuf
// with the request context). The queue encodes exports as they are queued,
// before any batching. An entry without the mark was written by
// exporterhelper's default encoding (by a Vigil before this type): it is
// older than every export numbered here, and gets a number below all of
// them, in the order the queue decodes it (redelivered entries first, then
// the queue's order). The mark starts with a zero byte, which no protobuf message
// starts with (field number 0 is invalid).
var queueMark = []byte{0, 'v', 'q', 1}

const headerLen = 4 + 8

func (o *ordered) Marshal(ctx context.Context, req xexporterhelper.Request) ([]byte, error) {
	r, ok := req.(*request)
	if !ok || len(r.parts) != 1 {
		return nil, fmt.Errorf("unexpected request %T to queue", req)
	}
	b, err := pdatareq.MarshalMetrics(ctx, r.parts[0].md)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, headerLen, headerLen+len(b))
	copy(buf, queueMark)
	binary.BigEndian.PutUint64(buf[len(queueMark):], r.parts[0].seq)
	return append(buf, b...), nil
}

func (o *ordered) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	seq, numbered := uint64(0), bytes.HasPrefix(b, queueMark)
	if numbered {
		if len(b) < headerLen {
			return context.Background(), nil, errors.New("queued request too short")
		}
		seq = binary.BigEndian.Uint64(b[len(queueMark):])
		b = b[headerLen:]
	}
	ctx, md, err := pdatareq.UnmarshalMetrics(b)
	if errors.Is(err, pdatareq.ErrInvalidFormat) {
		// As exporterhelper does: an entry written without its context.
		var u pmetric.ProtoUnmarshaler
		ctx = context.Background()
		md, err = u.UnmarshalMetrics(b)
	}
	if err != nil {
		return context.Background(), nil, err
	}
	o.mu.Lock()
	if !numbered {
		o.legacy++
		seq = o.legacy
	}
	p := part{md: md, seq: seq}
	o.pending[p.seq] = &p
	o.mu.Unlock()
	return ctx, &request{parts: []part{p}}, nil
}

// take returns the parts of r still to send, oldest first (parts sent ahead
// of their turn are left out), and the pending exports older than all of
// them, oldest first. r's parts stop being pending.
func (o *ordered) take(r *request) (todo []part, older []*part) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range r.parts {
		delete(o.pending, p.seq)
		if o.sent[p.seq] {
			delete(o.sent, p.seq)
			continue
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(todo, func(a, b part) int { return cmp.Compare(a.seq, b.seq) })
	for seq, p := range o.pending {
		if seq < todo[0].seq {
			older = append(older, p)
		}
	}
	slices.SortFunc(older, func(a, b *part) int { return cmp.Compare(a.seq, b.seq) })
	return todo, older
}

// repend puts p back among the pending exports after a failed attempt.
func (o *ordered) repend(p *part) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending[p.seq] = p
}

// sentAhead records that p was sent before its turn.
func (o *ordered) sentAhead(p *part) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.pending, p.seq)
	o.sent[p.seq] = true
}

// pushRequest sends a request from the queue, after any redelivered export
// that is older (see ordered).
func (e *prwExporter) pushRequest(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*request)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("unexpected request type %T", req))
	}
	todo, older := e.order.take(r)
	for _, p := range older {
		err := e.pushParts(ctx, []part{*p})
		if err != nil && !consumererror.IsPermanent(err) {
			// p must be written before r. What p has left stays pending for
			// the next attempt; the error returned for r carries none of
			// p's data (OnError would make it r's).
			if pe, ok := errors.AsType[*partialError](err); ok {
				if len(pe.rest) > 0 {
					p.md = pe.rest[0].md
				}
				err = pe.err
			}
			e.order.repend(p)
			return fmt.Errorf("an export redelivered after a restart must be written first: %w", err)
		}
		// Written, or dropped as permanent (counted by pushParts).
		e.order.sentAhead(p)
	}
	if len(todo) == 0 {
		return nil
	}
	return e.pushParts(ctx, todo)
}
