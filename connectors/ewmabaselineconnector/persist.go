// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// State persistence: the whole table is one value under stateKey in the
// storage extension, in a small versioned binary format (little endian):
//
//	"EWB1" u32 nrules { str name, u64 fingerprint }
//	u32 nseries { u16 rule, u64 key, i64 lastTS firstTS since prevTS prevStart,
//	  f64 mean vari prev prev2, u32 samples, u8 state dtype hasPrev,
//	  u16 nslots { f64 mean vari, i64 lastTau, u32 samples, f32 weight },
//	  u8 hasAlert [ i64 startsAt, u16 nlabels { str k, str v } ] }
//	str = u32 len + bytes
//
// A rule is matched on restore by name and fingerprint (what selects and
// derives its values); series of rules that changed are dropped, not reused.

const (
	stateKey   = "ewma_baseline_state"
	stateMagic = "EWB1"
	// maxStateStrLen bounds a decoded string (labels) so corrupt input cannot
	// ask for a huge allocation.
	maxStateStrLen = 1 << 16
)

func ruleFingerprint(r *RuleConfig) uint64 {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\x00%s\x00%s\x00%s", r.Metric, r.MetricRegex, r.Value, strings.Join(r.Attributes, "\x01"))
	if r.Seasonality.HasValue() {
		s := r.Seasonality.Get()
		fmt.Fprintf(&sb, "\x00%d\x00%d", s.Period, s.Slots)
	}
	return xxhash.Sum64String(sb.String())
}

type encoder struct{ b []byte }

func (w *encoder) u8(v uint8)    { w.b = append(w.b, v) }
func (w *encoder) u16(v uint16)  { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *encoder) u32(v uint32)  { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *encoder) u64(v uint64)  { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *encoder) i64(v int64)   { w.u64(uint64(v)) }
func (w *encoder) f64(v float64) { w.u64(math.Float64bits(v)) }
func (w *encoder) str(s string)  { w.u32(uint32(len(s))); w.b = append(w.b, s...) }

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// encodeState serializes the table. Called with e.mu held.
func (e *engine) encodeState() []byte {
	w := &encoder{b: make([]byte, 0, 64+e.index.len()*128)}
	w.b = append(w.b, stateMagic...)
	w.u32(uint32(len(e.rules)))
	for i := range e.rules {
		w.str(e.rules[i].cfg.Name)
		w.u64(ruleFingerprint(e.rules[i].cfg))
	}
	w.u32(uint32(e.index.len()))
	e.index.each(func(_ uint64, idx int32) {
		s := &e.slab[idx]
		w.u16(s.rule)
		w.u64(s.key)
		w.i64(s.lastTS)
		w.i64(s.firstTS)
		w.i64(s.since)
		w.i64(s.prevTS)
		w.i64(s.prevStart)
		w.f64(s.g.mean)
		w.f64(s.g.vari)
		w.f64(s.prev)
		w.f64(s.prev2)
		w.u32(s.samples)
		w.u8(uint8(s.state))
		w.u8(s.dtype)
		w.u8(boolByte(s.hasPrev))
		seasonal := e.seasonOf(s)
		w.u16(uint16(len(seasonal)))
		for _, sl := range seasonal {
			w.f64(sl.mean)
			w.f64(sl.vari)
			w.i64(sl.lastTau)
			w.u32(sl.samples)
			w.u32(math.Float32bits(sl.weight))
		}
		info, ok := e.alerts[s.key]
		w.u8(boolByte(ok))
		if ok {
			w.i64(info.startsAt.UnixNano())
			keys := make([]string, 0, len(info.labels))
			for k := range info.labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			w.u16(uint16(len(keys)))
			for _, k := range keys {
				w.str(k)
				w.str(info.labels[k])
			}
		}
	})
	return w.b
}

var errShortState = errors.New("state is truncated")

type decoder struct {
	b   []byte
	err error
}

func (r *decoder) take(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = errShortState
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *decoder) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *decoder) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *decoder) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *decoder) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
func (r *decoder) i64() int64   { return int64(r.u64()) }
func (r *decoder) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *decoder) str() string {
	n := r.u32()
	if n > maxStateStrLen {
		r.err = fmt.Errorf("state string of %d bytes exceeds %d", n, maxStateStrLen)
		return ""
	}
	return string(r.take(int(n)))
}

// decodeState restores a table written by encodeState into e, which must be
// empty. Records of unknown or changed rules, records that would exceed
// max_series, and records with impossible values are dropped. It returns the
// number of restored series. Called with e.mu held.
func (e *engine) decodeState(data []byte) (int, error) {
	r := &decoder{b: data}
	if string(r.take(len(stateMagic))) != stateMagic {
		return 0, errors.New("state has an unknown format (bad magic)")
	}
	nrules := r.u32()
	if nrules > maxRules {
		return 0, fmt.Errorf("state lists %d rules, more than %d", nrules, maxRules)
	}
	ruleMap := make([]int, nrules) // persisted index → current index, -1 if gone
	for i := range ruleMap {
		name, fp := r.str(), r.u64()
		ruleMap[i] = -1
		for j := range e.rules {
			if e.rules[j].cfg.Name == name && ruleFingerprint(e.rules[j].cfg) == fp {
				ruleMap[i] = j
			}
		}
	}
	n := r.u32()
	now := e.now()
	restored := 0
	var slotBuf [maxSeasonSlots]slot
	for i := uint32(0); i < n && r.err == nil; i++ {
		var s series
		var seasonal []slot
		ri := r.u16()
		s.key = r.u64()
		s.lastTS, s.firstTS, s.since, s.prevTS, s.prevStart = r.i64(), r.i64(), r.i64(), r.i64(), r.i64()
		s.g.mean, s.g.vari, s.prev, s.prev2 = r.f64(), r.f64(), r.f64(), r.f64()
		s.samples = r.u32()
		s.state, s.dtype, s.hasPrev = alertState(r.u8()), r.u8(), r.u8() == 1
		nslots := int(r.u16())
		if nslots > 0 {
			if nslots > maxSeasonSlots {
				return restored, fmt.Errorf("state series has %d seasonal slots, more than %d", nslots, maxSeasonSlots)
			}
			if len(r.b) < nslots*32 {
				return restored, errShortState
			}
			seasonal = slotBuf[:nslots]
			for j := range seasonal {
				sl := &seasonal[j]
				sl.mean, sl.vari, sl.lastTau, sl.samples = r.f64(), r.f64(), r.i64(), r.u32()
				sl.weight = math.Float32frombits(r.u32())
			}
		}
		var info *alertInfo
		if r.u8() == 1 {
			info = &alertInfo{startsAt: time.Unix(0, r.i64()), labels: map[string]string{}}
			nl := int(r.u16())
			for j := 0; j < nl && r.err == nil; j++ {
				k := r.str()
				info.labels[k] = r.str()
			}
		}
		if r.err != nil {
			break
		}
		if s.key == 0 || int(ri) >= len(ruleMap) || ruleMap[ri] < 0 || !validRestored(&s, seasonal) {
			continue
		}
		cur := ruleMap[ri]
		if want := e.rules[cur].p.slots; len(seasonal) != want {
			continue
		}
		if _, dup := e.index.get(s.key); dup || e.index.len() >= e.cfg.MaxSeries {
			continue
		}
		s.rule = uint16(cur)
		s.lastSeen = now.UnixNano()
		s.soff = e.allocSlots(len(seasonal))
		copy(e.slots[s.soff:], seasonal)
		e.slab = append(e.slab, s)
		e.index.put(s.key, int32(len(e.slab)-1))
		if info != nil && e.am != nil && s.state == stateFiring {
			info.lastSent = time.Time{} // re-send at the next sweep
			e.alerts[s.key] = info
		}
		restored++
	}
	if r.err != nil {
		return restored, r.err
	}
	return restored, nil
}

// validRestored rejects records no running engine could have written, so a
// corrupt file cannot put NaN into a baseline.
func validRestored(s *series, seasonal []slot) bool {
	if !finite(s.g.mean) || !finite(s.g.vari) || s.g.vari < 0 || !finite(s.prev) || !finite(s.prev2) || s.state > stateFiring {
		return false
	}
	for i := range seasonal {
		sl := &seasonal[i]
		if !finite(sl.mean) || !finite(sl.vari) || sl.vari < 0 || !(sl.weight >= 0 && sl.weight <= 1) {
			return false
		}
	}
	return true
}
