// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
	"github.com/vigil-otel/vigil/exporters/lokiexporter/lokitest"
)

// strictLoki behaves like Loki with unordered_writes off: per stream, an
// entry older than the newest accepted one is refused with a 400. Every
// third request fails with a 503 before looking at the data, so retries
// happen all the time.
type strictLoki struct {
	mu         sync.Mutex
	requests   int
	last       map[string]time.Time
	accepted   map[string]int // line → times accepted
	violations []string
}

func (s *strictLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := lokitest.ReadPush(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.requests%3 == 0 {
		http.Error(w, "ingester unavailable", http.StatusServiceUnavailable)
		return
	}
	for _, st := range req.Streams {
		for _, e := range st.Entries {
			if last, ok := s.last[st.Labels]; ok && e.Timestamp.Before(last) {
				s.violations = append(s.violations, fmt.Sprintf("%s: %s before %s", st.Labels, e.Timestamp, last))
				continue
			}
			s.last[st.Labels] = e.Timestamp
			s.accepted[e.Line]++
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestStreamsStayInOrderAcrossBatchesAndRetries drives the real
// exporterhelper pipeline (queue with batching, retry) with 4 shards against
// a strict Loki that fails a third of all pushes: no stream may ever go
// back in time, and every entry must arrive exactly once.
func TestStreamsStayInOrderAcrossBatchesAndRetries(t *testing.T) {
	t.Parallel()
	fake := &strictLoki{last: map[string]time.Time{}, accepted: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = srv.URL + "/loki/api/v1/push"
	cfg.Shards = 4
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 0 // retry until it works
	q := cfg.QueueConfig.Get()
	batch := q.Batch.Get()
	batch.FlushTimeout = 5 * time.Millisecond
	batch.MinSize = 50
	batch.MaxSize = 300
	q.Batch = configoptional.Some(*batch)
	require.NoError(t, cfg.Validate())

	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	const batches, streams, perStream = 40, 12, 10
	base := time.Now().Add(-time.Hour)
	n := 0
	for b := range batches {
		ld := plog.NewLogs()
		for s := range streams {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", s))
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for i := range perStream {
				lr := lrs.AppendEmpty()
				// Newest first inside a batch: the exporter must sort.
				ts := base.Add(time.Duration(b*perStream+(perStream-1-i)) * time.Millisecond)
				lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
				lr.Body().SetStr(fmt.Sprintf("s%d-b%d-i%d", s, b, i))
				n++
			}
		}
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		fake.mu.Lock()
		got := len(fake.accepted)
		fake.mu.Unlock()
		if got == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, exp.Shutdown(context.Background()))

	fake.mu.Lock()
	defer fake.mu.Unlock()
	assert.Empty(t, fake.violations, "streams went back in time")
	assert.Len(t, fake.accepted, n, "every entry must arrive")
	for line, times := range fake.accepted {
		assert.Equal(t, 1, times, "entry %s accepted %d times", line, times)
	}
	assert.Greater(t, fake.requests, batches/3, "the 503s must have forced retries")
}
