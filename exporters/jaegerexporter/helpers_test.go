// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"fmt"

	"github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-otel/vigil/exporters/jaegerexporter/internal/jaegerproto"
)

// resourceBatch is what the collector decodes from one PostSpansRequest,
// with the input resource of its first span.
type resourceBatch struct {
	batch    *model.Batch
	resource int
}

// tracesToBatches runs the exporter's encoder and decodes each request with
// jaeger-idl's own (gogo) unmarshaller, as the Jaeger collector does, so the
// mapping tests assert what Jaeger receives.
func tracesToBatches(td ptrace.Traces) ([]resourceBatch, error) {
	var out []resourceBatch
	for _, b := range jaegerproto.Encode(td, jaegerproto.DefaultOptions()) {
		var req api_v2.PostSpansRequest
		if err := req.Unmarshal(b.AppendRequest(nil, 0, b.NumSpans())); err != nil {
			return nil, fmt.Errorf("resource %d: %w", b.Origins[0].Resource, err)
		}
		out = append(out, resourceBatch{batch: &req.Batch, resource: b.Origins[0].Resource})
	}
	return out, nil
}
