// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"cmp"
	"slices"
)

// A group is the series of one data point, and of every data point with the
// same labels: they share their base labels, and the group is the hash of
// those (the hash Translate shards by and Filter selects by).

// sized is a series with its group and estimated size, for Chunks.
type sized struct {
	s     *Series
	group uint64
	est   int
}

// Chunks splits the shard into parts whose estimated encoded size is at most
// maxBytes, for requests of bounded size. A shard under the limit is returned
// as is. Otherwise its series are ordered by group and cut only between
// groups: all series of a data point travel in one request, so that a retry
// after a failed part can be built from whole data points without sending a
// written series again (Filter, by group). A single group larger than
// maxBytes is a part of its own, over the limit. dst is appended to.
//
// The shard's size was summed while it was built; the per-series sizes are
// only computed here, so that Series stays small for the common case of a
// shard within the limit.
func (sh *Shard) Chunks(maxBytes int, dst []*Shard) []*Shard {
	if sh.est <= maxBytes || len(sh.Series) < 2 {
		return append(dst, sh)
	}
	ss := make([]sized, len(sh.Series))
	var prev []label
	var group uint64
	for i, s := range sh.Series {
		ss[i] = sized{s: s, est: seriesSize(s.name, s.extra) + baseSize(s.base)}
		if len(prev) == 0 || len(s.base) == 0 || &s.base[0] != &prev[0] {
			// The first series of a data point (its derived series share
			// its base) carries the metadata, as in Shard.get.
			prev, group = s.base, hashLabels(s.base)
			ss[i].est += metaSize(s.Meta)
		}
		ss[i].group = group
		for _, x := range s.Samples {
			ss[i].est += sampleSize(x)
		}
		for j := range s.Histograms() {
			ss[i].est += histogramSize(&s.rare.histograms[j])
		}
		ss[i].est += exemplarsSize(s.Exemplars())
	}
	// Stable: series of a group keep their order (a histogram's buckets).
	slices.SortStableFunc(ss, func(a, b sized) int { return cmp.Compare(a.group, b.group) })
	all := make([]*Series, len(ss))
	for i := range ss {
		all[i] = ss[i].s
	}
	part := &Shard{}
	start := 0
	for i := 0; i < len(ss); {
		j, size := i, 0
		for ; j < len(ss) && ss[j].group == ss[i].group; j++ {
			size += ss[j].est
		}
		if i > start && part.est+size > maxBytes {
			part.Series = all[start:i:i]
			dst = append(dst, part)
			part, start = &Shard{}, i
		}
		part.est += size
		i = j
	}
	part.Series = all[start:len(all):len(all)]
	return append(dst, part)
}

// Groups adds the groups of the shard's series to set.
func (sh *Shard) Groups(set map[uint64]struct{}) {
	var prev []label
	for _, s := range sh.Series {
		if len(prev) == 0 || len(s.base) == 0 || &s.base[0] != &prev[0] {
			prev = s.base
			set[hashLabels(s.base)] = struct{}{}
		}
	}
}

// Est is the shard's estimated encoded size in bytes, an upper bound of its
// 1.0 and 2.0 encodings.
func (sh *Shard) Est() int { return sh.est }
