// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSeriesIndexMatchesMap runs random puts, gets and deletes against the
// index and a Go map. Keys are drawn from a small range (and masked to few
// low bits half the time) so probe runs collide, wrap around the table end
// and get shifted by deletions.
func TestSeriesIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var x seriesIndex
	ref := map[uint64]int32{}
	for op := range 200_000 {
		key := 1 + rng.Uint64N(3000)
		if rng.IntN(2) == 0 {
			key = key<<32 | 63 // same home slot in any table up to 2^32 entries
		}
		switch rng.IntN(3) {
		case 0:
			x.put(key, int32(op))
			ref[key] = int32(op)
		case 1:
			x.del(key)
			delete(ref, key)
		default:
			got, ok := x.get(key)
			want, wantOK := ref[key]
			require.Equal(t, wantOK, ok, "key %#x", key)
			require.Equal(t, want, got, "key %#x", key)
		}
		require.Equal(t, len(ref), x.len())
	}
	seen := 0
	x.each(func(key uint64, idx int32) {
		seen++
		require.Equal(t, ref[key], idx)
	})
	require.Equal(t, len(ref), seen)
	for key, want := range ref {
		got, ok := x.get(key)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
}

func TestSeriesIndexEmpty(t *testing.T) {
	var x seriesIndex
	_, ok := x.get(42)
	require.False(t, ok)
	x.del(42) // no panic on an empty table
	require.Zero(t, x.len())
}
