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
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// State persistence: the whole table is one value under stateKey in the
// storage extension, in a small versioned binary format (little endian):
//
//	"EWB5" u64 keyCheck u32 nrules { str name, u64 fingerprint }
//	u32 nseries { u16 rule, u64 key, i64 lastTS firstTS since prevTS prevStart interval,
//	  f64 mean vari weight resolution lastX tail prev prev2, u32 samples, u8 state dtype hasPrev, i8 adopt, u16 supp,
//	  u8 quant (not in EWB4), f32 cusUp cusDown cusVar,
//	  u16 nslots { f64 offset, u32 samples },
//	  u8 hasAlert [ i64 startsAt, u16 nlabels { str k, str v } ] }
//	str = u32 len + bytes
//
// The version covers everything a saved series depends on: the layout of the
// statistics (EWB1 held per-slot mean/variance of the statistics before the
// robust detector; EWB2 had no score-suppression counter and adoption flag; EWB3 no drift and
// variance CUSUMs; EWB4 no whole-count flag, which is the one difference
// from EWB5, so an EWB4 file is still read: its series' flag starts
// unknown and is set again by their next increment) and the series key. keyCheck is seriesKey of a fixed probe
// series (keyCheckValue): if the key hash ever changes, saved keys would no
// longer match their series, so a file whose keyCheck differs is discarded
// as a whole (TestSeriesKeyPinned pins both). A file of another version is
// discarded too, with a logged reason and a count in state_persist_errors:
// the statistics differ, so migrating would only carry wrong baselines over;
// the cost is one warm-up.
//
// A rule is matched on restore by name and fingerprint (what selects and
// derives its values); series of rules that changed are dropped, not reused.

const (
	stateKey   = "ewma_baseline_state"
	stateMagic = "EWB5"
	// stateMagicV4 is the previous format, still read (see above).
	stateMagicV4 = "EWB4"
	// maxStateStrLen bounds a decoded string (labels) so corrupt input cannot
	// ask for a huge allocation.
	maxStateStrLen = 1 << 16
	// slotRecordSize is the encoded size of one seasonal slot.
	slotRecordSize = 12
)

// errStateVersion reports a saved state of another format version.
var errStateVersion = errors.New("saved state has another format version")

// keyCheckValue is seriesKey of the probe series: rule "probe", metric
// "probe.metric", attributes {k: "v", n: 1}, all attributes identifying.
func keyCheckValue() uint64 {
	r := &compiledRule{cfg: &RuleConfig{}, seed: ruleSeed("probe")}
	attrs := pcommon.NewMap()
	attrs.PutStr("k", "v")
	attrs.PutInt("n", 1)
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "probe")
	return seriesKey(r, xxhash.Sum64String("probe.metric"), mapHash(res.Attributes()), attrs, res)
}

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

// The fixed-size writers take several values, so that encodeState can write
// a group of fields on one line, as decodeState reads it.
func (w *encoder) u8(vs ...uint8) { w.b = append(w.b, vs...) }
func (w *encoder) u16(v uint16)   { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *encoder) u32(v uint32)   { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *encoder) u64(v uint64)   { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *encoder) str(s string)   { w.u32(uint32(len(s))); w.b = append(w.b, s...) }

func (w *encoder) i64(vs ...int64) {
	for _, v := range vs {
		w.u64(uint64(v))
	}
}

func (w *encoder) f64(vs ...float64) {
	for _, v := range vs {
		w.u64(math.Float64bits(v))
	}
}

func (w *encoder) f32(vs ...float32) {
	for _, v := range vs {
		w.u32(math.Float32bits(v))
	}
}

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
	w.u64(keyCheckValue())
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
		w.i64(s.lastTS, s.firstTS, s.since, s.prevTS, s.prevStart, s.interval)
		w.f64(s.g.mean, s.g.vari, s.weight, s.resolution, s.lastX, s.tail)
		w.f64(s.prev, s.prev2)
		w.u32(s.samples)
		w.u8(uint8(s.state), s.dtype, boolByte(s.hasPrev))
		w.u8(uint8(s.adopt))
		w.u16(s.supp)
		w.u8(s.quant)
		w.f32(s.cusUp, s.cusDown, s.cusVar)
		seasonal := e.seasonOf(s)
		w.u16(uint16(len(seasonal)))
		for _, sl := range seasonal {
			w.f64(sl.offset)
			w.u32(sl.samples)
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
func (r *decoder) f32() float32 { return math.Float32frombits(r.u32()) }

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
	v4 := false
	switch magic := string(r.take(len(stateMagic))); {
	case magic == stateMagic:
	case magic == stateMagicV4:
		v4 = true
	case len(magic) == len(stateMagic) && strings.HasPrefix(magic, "EWB"):
		return 0, fmt.Errorf("%w: %q, this version reads %q; discarded, baselines start a new warm-up", errStateVersion, magic, stateMagic)
	default:
		return 0, errors.New("state has an unknown format (bad magic)")
	}
	if got, want := r.u64(), keyCheckValue(); got != want {
		return 0, fmt.Errorf("%w: series key hash check %016x, this version computes %016x; discarded, baselines start a new warm-up", errStateVersion, got, want)
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
		s.lastTS, s.firstTS, s.since, s.prevTS, s.prevStart, s.interval = r.i64(), r.i64(), r.i64(), r.i64(), r.i64(), r.i64()
		s.g.mean, s.g.vari, s.weight, s.resolution, s.lastX, s.tail = r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64()
		s.prev, s.prev2 = r.f64(), r.f64()
		s.samples = r.u32()
		s.state, s.dtype, s.hasPrev = alertState(r.u8()), r.u8(), r.u8() == 1
		s.adopt = int8(r.u8())
		s.supp = r.u16()
		if !v4 {
			s.quant = r.u8()
		}
		s.cusUp, s.cusDown, s.cusVar = r.f32(), r.f32(), r.f32()
		nslots := int(r.u16())
		if nslots > 0 {
			if nslots > maxSeasonSlots {
				return restored, fmt.Errorf("state series has %d seasonal slots, more than %d", nslots, maxSeasonSlots)
			}
			if len(r.b) < nslots*slotRecordSize {
				return restored, errShortState
			}
			seasonal = slotBuf[:nslots]
			for j := range seasonal {
				sl := &seasonal[j]
				sl.offset, sl.samples = r.f64(), r.u32()
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
	if !finite(s.g.mean) || !finite(s.g.vari) || s.g.vari < 0 || !(s.weight >= 0 && s.weight <= 1) ||
		!finite(s.resolution) || s.resolution < 0 || !finite(s.lastX) || s.interval < 0 ||
		!finite(s.tail) || s.tail < 0 ||
		!finite(s.prev) || !finite(s.prev2) || s.state > stateFiring || s.adopt < -1 || s.adopt > 1 || s.quant > quantFractional ||
		!(s.cusUp >= 0 && s.cusUp <= math.MaxFloat32) || !(s.cusDown >= 0 && s.cusDown <= math.MaxFloat32) ||
		!(s.cusVar >= 0 && s.cusVar <= math.MaxFloat32) {
		return false
	}
	for i := range seasonal {
		sl := &seasonal[i]
		if !finite(sl.offset) {
			return false
		}
	}
	return true
}
