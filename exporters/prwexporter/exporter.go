// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter // import "github.com/vigil-otel/vigil/exporters/prwexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/vigil-otel/vigil/exporters/prwexporter/internal/metadata"
	"github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"
	"github.com/vigil-otel/vigil/internal/keepalive"
	"github.com/vigil-otel/vigil/internal/shardsend"
)

const (
	contentTypeV1 = "application/x-protobuf"
	contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	versionV1     = "0.1.0"
	versionV2     = "2.0.0"

	headerSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	headerHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	headerExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"

	// maxErrMsgLen bounds how much of an error response body is read and logged.
	maxErrMsgLen = 1024
	// maxDrainBytes bounds how much of a success body is drained for connection reuse.
	maxDrainBytes = 64 * 1024
	// maxPooledBuf bounds the encoding buffers kept for reuse.
	maxPooledBuf = 8 << 20
	// errLogInterval bounds permanent-error logs to one per interval.
	errLogInterval = 10 * time.Second
)

type prwExporter struct {
	cfg       *Config
	set       exporter.Settings
	tr        *translate.Translator
	tb        *metadata.TelemetryBuilder
	client    *http.Client
	userAgent string

	// v1 is true when requests are sent as 1.0: configured, or after a 2.0
	// receiver failed to acknowledge a 2.0 request.
	v1           atomic.Bool
	fallbackOnce sync.Once
	errLog       rate.Sometimes // rejected requests
	collisionLog rate.Sometimes // name collisions
	// bufs holds encoding buffers: they are only used until the compressed
	// body is built, and reusing them saves two large allocations per
	// request. A channel of one per shard rather than a sync.Pool, which the
	// garbage collector empties every other cycle: under load that is
	// several times a second, and the buffers were rebuilt all the time.
	bufs chan *translate.Buffers
	// order numbers queued requests and sends redelivered ones first.
	order *ordered
}

func newExporter(cfg *Config, set exporter.Settings) (*prwExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("metadata.NewTelemetryBuilder: %w", err)
	}
	e := &prwExporter{
		cfg: cfg,
		set: set,
		tb:  tb,
		tr: translate.New(translate.Settings{
			Namespace:        cfg.Namespace,
			Strategy:         cfg.strategy(),
			ExternalLabels:   cfg.ExternalLabels,
			ResourceToLabels: cfg.ResourceToTelemetryConversion.Enabled,
			TargetInfo:       cfg.TargetInfo.Enabled,
			ScopeLabels:      cfg.AddScopeLabels,
			Shards:           cfg.Shards,

			OpenMetricsFloats: cfg.FloatLabelFormat == FloatLabelsOpenMetrics,
		}),
		userAgent:    fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		errLog:       rate.Sometimes{Interval: errLogInterval},
		collisionLog: rate.Sometimes{Interval: errLogInterval},
	}
	if set.BuildInfo.Command == "" {
		e.userAgent = "vigil-prwexporter"
	}
	e.bufs = make(chan *translate.Buffers, cfg.Shards)
	e.order = newOrdered()
	e.v1.Store(cfg.Protocol != ProtocolV2)
	return e, nil
}

func (e *prwExporter) start(ctx context.Context, host component.Host) error {
	// One idle connection per shard, which sends in parallel.
	cc := keepalive.AtLeast(e.cfg.ClientConfig, e.cfg.Shards)
	client, err := cc.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("confighttp.ToClient: %w", err)
	}
	e.client = client
	return nil
}

func (e *prwExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.tb.Shutdown()
	return nil
}

// pushParts translates the parts of one export into shards and sends them
// concurrently (internal/shardsend, the send path shared with the loki
// exporter). Ordering design: the queue has one consumer, so exports leave it in order and one
// export finishes (including its retries) before the next starts; within an
// export every series lives in exactly one shard (hash of its labels, as
// Prometheus' own QueueManager does), and a shard larger than
// max_batch_size_bytes is sent as parts, one after the other, that never
// split the series of one data point. When a part fails with a retryable
// error, only the data points not written yet are handed back to
// exporterhelper's retry (partialError, see request.OnError), so series that
// were written are never sent again and nothing is reordered.
func (e *prwExporter) pushParts(ctx context.Context, parts []part) error {
	mds := make([]pmetric.Metrics, len(parts))
	for i, p := range parts {
		mds[i] = p.md
	}
	res := e.tr.Translate(mds...)
	for k, n := range res.Dropped {
		e.tb.ExporterPrometheusremotewriteDroppedItems.Add(ctx, n, metric.WithAttributes(attribute.String("kind", k.Kind), attribute.String("reason", k.Reason)))
	}
	if res.Collisions > 0 {
		e.tb.ExporterPrometheusremotewriteNameCollisions.Add(ctx, res.Collisions)
		e.collisionLog.Do(func() {
			e.set.Logger.Warn("OTLP series collide after translation to Prometheus names; the later data points were dropped",
				zap.Int64("collisions", res.Collisions))
		})
	}
	written := make([][]*translate.Shard, len(res.Shards))
	out := shardsend.NewOutcome(shardsend.Send(len(res.Shards), func(i int) error {
		if len(res.Shards[i].Series) == 0 {
			return nil
		}
		var err error
		written[i], err = e.sendShard(ctx, res.Shards[i])
		return err
	}))
	return out.Err(func(err error) error {
		// The groups of the parts a failed shard wrote (or dropped) before
		// its failure are not retried.
		done := map[uint64]struct{}{}
		for i, f := range out.Failed {
			if f {
				for _, part := range written[i] {
					part.Groups(done)
				}
			}
		}
		keep := func(shard int, group uint64) bool {
			if !out.Failed[shard] {
				return false
			}
			_, ok := done[group]
			return !ok
		}
		var rest []part
		for _, p := range parts {
			if md := e.tr.Filter(p.md, keep); md.DataPointCount() > 0 {
				rest = append(rest, newPart(md, p.seq))
			}
		}
		return &partialError{err: err, rest: rest}
	})
}

type counts struct{ samples, histograms, exemplars int64 }

func (c counts) record(ctx context.Context, ctr metric.Int64Counter, attrs ...attribute.KeyValue) {
	for _, kv := range []struct {
		kind string
		n    int64
	}{{translate.KindSample, c.samples}, {translate.KindHistogram, c.histograms}, {translate.KindExemplar, c.exemplars}} {
		if kv.n > 0 {
			ctr.Add(ctx, kv.n, metric.WithAttributes(append([]attribute.KeyValue{attribute.String("kind", kv.kind)}, attrs...)...))
		}
	}
}

// sendShard sends the shard in parts of at most max_batch_size_bytes, one
// after the other. A retryable failure stops it and is returned: that part
// and the ones after it are retried. A permanent failure drops its part
// (counted by send) and the next parts are still sent. done holds the parts
// that need no retry: written, or dropped.
func (e *prwExporter) sendShard(ctx context.Context, sh *translate.Shard) (done []*translate.Shard, err error) {
	var permanent []error
	for _, part := range sh.Chunks(e.cfg.MaxBatchSizeBytes, nil) {
		s, h, x := part.Counts()
		err := e.send(ctx, part, e.v1.Load(), counts{int64(s), int64(h), int64(x)})
		if err != nil && !consumererror.IsPermanent(err) {
			return done, err
		}
		if err != nil {
			permanent = append(permanent, err)
		}
		done = append(done, part)
	}
	if len(permanent) > 0 {
		return done, consumererror.NewPermanent(errors.Join(permanent...))
	}
	return done, nil
}

func (e *prwExporter) send(ctx context.Context, sh *translate.Shard, v1 bool, c counts) error {
	var (
		body []byte
		err  error
	)
	var bufs *translate.Buffers
	select {
	case bufs = <-e.bufs:
	default:
		bufs = new(translate.Buffers)
	}
	if v1 {
		body, err = translate.MarshalV1(sh, e.cfg.SendMetadata, bufs)
	} else {
		body, err = translate.MarshalV2(sh, bufs)
	}
	if bufs.Cap() <= maxPooledBuf {
		select {
		case e.bufs <- bufs:
		default:
		}
	}
	if err != nil {
		c.record(ctx, e.tb.ExporterPrometheusremotewriteDroppedItems, attribute.String("reason", "marshal"))
		return consumererror.NewPermanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.ClientConfig.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("failed to build the remote-write request: %w", err))
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", e.userAgent)
	if v1 {
		req.Header.Set("Content-Type", contentTypeV1)
		req.Header.Set("X-Prometheus-Remote-Write-Version", versionV1)
	} else {
		req.Header.Set("Content-Type", contentTypeV2)
		req.Header.Set("X-Prometheus-Remote-Write-Version", versionV2)
	}
	e.tb.ExporterPrometheusremotewriteRequestSize.Record(ctx, int64(len(body)))
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		e.tb.ExporterPrometheusremotewriteRequestDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("status", "error")))
		c.record(ctx, e.tb.ExporterPrometheusremotewriteFailedItems, attribute.String("reason", "transport"))
		return fmt.Errorf("failed to make an HTTP request: %w", err)
	}
	defer resp.Body.Close()
	e.tb.ExporterPrometheusremotewriteRequestDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("status", statusClass(resp.StatusCode))))

	if shardsend.Classify(resp.StatusCode) == shardsend.Accepted {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrainBytes)
		if v1 {
			c.record(ctx, e.tb.ExporterPrometheusremotewriteSentItems)
			return nil
		}
		return e.v2Response(ctx, sh, resp, c)
	}

	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrMsgLen))
	err = fmt.Errorf("remote-write receiver %s answered %s: %s", e.cfg.ClientConfig.Endpoint, resp.Status, bytes.TrimSpace(msg))
	if !v1 && resp.StatusCode/100 == 4 && e.writtenDespite(ctx, resp.Header, c) {
		// A 2.0 receiver wrote every sample and histogram and refused only
		// exemplars (Prometheus answers 400 for an exemplar older than the
		// newest it holds, which a target that keeps its exemplars causes on
		// every scrape after the first): the data is written, not dropped.
		return nil
	}
	if !v1 && resp.StatusCode == http.StatusUnsupportedMediaType {
		// A receiver that knows remote-write but not 2.0 (Prometheus 3 with
		// only prometheus.WriteRequest enabled) refuses the content type.
		return e.v2Unacknowledged(ctx, sh, resp.Status, c)
	}
	if shardsend.Classify(resp.StatusCode) == shardsend.Retryable {
		c.record(ctx, e.tb.ExporterPrometheusremotewriteFailedItems, attribute.String("reason", "http_"+strconv.Itoa(resp.StatusCode)))
		return shardsend.Retry(err, shardsend.RetryAfter(resp.Header, time.Now()))
	}
	c.record(ctx, e.tb.ExporterPrometheusremotewriteDroppedItems, attribute.String("reason", "http_"+strconv.Itoa(resp.StatusCode)))
	e.errLog.Do(func() {
		e.set.Logger.Error("Remote-write receiver rejected a request; its data were dropped (logged at most every 10s)",
			zap.Int("status", resp.StatusCode), zap.String("message", string(bytes.TrimSpace(msg))),
			zap.Int64("samples", c.samples), zap.Int64("histograms", c.histograms))
	})
	return consumererror.NewPermanent(err)
}

func statusClass(code int) string { return strconv.Itoa(code/100) + "xx" }

// v2Response reads the written-count headers of a 2.0 response.
func (e *prwExporter) v2Response(ctx context.Context, sh *translate.Shard, resp *http.Response, c counts) error {
	ws, okS := headerInt(resp.Header, headerSamplesWritten)
	wh, okH := headerInt(resp.Header, headerHistogramsWritten)
	wx, okX := headerInt(resp.Header, headerExemplarsWritten)
	if !okS && !okH && !okX {
		return e.v2Unacknowledged(ctx, sh, resp.Status, c)
	}
	written := counts{ws, wh, wx}
	written.record(ctx, e.tb.ExporterPrometheusremotewriteSentItems)
	lost := counts{max(c.samples-ws, 0), max(c.histograms-wh, 0), max(c.exemplars-wx, 0)}
	if lost.samples+lost.histograms+lost.exemplars > 0 {
		e.tb.ExporterPrometheusremotewritePartialWrites.Add(ctx, 1)
		lost.record(ctx, e.tb.ExporterPrometheusremotewriteDroppedItems, attribute.String("reason", "partial_write"))
	}
	return nil
}

// writtenDespite reports whether a 2.0 error response says, through its
// written-count headers (which the 2.0 specification requires on error
// responses too), that every sample and histogram of the request was
// written. Then the written items are counted as sent and the refused
// exemplars as dropped (reason "exemplar_refused").
func (e *prwExporter) writtenDespite(ctx context.Context, h http.Header, c counts) bool {
	ws, okS := headerInt(h, headerSamplesWritten)
	wh, okH := headerInt(h, headerHistogramsWritten)
	wx, _ := headerInt(h, headerExemplarsWritten)
	if !okS || !okH || ws < c.samples || wh < c.histograms {
		return false
	}
	counts{ws, wh, wx}.record(ctx, e.tb.ExporterPrometheusremotewriteSentItems)
	if lost := c.exemplars - wx; lost > 0 {
		counts{exemplars: lost}.record(ctx, e.tb.ExporterPrometheusremotewriteDroppedItems, attribute.String("reason", "exemplar_refused"))
	}
	return true
}

// v2Unacknowledged handles a receiver that answered a 2.0 request without
// confirming it: Prometheus 2.x decodes a 2.0 body as an empty 1.0 request
// and answers 204 having stored nothing.
func (e *prwExporter) v2Unacknowledged(ctx context.Context, sh *translate.Shard, status string, c counts) error {
	if e.cfg.V2Unacknowledged == V2Fail {
		err := fmt.Errorf("remote-write receiver %s answered a 2.0 request with %s but without X-Prometheus-Remote-Write-*-Written headers: it does not support remote-write 2.0 (set `protocol: v1` or `v2_unacknowledged: fallback_to_v1`)", e.cfg.ClientConfig.Endpoint, status)
		c.record(ctx, e.tb.ExporterPrometheusremotewriteDroppedItems, attribute.String("reason", "v2_unacknowledged"))
		e.errLog.Do(func() { e.set.Logger.Error("Dropping data", zap.Error(err)) })
		return consumererror.NewPermanent(err)
	}
	e.fallbackOnce.Do(func() {
		e.tb.ExporterPrometheusremotewriteProtocolFallbacks.Add(ctx, 1)
		e.set.Logger.Warn("Remote-write receiver does not acknowledge remote-write 2.0 (no X-Prometheus-Remote-Write-*-Written headers); falling back to remote-write 1.0 for this exporter and resending",
			zap.String("endpoint", e.cfg.ClientConfig.Endpoint), zap.String("status", status))
	})
	e.v1.Store(true)
	return e.send(ctx, sh, true, c)
}

func headerInt(h http.Header, key string) (int64, bool) {
	v := h.Get(key)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
