// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter // import "github.com/vigil-otel/vigil/exporters/jaegerexporter"

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawMessage is a PostSpansRequest already encoded by jaegerproto, in
// pieces that are sent one after the other (no copy into one buffer).
type rawMessage [][]byte

// emptyResponse stands for PostSpansResponse, which has no fields.
type emptyResponse struct{}

// rawCodec sends pre-encoded protobuf bytes and accepts the (empty)
// PostSpansResponse. It is named "proto" so the wire content type stays
// application/grpc+proto, which the Jaeger collector decodes as usual.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("jaeger exporter codec: cannot marshal %T", v)
	}
	out := make(mem.BufferSlice, 0, len(*m))
	for _, p := range *m {
		out = append(out, mem.SliceBuffer(p))
	}
	return out, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(*emptyResponse); !ok {
		return fmt.Errorf("jaeger exporter codec: cannot unmarshal into %T", v)
	}
	// PostSpansResponse has no fields; a newer server may add some, which
	// proto3 lets a reader skip. Only check that the bytes are well formed.
	b := data.Materialize()
	for len(b) > 0 {
		_, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("jaeger exporter codec: bad response: %w", protowire.ParseError(n))
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(0, typ, b)
		if m < 0 {
			return fmt.Errorf("jaeger exporter codec: bad response: %w", protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}
