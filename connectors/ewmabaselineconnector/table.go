// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"math"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// This file holds the series table: series keys (hash of rule, metric name
// and identifying attributes), lookup and creation, the seasonal slot table,
// and idle eviction.

// seriesKey hashes the rule, metric name and identifying attributes.
//
// 64 bits: with n series the chance of any collision is about n²/2⁶⁵, 3·10⁻¹⁰
// at 100k series and 3·10⁻⁸ at 1M. A collision makes two series share one
// baseline (wrong numbers for both, never a crash); we accept that for a
// 8-byte key instead of storing label strings per series.
//
// It never returns 0, the index's empty marker.
func seriesKey(r *compiledRule, nameHash, resHash uint64, attrs pcommon.Map, res pcommon.Resource) uint64 {
	h := mix64(r.seed ^ nameHash)
	if len(r.cfg.Attributes) == 0 {
		return max(1, mix64(h+resHash*0x9E3779B97F4A7C15+mix64(mapHash(attrs))*0xC2B2AE3D27D4EB4F))
	}
	for _, k := range r.cfg.Attributes {
		v, ok := attrs.Get(k)
		if !ok {
			v, ok = res.Attributes().Get(k)
		}
		ph := uint64(0x51_7C_C1_B7_27_22_0A_95) // marker for "absent"
		if ok {
			ph = pairHash(k, v)
		}
		h = mix64(h ^ ph)
	}
	return max(1, h)
}

// ruleSeed is the hash of a rule name that starts each of its series keys.
func ruleSeed(name string) uint64 { return xxhash.Sum64String("rule\x00" + name) }

// mapHash is an order-independent hash of a map: the sum of its pair
// hashes, so the same attributes in another order give the same series.
func mapHash(m pcommon.Map) uint64 {
	var h uint64
	for k, v := range m.All() {
		h += pairHash(k, v)
	}
	return h
}

func pairHash(k string, v pcommon.Value) uint64 {
	return mix64(xxhash.Sum64String(k)*0xFF51AFD7ED558CCD ^ valueHash(v))
}

func valueHash(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return xxhash.Sum64String(v.Str())
	case pcommon.ValueTypeInt:
		return mix64(uint64(v.Int()) ^ 1)
	case pcommon.ValueTypeDouble:
		return mix64(math.Float64bits(v.Double()) ^ 2)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return 3
		}
		return 4
	case pcommon.ValueTypeBytes:
		return xxhash.Sum64(v.Bytes().AsRaw()) ^ 5
	case pcommon.ValueTypeEmpty:
		return 6
	}
	// Maps and slices: rare in metric attributes; AsString allocates.
	return xxhash.Sum64String(v.AsString()) ^ 7
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}

// lookup returns the series for key, creating it if there is room.
func (e *engine) lookup(key uint64, ri uint16, dtype uint8) (*series, bool) {
	if idx, ok := e.index.get(key); ok {
		return &e.slab[idx], true
	}
	if e.index.len() >= e.cfg.MaxSeries {
		return nil, false
	}
	var idx int32
	if n := len(e.free); n > 0 {
		idx = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		e.slab = append(e.slab, series{})
		idx = int32(len(e.slab) - 1)
	}
	e.slab[idx] = series{key: key, rule: ri, dtype: dtype, soff: e.allocSlots(e.rules[ri].p.slots)}
	e.index.put(key, idx)
	return &e.slab[idx], true
}

// allocSlots reserves n zeroed seasonal slots and returns the first one's
// index (0 and nothing reserved for n == 0).
func (e *engine) allocSlots(n int) int32 {
	if n == 0 {
		return 0
	}
	if fl := e.freeSlots[n]; len(fl) > 0 {
		off := fl[len(fl)-1]
		e.freeSlots[n] = fl[:len(fl)-1]
		clear(e.slots[off : int(off)+n])
		return off
	}
	off := int32(len(e.slots))
	e.slots = append(e.slots, make([]slot, n)...)
	return off
}

// seasonOf returns the seasonal slots of s (nil without seasonality).
func (e *engine) seasonOf(s *series) []slot {
	n := e.rules[s.rule].p.slots
	if n == 0 {
		return nil
	}
	return e.slots[s.soff : int(s.soff)+n : int(s.soff)+n]
}

// idleIntervals is how many of its own sampling intervals a series may miss
// before it counts as idle, when that is longer than idle_timeout.
const idleIntervals = 3

// evictIdle removes series that received no point for longer than
// max(idle_timeout, idleIntervals × the series' own sampling interval), on
// the wall clock. The interval term keeps a live hourly (or daily) series
// from being evicted between two of its own samples whatever idle_timeout
// says; a series that stopped is evicted after missing a few samples.
func (e *engine) evictIdle() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now().UnixNano()
	timeout := int64(e.cfg.IdleTimeout)
	n := 0
	for i := range e.slab {
		s := &e.slab[i]
		if s.key == 0 && s.lastSeen == 0 {
			continue // free slot
		}
		if now-s.lastSeen > max(timeout, idleIntervals*s.interval) {
			e.index.del(s.key)
			delete(e.alerts, s.key)
			if n := e.rules[s.rule].p.slots; n > 0 {
				e.freeSlots[n] = append(e.freeSlots[n], s.soff)
			}
			*s = series{}
			e.free = append(e.free, int32(i))
			n++
		}
	}
	return n
}
