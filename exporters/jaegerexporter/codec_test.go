// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestRawCodec(t *testing.T) {
	t.Parallel()
	c := rawCodec{}
	assert.Equal(t, "proto", c.Name())

	msg := rawMessage{[]byte{1, 2}, []byte{3}, nil}
	out, err := c.Marshal(&msg)
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, out.Materialize())

	_, err = c.Marshal("not a raw message")
	require.EqualError(t, err, "jaeger exporter codec: cannot marshal string")

	// An empty response, and one with a field a newer server might add.
	require.NoError(t, c.Unmarshal(nil, &emptyResponse{}))
	withField := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "future")
	require.NoError(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(withField)}, &emptyResponse{}))

	// Malformed bytes are an error, not a panic.
	require.ErrorContains(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x05, 'x'})}, &emptyResponse{}), "bad response")
	require.ErrorContains(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff})}, &emptyResponse{}), "bad response")
	require.EqualError(t, c.Unmarshal(nil, new(int)), "jaeger exporter codec: cannot unmarshal into *int")
}
