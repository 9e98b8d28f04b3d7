// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/vigil-otel/vigil/extensions/filestoragewrapper/internal/metadatatest"
	"github.com/vigil-otel/vigil/internal/telemetrytest"
	"github.com/vigil-otel/vigil/internal/tmpfs"
)

func TestStoresOnly(t *testing.T) {
	set, get, del := storage.SetOperation("k", []byte("v")), storage.GetOperation("k"), storage.DeleteOperation("k")
	assert.True(t, storesOnly([]*storage.Operation{set}))
	assert.True(t, storesOnly([]*storage.Operation{set, set}))
	assert.False(t, storesOnly([]*storage.Operation{set, get}))
	assert.False(t, storesOnly([]*storage.Operation{set, del}))
	assert.False(t, storesOnly([]*storage.Operation{del}))
	assert.False(t, storesOnly(nil))
}

func TestReserveFor(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	assert.Equal(t, uint64(drainReserve), reserveFor(cfg), "no compaction")
	cfg.Compaction.OnRebound = true
	assert.Equal(t, uint64(drainReserve+10<<20), reserveFor(cfg), "contrib's default trigger, 10 MiB")
}

// TestFullDisk fills a 24 MiB file system through a storage client as a
// persistent queue would (one Set-only batch per item) while nothing
// drains. Writes are refused with errLowSpace, counted, before bbolt meets
// ENOSPC; then every item can still be read and deleted (what draining
// does), compaction gives the space back, and writes are accepted again.
// Without the guard, the deletions themselves fail with ENOSPC.
func TestFullDisk(t *testing.T) {
	dir := tmpfs.Mount(t, 24<<20)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	cfg.Compaction.OnRebound = true
	cfg.Compaction.ReboundNeededThresholdMiB = 4
	cfg.Compaction.ReboundTriggerThresholdMiB = 1
	cfg.Compaction.CheckInterval = 100 * time.Millisecond
	require.NoError(t, confmap.Validate(cfg))
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	c := getClient(t, ext)
	defer func() { require.NoError(t, c.Close(context.Background())) }()
	ctx := context.Background()

	item := make([]byte, 20_000)
	n := 0
	for ; ; n++ {
		k := fmt.Sprint(n)
		err := c.Batch(ctx, storage.SetOperation("meta", []byte(k)), storage.SetOperation(k, item))
		if err != nil {
			require.ErrorIs(t, err, errLowSpace, "refused by the guard, not by the file system")
			require.NotErrorIs(t, err, syscall.ENOSPC)
			break
		}
	}
	require.Positive(t, n)
	assert.Equal(t, int64(1), telemetrytest.CounterSum(t, tel, "otelcol_extension_file_storage_refused_writes"))
	file := filepath.Join(dir, queueOwner)
	full, err := os.Stat(file)
	require.NoError(t, err)
	t.Logf("%d items of %d bytes stored before the guard refused; file %d bytes", n, len(item), full.Size())

	// Drain: read and delete every item, with the bookkeeping update a
	// queue makes at each step.
	for i := range n {
		k := fmt.Sprint(i)
		get := storage.GetOperation(k)
		require.NoError(t, c.Batch(ctx, storage.SetOperation("meta", []byte(k)), get), "reading item %d", i)
		require.Len(t, get.Value, len(item))
		require.NoError(t, c.Batch(ctx, storage.SetOperation("meta", []byte(k)), storage.DeleteOperation(k)), "deleting item %d", i)
	}

	// Compaction gives the space back (it runs every check_interval).
	var size int64
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		info, err := os.Stat(file)
		require.NoError(t, err)
		if size = info.Size(); size < full.Size()/4 {
			break
		}
	}
	require.Less(t, size, full.Size()/4, "file not compacted after the drain")
	t.Logf("after the drain and compaction: file %d bytes", size)
	require.NoError(t, c.Batch(ctx, storage.SetOperation("meta", []byte("x")), storage.SetOperation("x", item)), "writes accepted again")
	err = c.Set(ctx, "y", item)
	require.False(t, errors.Is(err, errLowSpace), "%v", err)
}
