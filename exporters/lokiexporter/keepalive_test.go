// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-otel/vigil/internal/keepalive/keepalivetest"
)

// TestConnectionsAreReused: every shard keeps its connection between pushes
// (net/http keeps only 2 idle per host unless told otherwise).
func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	srv, conns := keepalivetest.NewServer(t)
	const shards = 6
	e := newTestExporter(t, srv.URL, nil, func(c *Config) { c.Shards = shards })
	var rs []res
	for i := range 60 {
		rs = append(rs, res{attrs: map[string]any{"service.name": fmt.Sprintf("svc%d", i)}, records: []rec{{body: "x", ts: t0}}})
	}
	for i := range 5 {
		for j := range rs {
			rs[j].records[0].ts = t0.Add(time.Duration(i) * time.Second)
		}
		require.NoError(t, e.pushLogs(context.Background(), makeLogs(t, rs...)))
	}
	// A push can start a moment before another shard's connection is back
	// in the pool, which dials one more; without reuse most pushes dialled.
	assert.LessOrEqual(t, conns(), 2*shards, "connections opened for 5 batches of %d shards", shards)
}
