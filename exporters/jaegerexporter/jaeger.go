// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter // import "github.com/vigil-otel/vigil/exporters/jaegerexporter"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmetadata "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/jaegerproto"
	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/metadata"
)

// Drop reasons (attribute "reason" of exporter_jaeger_dropped_spans).
const (
	reasonPermanent = "permanent_error"
	reasonTooLarge  = "too_large"
)

var (
	attrsPermanent = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonPermanent)))
	attrsTooLarge  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonTooLarge)))
)

type jaegerExporter struct {
	cfg       *Config
	settings  exporter.Settings
	telemetry *metadata.TelemetryBuilder

	conn     *grpc.ClientConn
	md       grpcmetadata.MD
	callOpts []grpc.CallOption
}

func newJaegerExporter(cfg *Config, set exporter.Settings) (*jaegerExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("jaeger exporter telemetry: %w", err)
	}
	return &jaegerExporter{cfg: cfg, settings: set, telemetry: tb}, nil
}

// start builds the gRPC client from configgrpc (TLS, headers, compression,
// keepalive, balancer, auth extensions). Connecting is lazy: an unreachable
// collector makes sends fail (and retry), not start.
func (e *jaegerExporter) start(ctx context.Context, host component.Host) error {
	conn, err := e.cfg.ClientConfig.ToClientConn(ctx, host.GetExtensions(), e.settings.TelemetrySettings,
		configgrpcUserAgent(e.settings))
	if err != nil {
		return fmt.Errorf("jaeger exporter: gRPC client: %w", err)
	}
	e.conn = conn
	headers := map[string]string{}
	for k, v := range e.cfg.ClientConfig.Headers.Iter {
		headers[k] = string(v)
	}
	e.md = grpcmetadata.New(headers)
	e.callOpts = []grpc.CallOption{
		grpc.WaitForReady(e.cfg.ClientConfig.WaitForReady),
		grpc.ForceCodecV2(rawCodec{}),
	}
	return nil
}

func (e *jaegerExporter) shutdown(context.Context) error {
	e.telemetry.Shutdown()
	if e.conn != nil {
		return e.conn.Close()
	}
	return nil
}

// pushTraces sends one PostSpans call per distinct Jaeger process (more if a
// batch must be split to fit max_request_size or the server's limit). On a retryable error
// it returns only the spans that were not yet accepted, so a retry does not
// duplicate what Jaeger already stored.
func (e *jaegerExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	if e.conn == nil {
		return errors.New("jaeger exporter not started")
	}
	batches := jaegerproto.Encode(td, jaegerproto.DefaultOptions())
	if len(e.md) > 0 {
		ctx = grpcmetadata.NewOutgoingContext(ctx, e.md.Copy())
	}
	var permErrs []error
	for bi := range batches {
		b := &batches[bi]
		sent := make([]bool, b.NumSpans())
		err := e.send(ctx, b, 0, b.NumSpans(), sent)
		if err == nil {
			continue
		}
		if consumererror.IsPermanent(err) {
			// Already counted as dropped; the other resources may still go through.
			permErrs = append(permErrs, err)
			continue
		}
		remaining := unsentTraces(td, batches[bi:], sent)
		e.telemetry.ExporterJaegerFailedSpans.Add(ctx, int64(remaining.SpanCount()))
		if len(permErrs) > 0 {
			e.settings.Logger.Warn("Jaeger rejected part of a request permanently", zap.Error(errors.Join(permErrs...)))
		}
		return consumererror.NewTraces(err, remaining)
	}
	if len(permErrs) > 0 {
		return consumererror.NewPermanent(errors.Join(permErrs...))
	}
	// Every call was answered OK, so gRPC has finished reading the buffers
	// (after an error it may not have: a cancelled call's frames can still be
	// queued), and they can be reused.
	jaegerproto.Release(batches)
	return nil
}

// postSpansMethod is the full gRPC method name of CollectorService.PostSpans
// (jaeger-idl proto/api_v2/collector.proto).
const postSpansMethod = "/jaeger.api_v2.CollectorService/PostSpans"

// send posts spans [i, j) of b in as few calls as the size limits allow,
// marking in sent (indexed like b's spans, offset i) what the collector
// accepted. It returns the first retryable error, or a permanent error after
// trying everything.
func (e *jaegerExporter) send(ctx context.Context, b *jaegerproto.Batch, i, j int, sent []bool) error {
	var err error
	if size := b.RequestSize(i, j); size > e.cfg.MaxRequestSize {
		err = errTooLarge
	} else {
		req := rawMessage{b.RequestHeader(make([]byte, 0, 16), i, j), b.Spans[b.Offsets[i]:b.Offsets[j]], b.Process}
		err = e.conn.Invoke(ctx, postSpansMethod, &req, &emptyResponse{}, e.callOpts...)
		if err == nil {
			e.telemetry.ExporterJaegerSentSpans.Add(ctx, int64(j-i))
			markSent(sent, i, j)
			return nil
		}
	}
	if errors.Is(err, errTooLarge) || isMessageTooLarge(err) {
		if j-i == 1 {
			e.telemetry.ExporterJaegerDroppedSpans.Add(ctx, 1, attrsTooLarge)
			markSent(sent, i, j) // dropped: never retried
			return consumererror.NewPermanent(fmt.Errorf("span %d of resource %d larger than the message limit: %w", b.Origins[i].Span, b.Origins[i].Resource, err))
		}
		e.telemetry.ExporterJaegerSplitRequests.Add(ctx, 1)
		mid := i + (j-i)/2
		errA := e.send(ctx, b, i, mid, sent)
		if errA != nil && !consumererror.IsPermanent(errA) {
			return errA
		}
		errB := e.send(ctx, b, mid, j, sent)
		if errB != nil && !consumererror.IsPermanent(errB) {
			return errB
		}
		if errA != nil || errB != nil {
			return consumererror.NewPermanent(errors.Join(errA, errB))
		}
		return nil
	}
	err = classify(err)
	if consumererror.IsPermanent(err) {
		e.telemetry.ExporterJaegerDroppedSpans.Add(ctx, int64(j-i), attrsPermanent)
		markSent(sent, i, j)
	}
	return err
}

func markSent(sent []bool, i, j int) {
	for k := i; k < j; k++ {
		sent[k] = true
	}
}

var errTooLarge = errors.New("request larger than max_request_size")

// isMessageTooLarge recognises grpc-go's receive-limit rejection
// ("grpc: received message larger than max (N vs. M)"), reported as
// ResourceExhausted by the server, or by the client for its own send limit
// ("trying to send message larger than max"). Retrying the same message cannot
// succeed; splitting can.
func isMessageTooLarge(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// classify maps a gRPC status to the exporterhelper error classes:
//   - Unavailable, ResourceExhausted, DeadlineExceeded, Aborted (and Canceled,
//     a client-side interruption): retried, honouring a RetryInfo delay;
//   - everything else (InvalidArgument, Internal, Unimplemented,
//     PermissionDenied, Unauthenticated, ...): permanent, dropped and counted.
func classify(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Canceled:
		if d := retryDelay(st); d > 0 {
			return exporterhelper.NewThrottleRetry(err, d)
		}
		return err
	default:
		return consumererror.NewPermanent(err)
	}
}

func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// unsentTraces returns the spans of batches rest that were not accepted:
// for rest[0] those with sent[i] == false, all spans for the others; each
// with its resource and scope.
func unsentTraces(td ptrace.Traces, rest []jaegerproto.Batch, sent []bool) ptrace.Traces {
	out := ptrace.NewTraces()
	type scopeKey struct{ r, s int }
	resources := map[int]ptrace.ResourceSpans{}
	scopes := map[scopeKey]ptrace.ScopeSpans{}
	for bi := range rest {
		for k, o := range rest[bi].Origins {
			if bi == 0 && sent[k] {
				continue
			}
			srcRS := td.ResourceSpans().At(o.Resource)
			srcSS := srcRS.ScopeSpans().At(o.Scope)
			dss, ok := scopes[scopeKey{o.Resource, o.Scope}]
			if !ok {
				drs, ok := resources[o.Resource]
				if !ok {
					drs = out.ResourceSpans().AppendEmpty()
					srcRS.Resource().CopyTo(drs.Resource())
					drs.SetSchemaUrl(srcRS.SchemaUrl())
					resources[o.Resource] = drs
				}
				dss = drs.ScopeSpans().AppendEmpty()
				srcSS.Scope().CopyTo(dss.Scope())
				dss.SetSchemaUrl(srcSS.SchemaUrl())
				scopes[scopeKey{o.Resource, o.Scope}] = dss
			}
			srcSS.Spans().At(o.Span).CopyTo(dss.Spans().AppendEmpty())
		}
	}
	return out
}
