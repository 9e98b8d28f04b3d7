// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// layoutClients returns the wrapper's client and contrib's own client of the same
// component (the second is the first's inner client), so a test can look
// under the layout.
func layoutClients(t testing.TB, dir string) (wrapped, inner storage.Client) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext := startExtension(t, tel, dir)
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, component.MustNewID("otlp"), "traces")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close(context.Background())) })
	lc, ok := c.(*walkerClient)
	require.True(t, ok, "contrib's client walks its keys; the wrapper must keep that")
	return c, lc.Client
}

func TestLayoutCompanions(t *testing.T) {
	ctx := context.Background()
	c, inner := layoutClients(t, t.TempDir())
	large := bytes.Repeat([]byte{'x'}, largeValue)
	small := []byte("meta")

	// A large Set writes its companions, a small one does not; Get through
	// either client returns the value unchanged.
	require.NoError(t, c.Batch(ctx, storage.SetOperation("1", large), storage.SetOperation("qmv0", small)))
	for _, s := range companionSuffixes {
		v, err := inner.Get(ctx, "1"+s)
		require.NoError(t, err)
		assert.NotNil(t, v, "companion %q of a large value", s)
		v, err = inner.Get(ctx, "qmv0"+s)
		require.NoError(t, err)
		assert.Nil(t, v, "a small value has no companion %q", s)
	}
	got, err := c.Get(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, large, got)

	// Get operations in a Batch are filled in place, in order with the rest.
	get := storage.GetOperation("1")
	require.NoError(t, c.Batch(ctx, storage.SetOperation("qmv0", small), get, storage.DeleteOperation("1")))
	assert.Equal(t, large, get.Value)

	// Delete removed the companions with the value.
	for _, s := range companionSuffixes {
		v, err := inner.Get(ctx, "1"+s)
		require.NoError(t, err)
		assert.Nil(t, v, "companion %q after Delete", s)
	}

	// A value written without companions (a file from an older Vigil) is
	// read and deleted as any other.
	require.NoError(t, inner.Set(ctx, "2", large))
	got, err = c.Get(ctx, "2")
	require.NoError(t, err)
	assert.Equal(t, large, got)
	require.NoError(t, c.Delete(ctx, "2"))
	got, err = c.Get(ctx, "2")
	require.NoError(t, err)
	assert.Nil(t, got)
}

func TestLayoutWalkHidesCompanions(t *testing.T) {
	ctx := context.Background()
	c, inner := layoutClients(t, t.TempDir())
	large := bytes.Repeat([]byte{'x'}, 3*largeValue)
	require.NoError(t, c.Set(ctx, "a", large))
	require.NoError(t, c.Set(ctx, "b", []byte("small")))

	var keys []string
	require.NoError(t, c.(storage.Walker).Walk(ctx, func(key string, _ []byte) ([]*storage.Operation, error) {
		keys = append(keys, key)
		if key == "a" {
			return []*storage.Operation{storage.DeleteOperation(key)}, nil
		}
		return nil, nil
	}))
	assert.Equal(t, []string{"a", "b"}, keys)
	var left []string
	require.NoError(t, inner.(storage.Walker).Walk(ctx, func(key string, _ []byte) ([]*storage.Operation, error) {
		left = append(left, key)
		return nil, nil
	}))
	assert.Equal(t, []string{"b"}, left, "deleting through Walk removes the companions too")
}

// BenchmarkQueuePattern replays what exporterhelper's persistent queue does
// per entry (put entry + metadata; metadata + get; metadata + delete) with
// `backlog` entries of 300 KB queued ahead of the reader, through contrib's
// client alone and through the wrapper's.
func BenchmarkQueuePattern(b *testing.B) {
	for _, backlog := range []int{1, 4} {
		for _, layout := range []bool{false, true} {
			b.Run("backlog="+strconv.Itoa(backlog)+"/companions="+strconv.FormatBool(layout), func(b *testing.B) {
				ctx := context.Background()
				c, inner := layoutClients(b, b.TempDir())
				if !layout {
					c = inner
				}
				entry := bytes.Repeat([]byte{'e'}, 300<<10)
				meta := bytes.Repeat([]byte{'m'}, 40)
				w, r := 0, 0
				put := func() {
					require.NoError(b, c.Batch(ctx, storage.SetOperation(strconv.Itoa(w), entry), storage.SetOperation("qmv0", meta)))
					w++
				}
				for range backlog {
					put()
				}
				b.SetBytes(int64(len(entry)))
				b.ResetTimer()
				for range b.N {
					put()
					get := storage.GetOperation(strconv.Itoa(r))
					require.NoError(b, c.Batch(ctx, storage.SetOperation("qmv0", meta), get))
					require.NoError(b, c.Batch(ctx, storage.SetOperation("qmv0", meta), storage.DeleteOperation(strconv.Itoa(r))))
					r++
				}
			})
		}
	}
}

// TestLayoutWritesEachEntryOnce replays the persistent queue's per-entry
// pattern on bbolt directly (the version and options contrib's file_storage
// uses) and compares the pages bbolt allocates, a count that does not
// depend on the machine: without companions every metadata update rewrote
// the queued entries; with them each entry is written about once.
func TestLayoutWritesEachEntryOnce(t *testing.T) {
	const entries, backlog, entrySize = 40, 2, 300 << 10
	pageBytes := func(layout bool) int64 {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "q"), 0o600,
			&bbolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
		require.NoError(t, err)
		defer func() { require.NoError(t, db.Close()) }()
		bucket := []byte("default")
		batch := func(ops ...*storage.Operation) {
			if layout {
				ops = expand(ops)
			}
			require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(bucket)
				if err != nil {
					return err
				}
				for _, op := range ops {
					switch op.Type {
					case storage.Get:
						op.Value = bytes.Clone(b.Get([]byte(op.Key)))
					case storage.Set:
						err = b.Put([]byte(op.Key), op.Value)
					case storage.Delete:
						err = b.Delete([]byte(op.Key))
					}
					if err != nil {
						return err
					}
				}
				return nil
			}))
		}
		entry := bytes.Repeat([]byte{'e'}, entrySize)
		meta := bytes.Repeat([]byte{'m'}, 40)
		w := 0
		put := func() {
			batch(storage.SetOperation(strconv.Itoa(w), entry), storage.SetOperation("qmv0", meta))
			w++
		}
		for range backlog {
			put()
		}
		pageAlloc := func() int64 {
			st := db.Stats()
			return st.TxStats.GetPageAlloc()
		}
		before := pageAlloc()
		for r := range entries {
			put()
			get := storage.GetOperation(strconv.Itoa(r))
			batch(storage.SetOperation("qmv0", meta), get)
			require.Len(t, get.Value, entrySize)
			batch(storage.SetOperation("qmv0", meta), storage.DeleteOperation(strconv.Itoa(r)))
		}
		return pageAlloc() - before
	}
	plain, layout := pageBytes(false), pageBytes(true)
	t.Logf("page bytes allocated per entry: %d without companions, %d with", plain/entries, layout/entries)
	assert.Less(t, layout, plain/2, "companions should at least halve what bbolt writes per entry")
	assert.Less(t, layout/entries, int64(2*entrySize), "with companions an entry is written about once")
}
