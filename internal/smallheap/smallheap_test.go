// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package smallheap

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	// The environment, by case, and the policy Parse should make of it.
	cases := map[string]struct {
		env  map[string]string
		want Policy
	}{
		"unset":                     {nil, Policy{Percent: DefaultPercent}},
		"value":                     {map[string]string{Env: "25"}, Policy{Percent: 25}},
		"off":                       {map[string]string{Env: "off"}, Policy{Off: Env + "=off"}},
		"GOGC wins":                 {map[string]string{"GOGC": "100"}, Policy{Off: "GOGC is set"}},
		"GOGC wins over a value":    {map[string]string{"GOGC": "200", Env: "25"}, Policy{Off: "GOGC is set"}},
		"GOGC off wins":             {map[string]string{"GOGC": "off", "GOMEMLIMIT": "200MiB"}, Policy{Off: "GOGC is set"}},
		"GOMEMLIMIT alone keeps it": {map[string]string{"GOMEMLIMIT": "204MiB"}, Policy{Percent: DefaultPercent}},
		"off beats a bad GOGC":      {map[string]string{Env: "off", "GOGC": "x"}, Policy{Off: Env + "=off"}},
	}
	for name, c := range cases {
		got, err := Parse(func(k string) string { return c.env[k] })
		if err != nil || got != c.want {
			t.Errorf("%s: Parse = %+v, %v; want %+v", name, got, err, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "100", "-5", "on", "50%"} {
		_, err := Parse(func(k string) string {
			if k == Env {
				return v
			}
			return ""
		})
		want := Env + `="` + v + `": must be off or an integer from 1 to 99`
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%s=%q) error = %v, want %q", Env, v, err, want)
		}
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

// TestStart checks the wiring with the runtime: Start evaluates the policy
// once before it returns, and a test binary's live heap is far under
// Threshold, so GOGC is the policy's at once. (The later cycles run from
// finalizers, at times the test cannot know; TestCycle covers their step.)
func TestStart(t *testing.T) {
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := gogc()
	Start(Policy{Off: "GOGC is set"})
	if got := gogc(); got != before {
		t.Fatalf("a policy that is off changed GOGC from %d to %d", before, got)
	}
	Start(Policy{Percent: 30})
	if got := gogc(); got != 30 {
		t.Fatalf("GOGC after Start = %d, want 30", got)
	}
	runtime.GC()
	runtime.GC()
	if got := gogc(); got != 30 {
		t.Fatalf("GOGC after two cycles = %d, want 30", got)
	}
}
