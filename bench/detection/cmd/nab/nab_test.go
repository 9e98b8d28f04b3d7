// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRankScores(t *testing.T) {
	t.Parallel()
	got := rankScores([][]float64{{3, math.NaN(), 1}, {3, 2}})
	// Over {1, 2, 3, 3}: (1 + scores strictly below) / 4; NaN → 0.
	assert.Equal(t, [][]float64{{0.75, 0, 0.25}, {0.75, 0.5}}, got)
}

func TestPlainEWMAScores(t *testing.T) {
	t.Parallel()
	ts := []int64{0, 1e9, 2e9, 3e9}
	assert.Equal(t, []float64{0, 0, 0, 0}, plainEWMAScores(ts, []float64{5, 5, 5, 5}, time.Hour), "flat: σ = 0 and x = μ")
	got := plainEWMAScores(ts, []float64{5, 5, 7, 5}, time.Hour)
	assert.True(t, math.IsInf(got[2], 1), "a change after a flat start has σ = 0")
	assert.Greater(t, got[3], 0.0)
	assert.Less(t, got[3], got[2])

	// One step of known size: after x0 = 0, x1 = 2 with α = 1 − e^(−1)
	// the variance is (1 − α)·α·4 and the mean α·2, so x2 = 2 scores
	// (2 − 2α) / √((1 − α)·α·4).
	a := -math.Expm1(-1)
	z := plainEWMAScores([]int64{0, 3600e9, 7200e9}, []float64{0, 2, 2}, time.Hour)
	assert.InDelta(t, (2-2*a)/math.Sqrt((1-a)*a*4), z[2], 1e-12)
}

// fakeNAB writes a NAB-shaped tree (made-up data, not NAB's) into dir.
func fakeNAB(t *testing.T, dir string, labels string) {
	t.Helper()
	for _, c := range categories {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "data", c), 0o755))
		csv := "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2.5\n2014-01-01 00:10:00,3\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "data", c, "s.csv"), []byte(csv), 0o644))
	}
	// A category the runner must never read.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data", "realTweets"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "realTweets", "x.csv"), []byte("broken"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "labels"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "labels", "combined_windows.json"), []byte(labels), 0o644))
}

func TestLoadCorpus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakeNAB(t, dir, `{
		"realAWSCloudwatch/s.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000"]],
		"realKnownCause/s.csv": [], "artificialNoAnomaly/s.csv": [], "artificialWithAnomaly/s.csv": [],
		"realTweets/x.csv": []}`)
	files, err := loadCorpus(dir)
	require.NoError(t, err)
	require.Len(t, files, 4)
	f := files[0]
	assert.Equal(t, "realAWSCloudwatch/s.csv", f.rel)
	assert.Equal(t, []float64{1, 2.5, 3}, f.values)
	assert.Equal(t, []string{"1", "2.5", "3"}, f.valText)
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	assert.Equal(t, [][2]int64{{t0 + int64(5*time.Minute), t0 + int64(10*time.Minute)}}, f.windows)
	assert.False(t, f.inWindow(f.ts[0]))
	assert.True(t, f.inWindow(f.ts[1]))
	assert.True(t, f.inWindow(f.ts[2]))
	for _, f := range files {
		assert.NotEqual(t, "realTweets", f.category)
	}
}

func TestLoadCorpusNeedsLabels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakeNAB(t, dir, `{"realAWSCloudwatch/s.csv": []}`)
	_, err := loadCorpus(dir)
	require.ErrorContains(t, err, "no entry for realKnownCause/s.csv")
}
