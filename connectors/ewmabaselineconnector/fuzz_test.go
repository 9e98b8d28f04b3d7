// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// validState returns an encoded table with a seasonal series and a firing
// alert, the seed the fuzzer mutates.
func validState(t testing.TB) []byte {
	rule := testRule(func(r *RuleConfig) {
		r.Seasonality = configoptional.Some(SeasonalityConfig{Period: time.Hour, Slots: 4})
	})
	e := newTestEngine(t, rule)
	e.process(gaugeBatch(stepSamples(400, 300, 9), map[string]any{"host": "a"}))
	e.alerts[e.slab[0].key] = &alertInfo{labels: map[string]string{"alertname": "test", "host": "a"}, startsAt: t0}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.encodeState()
}

// FuzzDecodeState: any bytes in the storage file restore a valid table or
// fail cleanly; they never panic, allocate without bound, or put NaN/Inf or
// a negative variance into a baseline.
func FuzzDecodeState(f *testing.F) {
	good := validState(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("EWB1"))
	f.Add([]byte("nope"))
	huge := append([]byte{}, good[:12]...) // magic and key check, then the rule count
	huge = binary.LittleEndian.AppendUint32(huge, math.MaxUint32)
	f.Add(huge)
	f.Fuzz(func(t *testing.T, data []byte) {
		rule := testRule(func(r *RuleConfig) {
			r.Seasonality = configoptional.Some(SeasonalityConfig{Period: time.Hour, Slots: 4})
		})
		e := newTestEngine(t, rule)
		e.mu.Lock()
		n, _ := e.decodeState(data)
		e.mu.Unlock()
		if n != e.index.len() {
			t.Fatalf("restored %d, index holds %d", n, e.index.len())
		}
		e.index.each(func(_ uint64, idx int32) {
			if !validRestored(&e.slab[idx], e.seasonOf(&e.slab[idx])) {
				t.Fatalf("invalid series restored: %+v", e.slab[idx])
			}
		})
		// The restored table keeps working.
		md := gaugeBatch(regular(3, time.Second, func(int, time.Time) float64 { return 1 }), map[string]any{"host": "a"})
		assertFinite(t, e.process(md).metrics)
	})
}

// FuzzObserve feeds arbitrary gaps and values (NaN, Inf, zero and negative
// gaps included) into one series: no panic and every derived value finite.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 10, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Add(make([]byte, 90))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newTestEngine(t, testRule(func(r *RuleConfig) { r.Warmup.Samples = 1; r.For = 0 }))
		ts := t0
		var samples []sample
		for len(data) >= 9 {
			ts = ts.Add(time.Duration(int8(data[0])) * time.Second)
			samples = append(samples, sample{ts, math.Float64frombits(binary.LittleEndian.Uint64(data[1:9]))})
			data = data[9:]
		}
		assertFinite(t, e.process(gaugeBatch(samples, map[string]any{"host": "a"})).metrics)
	})
}

func assertFinite(t *testing.T, md pmetric.Metrics) {
	t.Helper()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			dps := ms.At(j).Gauge().DataPoints()
			for k := 0; k < dps.Len(); k++ {
				if v := dps.At(k).DoubleValue(); !finite(v) {
					t.Fatalf("%s = %v", ms.At(j).Name(), v)
				}
			}
		}
	}
}
