// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"fmt"
	"testing"

	"github.com/golang/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// encodedSizes returns the uncompressed 1.0 (with metadata) and 2.0 sizes.
func encodedSizes(t *testing.T, sh *Shard) (v1, v2 int) {
	t.Helper()
	for i, marshal := range []func(*Buffers) ([]byte, error){
		func(b *Buffers) ([]byte, error) { return MarshalV1(sh, true, b) },
		func(b *Buffers) ([]byte, error) { return MarshalV2(sh, b) },
	} {
		body, err := marshal(&Buffers{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := snappy.DecodedLen(body)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			v1 = n
		} else {
			v2 = n
		}
	}
	return v1, v2
}

// checkChunks checks that parts partition the shard's series, that no group
// is split and that every part is within the limit or a single group, and
// that the estimates bound the real encoded sizes.
func checkChunks(t *testing.T, sh *Shard, parts []*Shard, limit int) {
	t.Helper()
	seen := map[*Series]bool{}
	partOf := map[uint64]int{}
	for i, p := range parts {
		groups := map[uint64]bool{}
		for _, s := range p.Series {
			if seen[s] {
				t.Fatalf("series %v in two parts", s.Labels())
			}
			seen[s] = true
			g := hashLabels(s.base.labels)
			if g != s.base.group {
				t.Fatalf("group %x of %v is not the hash of its labels %x", s.base.group, s.Labels(), g)
			}
			groups[g] = true
			if j, ok := partOf[g]; ok && j != i {
				t.Fatalf("group %x split between parts %d and %d", g, j, i)
			}
			partOf[g] = i
		}
		v1, v2 := encodedSizes(t, p)
		if v1 > p.est || v2 > p.est {
			t.Errorf("part %d: encoded %d (1.0) and %d (2.0) bytes, estimate %d is not an upper bound", i, v1, v2, p.est)
		}
		if p.est > limit && len(groups) > 1 {
			t.Errorf("part %d: estimate %d over the limit %d with %d groups", i, p.est, limit, len(groups))
		}
	}
	if len(seen) != len(sh.Series) {
		t.Fatalf("parts hold %d series, the shard %d", len(seen), len(sh.Series))
	}
}

func TestChunks(t *testing.T) {
	t.Parallel()
	res := New(Settings{Shards: 1, TargetInfo: true}).Translate(benchMetrics())
	sh := res.Shards[0]
	v1, v2 := encodedSizes(t, sh)
	if v1 > sh.est || v2 > sh.est {
		t.Fatalf("encoded %d (1.0) and %d (2.0) bytes, estimate %d is not an upper bound", v1, v2, sh.est)
	}
	t.Logf("%d series: estimate %d bytes, 1.0 %d, 2.0 %d", len(sh.Series), sh.est, v1, v2)
	// Typical data: the estimate is close enough that requests are not
	// much smaller than the limit.
	if float64(sh.est) > 1.4*float64(v1) {
		t.Errorf("estimate %d is more than 1.4 times the 1.0 size %d", sh.est, v1)
	}
	if got := sh.Chunks(sh.est, nil); len(got) != 1 || got[0] != sh {
		t.Fatalf("a shard within the limit was split into %d parts", len(got))
	}
	for _, limit := range []int{sh.est - 1, 64 << 10, 4096, 1} {
		parts := sh.Chunks(limit, nil)
		if len(parts) < 2 {
			t.Fatalf("limit %d: %d parts of a %d-byte shard", limit, len(parts), sh.est)
		}
		checkChunks(t, sh, parts, limit)
	}
	// A shard with native histograms, exemplars and target_info.
	rare := sampleShard(t)
	checkChunks(t, rare, rare.Chunks(1, nil), 1)
}

// TestChunksKeepScatteredGroupsWhole: the same labels in two data points
// whose series differ (a histogram whose buckets changed) put series of one
// group apart in the shard; Chunks must still send the group in one part.
func TestChunksKeepScatteredGroupsWhole(t *testing.T) {
	t.Parallel()
	md := pmetric.NewMetrics()
	hist := func(ts pcommon.Timestamp, bounds ...float64) {
		dp := cumulativeHistogram(md, "lat", "s")
		dp.SetTimestamp(ts)
		dp.SetStartTimestamp(start)
		dp.SetCount(3)
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(make([]uint64, len(bounds)+1))
	}
	hist(ts0, 1)
	for i := range 20 {
		g := newMetric(md, fmt.Sprintf("g%d", i), "").SetEmptyGauge().DataPoints().AppendEmpty()
		g.SetTimestamp(ts0)
		g.SetDoubleValue(1)
	}
	hist(ts0+1e9, 1, 2) // adds lat_bucket{le="2"} at the end of the shard
	sh := New(Settings{Shards: 1}).Translate(md).Shards[0]
	if groupsContiguous(sh.Series) {
		t.Fatal("the test data should scatter the histogram's group")
	}
	for _, limit := range []int{1, 600, 2000} {
		checkChunks(t, sh, sh.Chunks(limit, nil), limit)
	}
}
