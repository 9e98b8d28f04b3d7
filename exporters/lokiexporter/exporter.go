// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter // import "github.com/vigil-otel/vigil/exporters/lokiexporter"

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
	"github.com/vigil-otel/vigil/internal/keepalive"
	"github.com/vigil-otel/vigil/internal/shardsend"
)

const (
	// maxErrMsgLen bounds how much of an error response body is read.
	maxErrMsgLen = 16 * 1024
	// maxDrainBytes bounds how much of a success body is drained for reuse of the connection.
	maxDrainBytes = 64 * 1024
	// rejectLogInterval: Loki's 400 messages are logged at most once per interval.
	rejectLogInterval = 10 * time.Second
)

// Ordering design.
//
// Loki keeps one stream's entries in time order; depending on its settings
// it refuses (or, with unordered_writes, only accepts within a window) an
// entry older than what it already has for that stream. exporterhelper's
// sending queue sends batches concurrently when num_consumers > 1, and with
// batching on its worker pool does the same; a batch that is being retried
// would then be overtaken by a later batch of the same stream. So:
//
//   - sending_queue::num_consumers must be 1 (Validate). The queue hands out
//     one batch at a time and the retry sender holds it until it succeeds or
//     is dropped, so batch N+1 of a stream is never sent before batch N.
//   - concurrency comes from inside one batch instead: its streams are split
//     by a hash of their label set into `shards` push requests sent in
//     parallel. A stream is in exactly one of them, so parallel requests never
//     race on a stream. If only some fail, only their records are retried
//     (consumererror.NewLogs), so the others are not sent twice.
//   - within a stream, entries are sorted by timestamp before sending.
//
// This is the remote-write design of Prometheus (shard by series ref, one
// in-flight request per shard) expressed with exporterhelper's own queue,
// retry and persistence rather than a hand-written queue.
//
// One known limit: after a crash the persistent queue re-delivers the batch
// that was in flight after the ones queued behind it. Loki 3 accepts that
// (unordered writes within max_chunk_age/2) and drops exact duplicates.

type lokiExporter struct {
	cfg       *Config
	settings  component.TelemetrySettings
	userAgent string
	tr        *translator
	tb        *metadata.TelemetryBuilder
	client    *http.Client
	rejectLog *rejectLogger
}

func newExporter(cfg *Config, set exporter.Settings) (*lokiExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &lokiExporter{
		cfg:       cfg,
		settings:  set.TelemetrySettings,
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		tr:        newTranslator(cfg),
		tb:        tb,
		rejectLog: newRejectLogger(set.Logger),
	}, nil
}

// rejectLogger logs Loki's refusals through zap's sampler, which keeps the
// first record per message per interval and drops the rest: a bounded rate
// whatever Loki sends back. The sampler's counters take 448 KiB (7 levels ×
// 4,096 × 16 bytes), which the default config's two Loki exporters would
// hold for nothing while Loki refuses nothing, the usual case: the sampler
// is built at the first refusal.
type rejectLogger struct {
	base    *zap.Logger
	once    sync.Once
	sampled *zap.Logger
}

func newRejectLogger(l *zap.Logger) *rejectLogger {
	return &rejectLogger{base: l}
}

// logger returns the sampled logger, building it on first use.
func (r *rejectLogger) logger() *zap.Logger {
	r.once.Do(func() {
		r.sampled = r.base.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, rejectLogInterval, 1, 0)
		}))
	})
	return r.sampled
}

func (e *lokiExporter) start(ctx context.Context, host component.Host) error {
	// One idle connection per shard, which sends in parallel.
	cc := keepalive.AtLeast(e.cfg.ClientConfig, e.cfg.Shards)
	client, err := cc.ToClient(ctx, host.GetExtensions(), e.settings)
	if err != nil {
		return fmt.Errorf("failed to create the Loki HTTP client: %w", err)
	}
	e.client = client
	return nil
}

func (e *lokiExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.tb.Shutdown()
	return nil
}

func reasonAttr(reason string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason)))
}

func (e *lokiExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	b := e.tr.translate(ld)
	for reason, n := range b.dropped {
		e.tb.ExporterLokiDroppedEntries.Add(ctx, n, reasonAttr(reason))
	}
	if b.truncated > 0 {
		e.tb.ExporterLokiTruncatedLines.Add(ctx, b.truncated)
	}
	if len(b.groups) == 0 {
		return nil
	}

	// Retry only the records of the requests that failed retryably.
	out := shardsend.NewOutcome(shardsend.Send(len(b.groups), func(i int) error { return e.send(ctx, b.groups[i]) }))
	return out.Err(func(err error) error { return consumererror.NewLogs(err, failedLogs(ld, b, out.Failed)) })
}

// send encodes one group as a snappy-compressed PushRequest, posts it and
// classifies the answer. Status table (tested in exporter_test.go):
//
//	2xx                      accepted; entries/streams sent
//	429, 5xx                 retryable, honouring Retry-After (seconds or HTTP date)
//	400                      Loki refused (some of) the entries: not retried,
//	                         entries dropped and counted by the reason in Loki's
//	                         message, logged at a bounded rate
//	other 4xx (401, 413...)  permanent error (auth, size or endpoint problem)
//	transport error          retryable
//
// The error is nil when the entries were accepted (or refused with a 400,
// and counted), permanent (consumererror.NewPermanent) when sending them
// again cannot succeed, and retryable otherwise.
func (e *lokiExporter) send(ctx context.Context, g *group) error {
	body, err := encodeRequest(g)
	if err != nil {
		e.countDropped(ctx, g, int64(g.entries), reasonInvalid)
		return consumererror.NewPermanent(fmt.Errorf("failed to marshal the push request: %w", err))
	}

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.ClientConfig.Endpoint, bytes.NewReader(body))
	if err != nil {
		e.countDropped(ctx, g, int64(g.entries), reasonInvalid)
		return consumererror.NewPermanent(fmt.Errorf("failed to build the push request: %w", err))
	}
	httpReq.Header.Set("Content-Type", "application/x-protobuf")
	httpReq.Header.Set("User-Agent", e.userAgent)
	if g.key.tenant != "" {
		httpReq.Header.Set("X-Scope-OrgID", g.key.tenant)
	}

	resp, err := e.client.Do(httpReq)
	if err != nil {
		e.countFailed(ctx, g)
		return fmt.Errorf("failed to make an HTTP request: %w", err)
	}
	defer resp.Body.Close()

	status := shardsend.Classify(resp.StatusCode)
	if status == shardsend.Accepted {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrainBytes)
		e.tb.ExporterLokiSentEntries.Add(ctx, int64(g.entries))
		e.tb.ExporterLokiSentStreams.Add(ctx, int64(len(g.streams)))
		return nil
	}

	msgBytes, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrMsgLen))
	msg := strings.TrimSpace(string(msgBytes))
	statusErr := fmt.Errorf("loki push to %s (tenant %q) failed with HTTP %d: %s", e.cfg.ClientConfig.Endpoint, g.key.tenant, resp.StatusCode, msg)

	switch {
	case status == shardsend.Retryable:
		e.countFailed(ctx, g)
		return shardsend.Retry(statusErr, shardsend.RetryAfter(resp.Header, time.Now()))
	case resp.StatusCode == http.StatusBadRequest:
		reason, n := classifyRejection(msg, g.entries)
		e.countDropped(ctx, g, n, reason)
		e.rejectLog.logger().Warn("Loki refused entries; they are dropped (logged at most once per 10s)",
			zap.String("reason", reason), zap.Int64("dropped_entries", n),
			zap.Int("batch_entries", g.entries), zap.String("tenant", g.key.tenant), zap.String("loki_message", msg))
		return nil
	default:
		e.countDropped(ctx, g, int64(g.entries), reasonRejected)
		return consumererror.NewPermanent(statusErr)
	}
}

// rawPool holds the buffers the uncompressed protobuf of a push request is
// written into (a few hundred KiB for a batch of 8,000 records). Only the
// compressed body goes to the HTTP client, so a buffer is free again as soon
// as it is compressed.
var rawPool = sync.Pool{New: func() any { return new([]byte) }}

// encodeRequest is the body of g's push request: a snappy-compressed
// protobuf PushRequest.
func encodeRequest(g *group) ([]byte, error) {
	req := push.PushRequest{Streams: g.streams}
	size := req.Size()
	bp := rawPool.Get().(*[]byte)
	defer rawPool.Put(bp)
	if cap(*bp) < size {
		*bp = make([]byte, size)
	}
	raw := (*bp)[:size]
	n, err := req.MarshalToSizedBuffer(raw) // writes from the end of raw
	if err != nil {
		return nil, err
	}
	return snappy.Encode(nil, raw[size-n:]), nil
}

func (e *lokiExporter) countFailed(ctx context.Context, g *group) {
	e.tb.ExporterLokiFailedEntries.Add(ctx, int64(g.entries))
	e.tb.ExporterLokiFailedStreams.Add(ctx, int64(len(g.streams)))
}

func (e *lokiExporter) countDropped(ctx context.Context, g *group, entries int64, reason string) {
	e.tb.ExporterLokiDroppedEntries.Add(ctx, entries, reasonAttr(reason))
	e.tb.ExporterLokiDroppedStreams.Add(ctx, int64(len(g.streams)), reasonAttr(reason))
}

var ignoredRe = regexp.MustCompile(`total ignored: (\d+) out of \d+`)

// classifyRejection maps Loki's 400 message to a drop reason and the number
// of entries it refused. The ingester reports "total ignored: N out of M" per
// stream; when that is absent the whole request counts as refused.
func classifyRejection(msg string, entries int) (string, int64) {
	lower := strings.ToLower(msg)
	reason := reasonOther
	switch {
	case strings.Contains(lower, "out of order") || strings.Contains(lower, "too far behind"):
		reason = reasonOutOfOrder
	case strings.Contains(lower, "too old") || strings.Contains(lower, "greater_than_max_sample_age"):
		reason = reasonTooOld
	case strings.Contains(lower, "too new") || strings.Contains(lower, "too far in the future"):
		reason = reasonTooNew
	case strings.Contains(lower, "line too long") || strings.Contains(lower, "max entry size") || strings.Contains(lower, "line_too_long"):
		reason = reasonLineTooLong
	case strings.Contains(lower, "label names") || strings.Contains(lower, "too many labels") || strings.Contains(lower, "max_label_names_per_series"):
		reason = reasonTooManyLabels
	case strings.Contains(lower, "rate limit"):
		reason = reasonRateLimited
	}
	var n int64
	for _, m := range ignoredRe.FindAllStringSubmatch(msg, -1) {
		if v, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			n += v
		}
	}
	if n == 0 || n > int64(entries) {
		n = int64(entries)
	}
	return reason, n
}
