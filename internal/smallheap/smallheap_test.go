// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package smallheap

import (
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	// The environment, by case, and the policy Parse should make of it.
	cases := map[string]struct {
		env  map[string]string
		want Policy
	}{
		"unset":                     {nil, Policy{Percent: DefaultPercent}},
		"value":                     {map[string]string{Env: "40"}, Policy{Percent: 40}},
		"off":                       {map[string]string{Env: "off"}, Policy{Off: Env + "=off"}},
		"GOGC wins":                 {map[string]string{"GOGC": "100"}, Policy{Off: "GOGC is set"}},
		"GOGC wins over a value":    {map[string]string{"GOGC": "200", Env: "25"}, Policy{Off: "GOGC is set"}},
		"GOGC off wins":             {map[string]string{"GOGC": "off", "GOMEMLIMIT": "200MiB"}, Policy{Off: "GOGC is set"}},
		"GOMEMLIMIT alone keeps it": {map[string]string{"GOMEMLIMIT": "204MiB"}, Policy{Percent: DefaultPercent}},
		"off beats a bad GOGC":      {map[string]string{Env: "off", "GOGC": "x"}, Policy{Off: Env + "=off"}},
		"GODEBUG memprofilerate":    {map[string]string{"GODEBUG": "gctrace=1, memprofilerate=524288"}, Policy{Percent: DefaultPercent, MemProfile: true}},
		"GODEBUG without it":        {map[string]string{"GODEBUG": "gctrace=1,madvdontneed=1"}, Policy{Percent: DefaultPercent}},
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
		name        string
		rate, limit float64
		small, base int
		want        int
	}{
		{name: "idle", rate: 0.3e6, limit: mib, small: 50, base: 100, want: 50},
		{name: "nothing allocated", rate: 0, limit: mib, small: 50, base: 100, want: 50},
		{name: "just under", rate: mib - 1, limit: mib, small: 50, base: 100, want: 50},
		{name: "at the limit", rate: mib, limit: mib, small: 50, base: 100, want: 100},
		{name: "loaded", rate: 60 * mib, limit: mib, small: 50, base: 100, want: 100},
		{name: "other base", rate: 60 * mib, limit: mib, small: 25, base: 150, want: 150},
		{name: "other small", rate: 0.1e6, limit: mib, small: 25, base: 150, want: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Percent(tt.rate, tt.limit, tt.small, tt.base); got != tt.want {
				t.Errorf("Percent(%g, %g, %d, %d) = %d, want %d", tt.rate, tt.limit, tt.small, tt.base, got, tt.want)
			}
		})
	}
}

// fakeRuntime is a made-up allocation counter and clock: each step advances
// the clock by that step's span (10 s when spans is nil) and the counter by
// that step's bytes.
type fakeRuntime struct {
	steps  []uint64
	spans  []time.Duration
	i      int
	allocs uint64
	clock  time.Time
	sets   []int
	// released holds the step (1-based) of each release.
	released []int
}

func (f *fakeRuntime) tuner() *tuner {
	return &tuner{
		small: 50, base: 100, current: 100, lastTime: f.clock,
		readAllocs: func() uint64 {
			f.allocs += f.steps[f.i]
			f.i++
			return f.allocs
		},
		now: func() time.Time {
			span := 10 * time.Second
			if f.spans != nil {
				span = f.spans[f.i-1]
			}
			f.clock = f.clock.Add(span)
			return f.clock
		},
		setPercent: func(p int) int { f.sets = append(f.sets, p); return 0 },
		release:    func() { f.released = append(f.released, f.i) },
	}
}

// TestCycle drives the per-GC step with made-up cycles: it sets GOGC only
// when the decision changes.
func TestCycle(t *testing.T) {
	t.Parallel()
	// Bytes allocated in each 10 s cycle: idle (0.3 MB/s), idle, a load
	// (60 MB/s), the load, idle again, exactly RateLimit.
	f := &fakeRuntime{steps: []uint64{3e6, 3e6, 600e6, 600e6, 3e6, 10 * RateLimit}, clock: time.Unix(0, 0)}
	tu := f.tuner()
	for range f.steps {
		tu.cycle()
	}
	want := []int{50, 100, 50, 100}
	if !slices.Equal(f.sets, want) {
		t.Fatalf("SetGCPercent calls %v, want %v", f.sets, want)
	}
	// Free pages go back to the OS each time the process goes idle (steps
	// 1 and 5), not while it stays idle within ReleaseEvery, not under load.
	if want := []int{1, 5}; !slices.Equal(f.released, want) {
		t.Fatalf("releases at steps %v, want %v", f.released, want)
	}
}

// TestReleaseEvery: while the process stays idle, free pages go back to the
// OS at most once per ReleaseEvery.
func TestReleaseEvery(t *testing.T) {
	t.Parallel()
	// 70 idle cycles of 10 s: releases on going idle (step 1), then every
	// 30 steps (ReleaseEvery is 5 minutes).
	f := &fakeRuntime{steps: slices.Repeat([]uint64{3e6}, 70), clock: time.Unix(0, 0)}
	tu := f.tuner()
	for range f.steps {
		tu.cycle()
	}
	if want := []int{1, 31, 61}; !slices.Equal(f.released, want) {
		t.Fatalf("releases at steps %v, want %v", f.released, want)
	}
	if want := []int{50}; !slices.Equal(f.sets, want) {
		t.Fatalf("SetGCPercent calls %v, want %v", f.sets, want)
	}
}

// TestCycleBurst: a cycle that ends soon after the last one is measured with
// the next one, unless it allocated RateLimit×Window bytes already.
func TestCycleBurst(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	f := &fakeRuntime{
		// idle; a 3 MB burst ends the next cycle 0.2 s later (measured
		// with the cycle after it: 3.3 MB in 10.2 s); idle; the start of a
		// load (40 MB in 0.2 s); the load.
		steps: []uint64{3e6, 3e6, 3e5, 3e6, 40e6, 600e6},
		spans: []time.Duration{10 * time.Second, 200 * ms, 10 * time.Second, 10 * time.Second, 200 * ms, 10 * time.Second},
		clock: time.Unix(0, 0),
	}
	tu := f.tuner()
	for range f.steps {
		tu.cycle()
	}
	if want := []int{50, 100}; !slices.Equal(f.sets, want) {
		t.Fatalf("SetGCPercent calls %v, want %v", f.sets, want)
	}
	if want := []int{1}; !slices.Equal(f.released, want) {
		t.Fatalf("releases at steps %v, want %v", f.released, want)
	}
}

// TestCycleSameInstant: two evaluations at one instant (no rate to measure)
// leave GOGC as it is.
func TestCycleSameInstant(t *testing.T) {
	t.Parallel()
	f := &fakeRuntime{steps: []uint64{1}, clock: time.Unix(0, 0)}
	tu := f.tuner()
	tu.now = func() time.Time { return f.clock }
	tu.cycle()
	if len(f.sets) != 0 {
		t.Fatalf("SetGCPercent calls %v, want none", f.sets)
	}
}

// TestStartOff: a policy that is off leaves GOGC alone.
func TestStartOff(t *testing.T) {
	before := debug.SetGCPercent(-1)
	debug.SetGCPercent(before)
	rate := runtime.MemProfileRate
	Start(Policy{Off: "GOGC is set"})
	if got := debug.SetGCPercent(before); got != before {
		t.Fatalf("a policy that is off changed GOGC from %d to %d", before, got)
	}
	if runtime.MemProfileRate != rate {
		t.Fatalf("a policy that is off changed MemProfileRate from %d to %d", rate, runtime.MemProfileRate)
	}
}

// TestArm checks that the finalizer evaluates the policy after a GC cycle and
// re-arms itself for the next one. runtime.GC returns once the cycle is done;
// the finalizer runs after it, and the test waits for it without a deadline
// of its own. (The finalizer reads clock and sets after the test returns:
// this test does not run in parallel, and -count>1 gives each run its own.)
func TestArm(t *testing.T) {
	// Buffered, sent to without blocking: the sentinel keeps re-arming
	// after the test, and a blocked finalizer would stop every finalizer of
	// the test binary.
	evaluated := make(chan struct{}, 1000)
	var sets []int
	clock := time.Unix(0, 0)
	tu := &tuner{
		small: 50, base: 100, current: 100, lastTime: clock,
		readAllocs: func() uint64 {
			select {
			case evaluated <- struct{}{}:
			default:
			}
			return 0
		},
		now:        func() time.Time { clock = clock.Add(Window); return clock },
		setPercent: func(p int) int { sets = append(sets, p); return 0 },
		release:    func() {},
	}
	arm(tu)
	for range 2 {
		runtime.GC()
		<-evaluated
	}
	if !slices.Equal(sets, []int{50}) {
		t.Fatalf("SetGCPercent calls %v, want [50]", sets)
	}
}
