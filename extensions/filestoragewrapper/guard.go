// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Why the guard: bbolt writes copy-on-write, so a transaction that deletes
// (a queue item sent) or updates the queue's bookkeeping (an item read)
// needs fresh pages too, often a contiguous run past the end of the file.
// On a file system that the queue itself has filled, those transactions
// fail with ENOSPC like the writes that filled it (measured on an 8 MiB
// tmpfs: after the first refused write, deleting the queued items failed
// from the third one on). The queue then cannot drain, and compaction,
// which copies the live data into a temporary file, cannot run either: the
// disk stays full after the backend is back. So the guard keeps some of the
// file system free for draining: while less than reserve bytes are free, a
// batch that only stores data (no Get, no Delete: the persistent queue's
// Offer, a state save) is refused before bbolt sees it, while reads,
// deletions and compaction go on.

// errLowSpace is what a refused write returns. It is not permanent, so
// the queue's Offer fails and the receiver answers with a retryable error
// (gRPC Unavailable, HTTP 503).
var errLowSpace = errors.New("file system space low: keeping the rest for draining the queue")

// drainReserve is the space kept free for draining alone: bbolt's
// copy-on-write pages for deletions and bookkeeping updates while the
// queue drains, which can be a run of pages as long as two queued items.
const drainReserve = 8 << 20

// reserveFor returns the free space the guard keeps for a configuration:
// the drain reserve, plus, when compaction is on, what compaction copies
// (at most rebound_trigger_threshold_mib of live data, since it starts only
// below that).
func reserveFor(cfg *Config) uint64 {
	r := uint64(drainReserve)
	if c := cfg.Compaction; c != nil && (c.OnRebound || c.OnStart) && c.ReboundTriggerThresholdMiB > 0 {
		r += uint64(c.ReboundTriggerThresholdMiB) << 20
	}
	return r
}

// guardedClient is a contrib storage client whose data-only writes are
// refused while the file system is low on space.
type guardedClient struct {
	storage.Client
	s *sizedStorage
}

var (
	_ storage.Client = (*guardedClient)(nil)
	_ storage.Walker = (*guardedClient)(nil) // as contrib's client is
)

// Walk is contrib's Walk. Its collected operations are not guarded: a
// walk updates or removes what is already stored.
func (c *guardedClient) Walk(ctx context.Context, fn storage.WalkFunc) error {
	w, ok := c.Client.(storage.Walker)
	if !ok {
		return fmt.Errorf("BUG: contrib's file_storage client is a %T, not a storage.Walker", c.Client)
	}
	return w.Walk(ctx, fn)
}

func (c *guardedClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	if err := c.Batch(ctx, op); err != nil {
		return nil, err
	}
	return op.Value, nil
}

func (c *guardedClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *guardedClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Batch refuses a batch that only stores data while the file system has
// less than the reserve free, and otherwise passes it to contrib's client.
func (c *guardedClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if storesOnly(ops) {
		if err := c.s.checkSpace(ctx); err != nil {
			return err
		}
	}
	return c.Client.Batch(ctx, ops...)
}

// storesOnly reports whether ops holds a Set and neither a Get nor a
// Delete.
func storesOnly(ops []*storage.Operation) bool {
	sets := false
	for _, op := range ops {
		switch op.Type {
		case storage.Get, storage.Delete:
			return false
		case storage.Set:
			sets = true
		}
	}
	return sets
}

// spaceGuard is the part of sizedStorage the guard uses.
type spaceGuard struct {
	reserve    uint64
	lowLogged  atomic.Bool
	freeErrLog atomic.Bool
}

// checkSpace returns errLowSpace (wrapped with the figures) when the
// directory's file system has less than the reserve free, counting and
// logging it (the log once per low-space episode).
func (s *sizedStorage) checkSpace(ctx context.Context) error {
	free, ok, err := freeBytes(s.directory)
	if err != nil {
		if !s.guard.freeErrLog.Swap(true) {
			s.telemetry.Logger.Warn("file_storage: cannot read the free space of the directory's file system; writes are not guarded",
				zap.String("directory", s.directory), zap.Error(err))
		}
		return nil
	}
	if !ok || free >= s.guard.reserve {
		if s.guard.lowLogged.Swap(false) {
			s.telemetry.Logger.Info("file_storage: free space is back above the reserve; accepting writes again",
				zap.String("directory", s.directory), zap.Uint64("free_bytes", free), zap.Uint64("reserve_bytes", s.guard.reserve))
		}
		return nil
	}
	s.mu.Lock()
	tb := s.builder
	s.mu.Unlock()
	if tb != nil {
		tb.ExtensionFileStorageRefusedWrites.Add(ctx, 1, metricAttrs(s.id))
	}
	if !s.guard.lowLogged.Swap(true) {
		s.telemetry.Logger.Warn("file_storage: file system nearly full; refusing new data so the queue can still drain and compact",
			zap.String("directory", s.directory), zap.Uint64("free_bytes", free), zap.Uint64("reserve_bytes", s.guard.reserve))
	}
	return fmt.Errorf("%s: %d bytes free, %d kept: %w", s.directory, free, s.guard.reserve, errLowSpace)
}
