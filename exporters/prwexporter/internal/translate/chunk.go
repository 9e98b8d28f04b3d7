// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"cmp"
	"slices"
)

// Chunks splits the shard into parts whose estimated encoded size is at most
// maxBytes, for requests of bounded size. A shard under the limit is returned
// as is. Otherwise it is cut only between groups (dpLabels): all series of a
// data point travel in one request, so that a retry after a failed part can
// be built from whole data points without sending a written series again
// (Filter, by group). A single group larger than maxBytes is a part of its
// own, over the limit. dst is appended to.
//
// The shard's size was summed while it was built; the sizes of its series
// are only computed here, so that Series stays small in the common case of
// a shard within the limit.
func (sh *Shard) Chunks(maxBytes int, dst []*Shard) []*Shard {
	if sh.est <= maxBytes || len(sh.Series) < 2 {
		return append(dst, sh)
	}
	series := sh.Series
	if !groupsContiguous(series) {
		// Rare: a group's series were added at different times (the same
		// labels in two data points with different series). Stable keeps
		// the order within a group.
		series = slices.Clone(series)
		slices.SortStableFunc(series, func(a, b *Series) int { return cmp.Compare(a.base.group, b.base.group) })
	}
	part, start := &Shard{}, 0
	for i := 0; i < len(series); {
		g := series[i].base.group
		j, size := i, 0
		var prev *dpLabels
		for ; j < len(series) && series[j].base.group == g; j++ {
			s := series[j]
			if s.base != prev { // a data point's metadata, once
				prev = s.base
				size += metaSize(s.Meta)
			}
			size += s.base.size + s.size()
		}
		if i > start && part.est+size > maxBytes {
			part.Series = series[start:i:i]
			dst = append(dst, part)
			part, start = &Shard{}, i
		}
		part.est += size
		i = j
	}
	part.Series = series[start:len(series):len(series)]
	return append(dst, part)
}

// groupsContiguous reports whether the series of every group are adjacent.
// It looks a group up only where the group changes: once per data point.
func groupsContiguous(series []*Series) bool {
	seen := make(map[uint64]struct{}, len(series)/4)
	for i, s := range series {
		g := s.base.group
		if i > 0 && series[i-1].base.group == g {
			continue
		}
		if _, ok := seen[g]; ok {
			return false
		}
		seen[g] = struct{}{}
	}
	return true
}

// size estimates the series without its data point's labels (s.base.size)
// and metadata.
func (s *Series) size() int {
	n := seriesSize(s.name, s.extra)
	for _, x := range s.Samples {
		n += sampleSize(x)
	}
	if s.rare != nil {
		for i := range s.rare.histograms {
			n += histogramSize(&s.rare.histograms[i])
		}
		n += exemplarsSize(s.rare.exemplars)
	}
	return n
}

// Groups adds the groups of the shard's series to set.
func (sh *Shard) Groups(set map[uint64]struct{}) {
	for _, s := range sh.Series {
		set[s.base.group] = struct{}{}
	}
}
