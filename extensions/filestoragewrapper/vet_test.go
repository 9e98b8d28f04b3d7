// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/vigil-otel/vigil/internal/telemetrytest"
)

const (
	vetKeys    = 2000
	queueOwner = "exporter_otlp__logs" // contrib's file name for the client below
)

func vetValue(key string) []byte { return bytes.Repeat([]byte(key+";"), 100) }

// writeQueueFile fills a storage file through the extension as an
// exporter's queue would, and returns its bytes.
func writeQueueFile(t *testing.T, dir string) []byte {
	t.Helper()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	ext := startExtension(t, tel, dir)
	c := getClient(t, ext)
	for i := range vetKeys {
		k := fmt.Sprintf("%d", i)
		require.NoError(t, c.Set(context.Background(), k, vetValue(k)))
	}
	require.NoError(t, c.Close(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	b, err := os.ReadFile(filepath.Join(dir, queueOwner))
	require.NoError(t, err)
	return b
}

func getClient(t *testing.T, ext component.Component) storage.Client {
	t.Helper()
	c, err := ext.(storage.Extension).GetClient(context.Background(), component.KindExporter, component.MustNewID("otlp"), "logs")
	require.NoError(t, err)
	return c
}

// TestDamagedQueueFile damages a queue file the ways a crash, a full disk
// or a bad block leave one, then starts the extension on it. Without the
// vetting, contrib's open of each damaged file either fails (the exporter
// and so the collector do not start) or kills the process from a
// goroutine of bbolt's (an assertion, SIGSEGV or SIGBUS while bbolt rebuilds
// its free list), on every start. With it the start succeeds, the damaged
// file is moved aside and counted, and the fresh file holds exactly the
// entries that could be read, each with its original value.
func TestDamagedQueueFile(t *testing.T) {
	good := writeQueueFile(t, t.TempDir())
	n := len(good)
	rng := rand.New(rand.NewPCG(1, 2))
	randomize := func(b []byte, from, to int) []byte {
		out := bytes.Clone(b)
		for i := from; i < to; i++ {
			out[i] = byte(rng.UintN(256))
		}
		return out
	}
	tests := []struct {
		name     string
		content  []byte
		damaged  bool
		keepsAll bool
	}{
		{name: "sound", content: good, keepsAll: true},
		{name: "empty", content: nil},
		{name: "truncated_to_one_page", content: good[:4096], damaged: true},
		{name: "truncated_to_two_pages", content: good[:8192], damaged: true},
		{name: "truncated_to_half", content: good[:n/2], damaged: true},
		{name: "truncated_by_a_tenth", content: good[:n*9/10], damaged: true},
		{name: "random_bytes", content: randomize(good, 0, n), damaged: true},
		{name: "random_header", content: randomize(good, 0, 8192), damaged: true},
		{name: "random_middle", content: randomize(good, n/3, n/3+200_000), damaged: true},
		// bbolt keeps two meta pages; one damaged one is not damage.
		{name: "random_first_meta", content: randomize(good, 100, 4096), keepsAll: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, queueOwner), tt.content, 0o600))
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			ext := startExtension(t, tel, dir)
			c := getClient(t, ext)

			kept := 0
			require.NoError(t, c.(storage.Walker).Walk(context.Background(), func(k string, v []byte) ([]*storage.Operation, error) {
				if k == "ri" || k == "wi" { // restoreQueueIndexes
					return nil, nil
				}
				kept++
				assert.Equal(t, vetValue(k), v, "key %s", k)
				return nil, nil
			}))
			// The fresh file works.
			require.NoError(t, c.Set(context.Background(), "after", []byte("x")))
			require.NoError(t, c.Close(context.Background()))
			require.NoError(t, ext.Shutdown(context.Background()))

			aside, err := filepath.Glob(filepath.Join(dir, queueOwner+corruptSuffix+"*"))
			require.NoError(t, err)
			damaged := telemetrytest.CounterSum(t, tel, "otelcol_extension_file_storage_damaged_files")
			salvaged := telemetrytest.CounterSum(t, tel, "otelcol_extension_file_storage_salvaged_entries")
			if !tt.damaged {
				assert.Empty(t, aside)
				assert.Zero(t, damaged)
				if tt.keepsAll {
					assert.Equal(t, vetKeys, kept)
				}
				return
			}
			assert.Len(t, aside, 1, "damaged file moved aside")
			assert.Equal(t, int64(1), damaged)
			assert.Equal(t, int64(kept), salvaged, "salvaged count = entries in the fresh file")
			assert.Less(t, kept, vetKeys)
			t.Logf("kept %d of %d entries", kept, vetKeys)
		})
	}
}

// TestVetLeavesOtherFilesAlone: only files named as contrib names storage
// files are vetted; a file moved aside earlier is not vetted again.
func TestVetLeavesOtherFilesAlone(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "tempdb123", queueOwner + corruptSuffix + "20260101T000000.000Z", queueOwner + ".20260101T000000.000Z.backup"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("not bbolt"), 0o600))
	}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ext := startExtension(t, tel, dir)
	require.NoError(t, ext.Shutdown(context.Background()))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 4)
	assert.Zero(t, telemetrytest.CounterSum(t, tel, "otelcol_extension_file_storage_damaged_files"))
}

func TestIsComponentFile(t *testing.T) {
	for name, want := range map[string]bool{
		"exporter_prometheusremotewrite__metrics":    true,
		"connector_ewma_baseline_":                   true,
		"exporter_loki_x~002Fy_logs":                 true,
		fmt.Sprintf("%064x", 12345):                  true,
		"exporter_loki__logs.corrupt-20260101":       false,
		"exporter_loki__logs.20260101T000000.backup": false,
		"tempdb4711": false,
		"README":     false,
	} {
		assert.Equal(t, want, isComponentFile(name), name)
	}
}

// TestRestoreQueueIndexes: salvaged queue items without the queue's
// bookkeeping get legacy read/write indexes spanning them; anything else is
// left alone.
func TestRestoreQueueIndexes(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		ri, wi uint64
		wrote  bool
	}{
		{name: "items_only", keys: []string{"5", "6", "9"}, ri: 5, wi: 10, wrote: true},
		{name: "items_and_dispatched", keys: []string{"di", "12"}, ri: 12, wi: 13, wrote: true},
		{name: "metadata_survived", keys: []string{"5", "qmv0"}},
		{name: "not_a_queue", keys: []string{"5", "state"}},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := bbolt.Open(filepath.Join(t.TempDir(), "f"), 0o600, nil)
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte("default"))
				require.NoError(t, err)
				for _, k := range tt.keys {
					require.NoError(t, b.Put([]byte(k), []byte("v")))
				}
				return nil
			}))
			require.NoError(t, db.Update(restoreQueueIndexes))
			require.NoError(t, db.View(func(tx *bbolt.Tx) error {
				b := tx.Bucket([]byte("default"))
				ri, wi := b.Get([]byte("ri")), b.Get([]byte("wi"))
				if !tt.wrote {
					assert.Nil(t, ri)
					assert.Nil(t, wi)
					return nil
				}
				assert.Equal(t, tt.ri, binary.LittleEndian.Uint64(ri))
				assert.Equal(t, tt.wi, binary.LittleEndian.Uint64(wi))
				return nil
			}))
		})
	}
}
