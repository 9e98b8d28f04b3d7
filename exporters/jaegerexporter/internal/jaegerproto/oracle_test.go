// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerproto

import (
	"fmt"
	"strconv"

	"github.com/jaegertracing/jaeger-idl/model/v1"
	jaegertranslator "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/jaeger"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// This file is the reference the encoder is held to: contrib's
// pkg/translator/jaeger (ProtoFromTraces, jaeger-idl model structs, gogo
// marshalling) plus the thin layer that adds what contrib leaves out. It was
// the exporter's first implementation; the direct encoder replaced it because
// it measured several times faster (see encode.go).

// Tag keys that the upstream translator does not emit. The dropped-count keys
// are the ones the OpenTelemetry specification names for non-OTLP exporters
// ("otel.dropped_attributes_count", "otel.dropped_events_count",
// "otel.dropped_links_count"). Jaeger's SpanRef has no attributes, so link
// attributes are carried as span tags under "otel.link.<i>." where <i> is the
// link's index in the OTLP span (the same order as the FOLLOWS_FROM references
// that follow the CHILD_OF parent reference).
const (
	tagDroppedAttributes = KeyDroppedAttrs
	tagDroppedEvents     = KeyDroppedEvents
	tagDroppedLinks      = KeyDroppedLinks
	tagLinkPrefix        = KeyLinkPrefix
)

// resourceBatch is one Jaeger batch plus the index of the OTLP ResourceSpans
// it came from, so that a failed send can hand exactly the unsent resources
// back to the retry logic.
type refBatch struct {
	batch    *model.Batch
	resource int
	spans    int
}

// tracesToBatches translates OTLP traces into one Jaeger Batch per resource.
//
// The mapping is contrib's pkg/translator/jaeger (ProtoFromTraces): service
// name and process tags, CHILD_OF/FOLLOWS_FROM references, span kind, status
// (otel.status_code, otel.status_description, error=true), events as logs,
// scope name/version, w3c.tracestate, all attribute types (arrays and maps as
// JSON strings). It produces jaeger-idl v0.14.0 model types directly. On top
// of it this thin layer adds what the upstream translator leaves out: link
// attributes (and link trace state / dropped counts), the span, event and
// resource dropped counts, and it omits batches without spans.
//
// The upstream translator returns nil for (and skips) a ResourceSpans without
// attributes and without scopes, and emits every span of a resource in scope
// order; walking the pdata in the same order lines the two up. A mismatch is
// reported as an error rather than guessed at.
func referenceBatches(td ptrace.Traces) ([]refBatch, error) {
	batches := jaegertranslator.ProtoFromTraces(td)
	out := make([]refBatch, 0, len(batches))
	rss := td.ResourceSpans()
	bi := 0
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if rs.Resource().Attributes().Len() == 0 && rs.ScopeSpans().Len() == 0 {
			continue // skipped upstream
		}
		if bi >= len(batches) {
			return nil, fmt.Errorf("jaeger translation: %d batches for more resources", len(batches))
		}
		b := batches[bi]
		bi++
		if err := addMissingFields(rs, b); err != nil {
			return nil, err
		}
		if len(b.Spans) == 0 {
			continue
		}
		out = append(out, refBatch{batch: b, resource: i, spans: len(b.Spans)})
	}
	if bi != len(batches) {
		return nil, fmt.Errorf("jaeger translation: %d batches for %d resources", len(batches), bi)
	}
	return out, nil
}

func addMissingFields(rs ptrace.ResourceSpans, b *model.Batch) error {
	if n := rs.Resource().DroppedAttributesCount(); n > 0 && b.Process != nil {
		b.Process.Tags = append(b.Process.Tags, model.Int64(tagDroppedAttributes, int64(n)))
	}
	si := 0
	sss := rs.ScopeSpans()
	for i := 0; i < sss.Len(); i++ {
		spans := sss.At(i).Spans()
		for j := 0; j < spans.Len(); j++ {
			if si >= len(b.Spans) {
				return fmt.Errorf("jaeger translation: %d spans for more OTLP spans", len(b.Spans))
			}
			addSpanFields(spans.At(j), b.Spans[si])
			si++
		}
	}
	if si != len(b.Spans) {
		return fmt.Errorf("jaeger translation: %d spans for %d OTLP spans", len(b.Spans), si)
	}
	return nil
}

func addSpanFields(span ptrace.Span, js *model.Span) {
	if n := span.DroppedAttributesCount(); n > 0 {
		js.Tags = append(js.Tags, model.Int64(tagDroppedAttributes, int64(n)))
	}
	if n := span.DroppedEventsCount(); n > 0 {
		js.Tags = append(js.Tags, model.Int64(tagDroppedEvents, int64(n)))
	}
	if n := span.DroppedLinksCount(); n > 0 {
		js.Tags = append(js.Tags, model.Int64(tagDroppedLinks, int64(n)))
	}
	links := span.Links()
	for i := 0; i < links.Len(); i++ {
		l := links.At(i)
		if l.Attributes().Len() == 0 && l.TraceState().AsRaw() == "" && l.DroppedAttributesCount() == 0 {
			continue
		}
		prefix := tagLinkPrefix + strconv.Itoa(i) + "."
		js.Tags = append(js.Tags,
			model.String(prefix+"trace_id", l.TraceID().String()),
			model.String(prefix+"span_id", l.SpanID().String()))
		for k, v := range l.Attributes().All() {
			js.Tags = append(js.Tags, valueToTag(prefix+"attributes."+k, v))
		}
		if ts := l.TraceState().AsRaw(); ts != "" {
			js.Tags = append(js.Tags, model.String(prefix+"trace_state", ts))
		}
		if n := l.DroppedAttributesCount(); n > 0 {
			js.Tags = append(js.Tags, model.Int64(prefix+"dropped_attributes_count", int64(n)))
		}
	}
	events := span.Events()
	if events.Len() == len(js.Logs) {
		for i := 0; i < events.Len(); i++ {
			if n := events.At(i).DroppedAttributesCount(); n > 0 {
				js.Logs[i].Fields = append(js.Logs[i].Fields, model.Int64(tagDroppedAttributes, int64(n)))
			}
		}
	}
}

// valueToTag converts an attribute with the same rules as the upstream
// translator (whose helper is unexported).
func valueToTag(key string, v pcommon.Value) model.KeyValue {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return model.Int64(key, v.Int())
	case pcommon.ValueTypeBool:
		return model.Bool(key, v.Bool())
	case pcommon.ValueTypeDouble:
		return model.Float64(key, v.Double())
	case pcommon.ValueTypeBytes:
		return model.Binary(key, v.Bytes().AsRaw())
	default: // string, and maps/slices as JSON
		return model.String(key, v.AsString())
	}
}
