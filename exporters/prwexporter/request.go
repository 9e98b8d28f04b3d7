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
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
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
	// sizes caches md's counts (see newPart); nil: counted on every call.
	sizes *partSizes
}

// partSizes are an export's data points and OTLP bytes, counted once.
// exporterhelper asks a request for them several times on its way (the
// queue's sizers when it is offered and read back, its telemetry, the
// batcher), and each count walks the whole export: the bytes were 6.7 % of
// the exporter's CPU in BenchmarkDurableQueue. exporterhelper's own requests
// cache them too. The copies of a part (a merged request, a kept export)
// share them; an export filtered for a retry is a new part. Atomic because
// the queue's reader and the caller that offered the request may ask at
// once; a count is stored plus one, zero meaning not counted yet.
type partSizes struct {
	items, bytes atomic.Int64
}

func newPart(md pmetric.Metrics, seq uint64) part {
	return part{md: md, seq: seq, sizes: &partSizes{}}
}

func cached(c *atomic.Int64, count func() int) int {
	if v := c.Load(); v > 0 {
		return int(v - 1)
	}
	n := count()
	c.Store(int64(n) + 1)
	return n
}

func (p part) items() int {
	if p.sizes == nil {
		return p.md.DataPointCount()
	}
	return cached(&p.sizes.items, p.md.DataPointCount)
}

func (p part) bytes() int {
	var s pmetric.ProtoMarshaler
	if p.sizes == nil {
		return s.MetricsSize(p.md)
	}
	return cached(&p.sizes.bytes, func() int { return s.MetricsSize(p.md) })
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
		n += p.items()
	}
	return n
}

func (r *request) BytesSize() int {
	n := 0
	for _, p := range r.parts {
		n += p.bytes()
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
	// kept are the exports this process encoded and the queue has not read
	// back yet (see keep).
	kept      map[uint64]keptExport
	keptBytes int
	scratch   sync.Pool // of *[]byte: compression buffers
}

// keptExport is an encoded export still held in memory: its entry's bytes,
// the export (with its counts), and the context the entry decodes to.
type keptExport struct {
	entry []byte
	size  int // of the export encoded, uncompressed
	part  part
	ctx   context.Context
}

// maxKeptBytes bounds the encoded size (uncompressed) of the exports kept in
// memory. The queue reads an entry back within milliseconds while the
// exporter keeps up, so one or two entries are kept; while it falls behind,
// entries are read from the file again and decoded.
const maxKeptBytes = 4 << 20

// keptSlack is how much earlier (in sequence numbers, nanoseconds while
// the clock leads) an export kept in memory may be numbered than the entry
// being read before it is let go (see takeKept).
const keptSlack = uint64(time.Second)

func newOrdered() *ordered {
	return &ordered{
		pending: map[uint64]*part{}, sent: map[uint64]bool{}, kept: map[uint64]keptExport{},
		scratch: sync.Pool{New: func() any { return new([]byte) }},
	}
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
	return &request{parts: []part{newPart(md, o.next())}}, nil
}

// The encoding: a 4-byte mark, 8 bytes of sequence number, then the export
// in exporterhelper's own format (pdata/xpdata/request: the OTLP protobuf
// with the request context), compressed with snappy (block format). The
// queue encodes exports as they are queued, before any batching. Entries
// with the first mark (queueMarkV1) hold the export uncompressed: Vigil
// wrote them before compression, and they are read as before. An entry
// without a mark was written by exporterhelper's default encoding (by a
// Vigil before this type): it is older than every export numbered here,
// and gets a number below all of them, in the order the queue decodes it
// (redelivered entries first, then the queue's order). The marks start
// with a zero byte, which no protobuf message starts with (field number 0
// is invalid).
//
// Why compress: the queue copies each entry into the file, writes it, and
// copies it out again, and those copies were about 10 % of the durable
// metrics path (CPU profile). OTLP metrics compress well (the bench's node
// batch 16×: 412 KB to 25 KB); snappy's encoding then costs about half of
// what the protobuf encoding does (profiled: 5 % against 9.6 % of the
// exporter's CPU), less than the copies it saves. While the exporter keeps
// up nothing is decompressed: the export is still in memory (see keep).
var (
	queueMarkV1 = []byte{0, 'v', 'q', 1}
	queueMark   = []byte{0, 'v', 'q', 2}
)

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
	// Compress into a scratch buffer and copy out, so that the entry (which
	// the queue holds until it is written, and keep until it is read back)
	// does not pin snappy's worst-case allocation.
	scratch := o.scratch.Get().(*[]byte)
	enc := snappy.Encode((*scratch)[:cap(*scratch)], b)
	buf := make([]byte, headerLen+len(enc))
	copy(buf, queueMark)
	binary.BigEndian.PutUint64(buf[len(queueMark):], r.parts[0].seq)
	copy(buf[headerLen:], enc)
	*scratch = enc
	o.scratch.Put(scratch)
	if err := o.keep(ctx, buf, len(b), r.parts[0]); err != nil {
		return nil, err
	}
	return buf, nil
}

// keep holds on to an export the queue is about to write, so that reading
// its entry back in this process does not decode it again. A CPU profile
// of the durable metrics path had that decode at 10 % of the process: the
// queue writes every export to the file and, while the exporter keeps up,
// reads it back within milliseconds.
//
// Nothing of the queue's guarantees depends on this: every entry is written
// to the file as before, an entry read back is compared byte for byte with
// the one kept (a restarted process, an old file or a clock set back that
// repeats a sequence number simply decode), and what is kept is what the
// in-memory queue would hold. The context kept is the one the entry decodes
// to (its span context and client metadata, from an entry holding no data),
// not the caller's, which ends with its request. Like this exporter's
// in-memory queue, keeping relies on the receiver not recycling the export
// after it returns (pdata's alpha gate pdata.useProtoPooling, off).
func (o *ordered) keep(ctx context.Context, entry []byte, size int, p part) error {
	if size > maxKeptBytes {
		return nil
	}
	cb, err := pdatareq.MarshalMetrics(ctx, pmetric.NewMetrics())
	if err != nil {
		return err
	}
	kctx, _, err := pdatareq.UnmarshalMetrics(cb)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keptBytes+size > maxKeptBytes {
		// Keep the older entries, which the queue reads first; this one is
		// decoded from the file when its turn comes.
		return nil
	}
	o.kept[p.seq] = keptExport{entry: entry, size: size, part: p, ctx: kctx}
	o.keptBytes += size
	return nil
}

// takeKept returns the export kept for entry b numbered seq, if any, and
// stops keeping it. It also lets go of exports numbered more than
// keptSlack before seq: the queue reads entries in the order they were
// written, so those were not written (a failed write) or are read back no
// more. (Exports are numbered before they wait for the queue's lock, so
// ones numbered close together may be written in either order.)
func (o *ordered) takeKept(seq uint64, b []byte) (keptExport, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.kept) == 0 {
		return keptExport{}, false
	}
	for s, k := range o.kept {
		if s+keptSlack < seq {
			delete(o.kept, s)
			o.keptBytes -= k.size
		}
	}
	k, ok := o.kept[seq]
	if !ok {
		return keptExport{}, false
	}
	delete(o.kept, seq)
	o.keptBytes -= k.size
	return k, bytes.Equal(k.entry, b)
}

func (o *ordered) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	seq, numbered := uint64(0), bytes.HasPrefix(b, queueMark) || bytes.HasPrefix(b, queueMarkV1)
	if numbered {
		if len(b) < headerLen {
			return context.Background(), nil, errors.New("queued request too short")
		}
		seq = binary.BigEndian.Uint64(b[len(queueMark):])
		if k, ok := o.takeKept(seq, b); ok {
			o.mu.Lock()
			p := k.part
			o.pending[p.seq] = &p
			o.mu.Unlock()
			return k.ctx, &request{parts: []part{p}}, nil
		}
		compressed := bytes.HasPrefix(b, queueMark)
		b = b[headerLen:]
		if compressed {
			var err error
			if b, err = snappy.Decode(nil, b); err != nil {
				return context.Background(), nil, fmt.Errorf("queued request: %w", err)
			}
		}
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
	p := newPart(md, seq)
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
					p.md, p.sizes = pe.rest[0].md, pe.rest[0].sizes
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
