// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package smallheap

import (
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    Policy
		wantErr string
	}{
		{name: "unset", env: nil, want: Policy{Percent: DefaultPercent}},
		{name: "value", env: map[string]string{Env: "25"}, want: Policy{Percent: 25}},
		{name: "off", env: map[string]string{Env: "off"}, want: Policy{Off: Env + "=off"}},
		{name: "GOGC wins", env: map[string]string{"GOGC": "100"}, want: Policy{Off: "GOGC is set"}},
		{name: "GOGC wins over a value", env: map[string]string{"GOGC": "200", Env: "25"}, want: Policy{Off: "GOGC is set"}},
		{name: "GOGC off wins", env: map[string]string{"GOGC": "off", "GOMEMLIMIT": "200MiB"}, want: Policy{Off: "GOGC is set"}},
		{name: "GOMEMLIMIT alone keeps it", env: map[string]string{"GOMEMLIMIT": "204MiB"}, want: Policy{Percent: DefaultPercent}},
		{name: "off beats a bad GOGC", env: map[string]string{Env: "off", "GOGC": "x"}, want: Policy{Off: Env + "=off"}},
		{name: "zero", env: map[string]string{Env: "0"}, wantErr: `VIGIL_SMALL_HEAP_GOGC="0": must be off or an integer from 1 to 99`},
		{name: "100", env: map[string]string{Env: "100"}, wantErr: `VIGIL_SMALL_HEAP_GOGC="100": must be off or an integer from 1 to 99`},
		{name: "word", env: map[string]string{Env: "on"}, wantErr: `VIGIL_SMALL_HEAP_GOGC="on": must be off or an integer from 1 to 99`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Parse error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name      string
		live      uint64
		threshold uint64
		small     int
		base      int
		want      int
	}{
		{name: "idle heap", live: 7 * mib, threshold: 16 * mib, small: 50, base: 100, want: 50},
		{name: "empty heap", live: 0, threshold: 16 * mib, small: 50, base: 100, want: 50},
		{name: "just under", live: 16*mib - 1, threshold: 16 * mib, small: 50, base: 100, want: 50},
		{name: "at threshold", live: 16 * mib, threshold: 16 * mib, small: 50, base: 100, want: 100},
		{name: "loaded heap", live: 60 * mib, threshold: 16 * mib, small: 50, base: 100, want: 100},
		{name: "other base", live: 60 * mib, threshold: 16 * mib, small: 25, base: 150, want: 150},
		{name: "other small", live: 1 * mib, threshold: 16 * mib, small: 25, base: 150, want: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Percent(tt.live, tt.threshold, tt.small, tt.base); got != tt.want {
				t.Errorf("Percent(%d, %d, %d, %d) = %d, want %d", tt.live, tt.threshold, tt.small, tt.base, got, tt.want)
			}
		})
	}
}

// TestCycle drives the per-GC step with a made-up sequence of live heaps: it
// sets GOGC only when the decision changes.
func TestCycle(t *testing.T) {
	t.Parallel()
	lives := []uint64{7 << 20, 8 << 20, 40 << 20, 90 << 20, 10 << 20, Threshold}
	var i int
	var sets []int
	tu := &tuner{
		small:      50,
		base:       100,
		readLive:   func() uint64 { l := lives[i]; i++; return l },
		setPercent: func(p int) int { sets = append(sets, p); return 0 },
	}
	tu.current.Store(100)
	for range lives {
		tu.cycle()
	}
	want := []int{50, 100, 50, 100}
	if len(sets) != len(want) {
		t.Fatalf("SetGCPercent calls %v, want %v", sets, want)
	}
	for k := range want {
		if sets[k] != want[k] {
			t.Fatalf("SetGCPercent calls %v, want %v", sets, want)
		}
	}
}
