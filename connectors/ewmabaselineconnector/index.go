// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

// seriesIndex maps a series key to its slot in engine.slab: an open-addressing
// table with linear probing over 16-byte entries.
//
// Why not a Go map: the keys are already uniformly mixed 64-bit hashes, so the
// table needs no hash function, and a lookup touches one entry (one cache
// line, usually) where the map's swiss table reads a control word and then a
// slot in another line. With 100k series the index does not fit in cache and
// these misses were ~12% of the CPU per point (BenchmarkConsume).
//
// Key 0 marks an empty entry; seriesKey never returns 0.
type seriesIndex struct {
	ents []indexEnt // len is 0 or a power of two
	n    int
}

type indexEnt struct {
	key uint64
	idx int32
}

// maxLoad is the highest fill, in 1/16, before the table doubles: 13/16
// keeps a successful probe under ~3 entries on average.
const maxLoad = 13

func (x *seriesIndex) len() int { return x.n }

func (x *seriesIndex) get(key uint64) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := uint64(len(x.ents) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		e := &x.ents[i]
		if e.key == key {
			return e.idx, true
		}
		if e.key == 0 {
			return 0, false
		}
	}
}

// put inserts or updates key.
func (x *seriesIndex) put(key uint64, idx int32) {
	if (x.n+1)*16 > len(x.ents)*maxLoad {
		x.grow()
	}
	mask := uint64(len(x.ents) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		e := &x.ents[i]
		if e.key == key {
			e.idx = idx
			return
		}
		if e.key == 0 {
			*e = indexEnt{key: key, idx: idx}
			x.n++
			return
		}
	}
}

func (x *seriesIndex) grow() {
	old := x.ents
	x.ents = make([]indexEnt, max(64, 2*len(old)))
	x.n = 0
	for _, e := range old {
		if e.key != 0 {
			x.put(e.key, e.idx)
		}
	}
}

// del removes key, shifting later entries of its probe run back so that
// no tombstones are needed.
func (x *seriesIndex) del(key uint64) {
	if x.n == 0 {
		return
	}
	mask := uint64(len(x.ents) - 1)
	i := key & mask
	for ; x.ents[i].key != key; i = (i + 1) & mask {
		if x.ents[i].key == 0 {
			return
		}
	}
	// Backward-shift deletion (Knuth 6.4, algorithm R).
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := x.ents[j]
		if e.key == 0 {
			break
		}
		// e may move to the hole at i unless its home lies cyclically in (i, j].
		home := e.key & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.ents[i] = e
			i = j
		}
	}
	x.ents[i] = indexEnt{}
	x.n--
}

// each calls f for every entry, in table order.
func (x *seriesIndex) each(f func(key uint64, idx int32)) {
	for _, e := range x.ents {
		if e.key != 0 {
			f(e.key, e.idx)
		}
	}
}
