// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package smallheap lowers the garbage collector's GOGC while the process
// allocates slowly, i.e. while the agent is idle, so that it keeps a smaller
// heap, and puts the runtime's GOGC back as soon as it allocates faster.
//
// Why: at idle the default configuration has ~7 MB of live heap. With the
// runtime's GOGC=100 the heap goal is twice the live heap, and RSS follows the
// goal, so the idle agent's anonymous memory is ~14 MB of heap plus GC
// metadata and stacks. A lower GOGC everywhere would shrink that but makes the
// collector run more often under load, where GC is already ~10 % of the
// process.
//
// Why the allocation rate and not the heap's size: the GC's CPU is about
// proportional to the bytes allocated divided by GOGC (each cycle marks the
// live heap, and a cycle comes every live×GOGC/100 bytes allocated), whatever
// the size of the heap: a small heap is cheap to mark but is marked more
// often. A first version lowered GOGC while the live heap was under 16 MiB,
// and bench/budget's mixed load then took 9.0–10.4 CPU-s instead of 7.9–8.8
// (notes of branch i17-idle). Gated on the allocation rate, the extra GC work
// is bounded: it is spent only on the under RateLimit bytes per second the
// process allocates while the policy is on (idle: ~0.3 MB/s; the mixed load
// ~37 MB/s, where gctrace shows GOGC 100 from the second cycle on).
//
// The policy is re-evaluated once per GC cycle, from a finalizer that re-arms
// itself (the runtime runs it after the cycle that found its object
// unreachable), reading the allocation counter from runtime/metrics. No
// goroutine, no ticker: an agent that does not allocate does not pay for it.
// The rate is measured over at least Window (5 s) unless RateLimit×Window
// bytes were allocated sooner: at idle a burst of a few MB (a scrape, an
// export) ends one cycle and the next ~0.2 s later, and measured over that
// short cycle it looked like a load and put GOGC back to 100 for a cycle.
//
// Two more things while the policy runs (both measured, notes of branch
// i17-idle3):
//   - Going idle (from start-up or from a load), and then every ReleaseEvery
//     while idle, it returns the heap's free pages to the OS at once
//     (debug.FreeOSMemory: one forced GC cycle and the scavenger's work done
//     in one go) instead of leaving them to the background scavenger, which
//     gives back only what is above ~1.1× the heap goal, and slowly.
//   - Heap-profile sampling is off (runtime.MemProfileRate = 0) unless
//     GODEBUG names memprofilerate: the runtime's profile buckets (a 1.4 MB
//     hash table, touched a page per sampled call stack, and the stacks
//     themselves) are anonymous memory that grows with every new sampled
//     stack. The pprof extension's heap and allocs profiles then only show
//     what was sampled before main; run with GODEBUG=memprofilerate=524288
//     (Go's default) to profile the heap.
//
// Why not a library: bytedance/gopkg's gctuner (Apache-2.0) re-evaluates per
// cycle the same way but tunes the other way (it raises GOGC, up to 500, while
// the heap is far below a memory limit, and takes over GOGC from the
// environment); KimMachineGun/automemlimit sets GOMEMLIMIT from the cgroup's
// limit. Neither lowers GOGC for an idle process, and this is ~120 lines.
package smallheap // import "github.com/vigil-otel/vigil/internal/smallheap"

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Env is the environment variable that sets the policy: the GOGC to use
// while the process allocates less than RateLimit (1–99), or "off" to leave
// the garbage collector alone. Unset means DefaultPercent.
const Env = "VIGIL_SMALL_HEAP_GOGC"

const (
	// DefaultPercent is the GOGC used while the process allocates slowly:
	// the heap goal is 1.25× the live heap instead of 2×. Idle, backends
	// up, 180 s after start, this is what brings the default configuration
	// under 16 MiB of anonymous memory (GOGC 50 left it at ~17 MiB), for
	// ~4–5× the runtime's GC cycles at idle (notes of branch i17-idle).
	DefaultPercent = 25
	// RateLimit is the allocation rate, in bytes per second over the last
	// GC cycle, under which the policy lowers GOGC. The default
	// configuration allocates ~0.3 MB/s at idle and ~37 MB/s at
	// bench/budget's mixed load (gctrace: bytes allocated between cycles).
	RateLimit = 1 << 20
	// Window is the shortest span over which the rate is measured, unless
	// the process allocated RateLimit×Window bytes sooner (then it is over
	// the limit whatever the span). At idle the default configuration
	// allocates in bursts of ~2–4 MB (a scrape, an export), and with the
	// idle heap goal only ~2 MB above the live heap a burst ends a cycle
	// and starts the next one ~0.2 s later: measured over that one cycle,
	// the rate was 10 MB/s, GOGC went back to 100 for the next cycle, and
	// its heap goal, 2× live, was what RSS followed (gctrace: 3–5 such
	// cycles per 180 s idle).
	Window = 5 * time.Second
	// ReleaseEvery is how often, at most, the policy returns the heap's
	// free pages to the operating system while the process stays idle. It
	// also does so once when the process goes idle (see tuner.cycle).
	ReleaseEvery = 5 * time.Minute
)

// Policy is what Parse decided.
type Policy struct {
	// Percent is the GOGC while the process allocates less than
	// RateLimit; 0 when the policy is off.
	Percent int
	// Off says why the policy does not run; empty when it runs.
	Off string
	// MemProfile keeps heap-profile sampling as the runtime set it: GODEBUG
	// names memprofilerate (the user's choice). Otherwise Start turns the
	// sampling off (see Start).
	MemProfile bool
}

// Parse reads the policy from the environment. An explicit GOGC (a number or
// "off") is the user's choice and turns the policy off; so does Env=off. An
// Env value that is neither "off" nor an integer in 1–99 is an error.
//
// GOMEMLIMIT does not turn it off: the policy never touches the memory limit,
// which stays in force (the runtime collects at the lower of the two goals),
// and the Helm chart sets GOMEMLIMIT on every agent (80 % of the container's
// limit), where the idle footprint is multiplied by the node count.
func Parse(getenv func(string) string) (Policy, error) {
	v := getenv(Env)
	switch {
	case v == "off":
		return Policy{Off: Env + "=off"}, nil
	case getenv("GOGC") != "":
		return Policy{Off: "GOGC is set"}, nil
	}
	p := DefaultPercent
	if v != "" {
		var err error
		p, err = strconv.Atoi(v)
		if err != nil || p < 1 || p > 99 {
			return Policy{}, fmt.Errorf("%s=%q: must be off or an integer from 1 to 99", Env, v)
		}
	}
	return Policy{Percent: p, MemProfile: namesMemProfileRate(getenv("GODEBUG"))}, nil
}

// namesMemProfileRate says whether a GODEBUG value sets memprofilerate.
func namesMemProfileRate(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(kv), "memprofilerate=") {
			return true
		}
	}
	return false
}

// Percent returns the GOGC for the next cycle: small while the process
// allocated less than limit bytes per second over the last cycle, base (the
// runtime's GOGC when the process started) otherwise.
func Percent(rate, limit float64, small, base int) int {
	if rate < limit {
		return small
	}
	return base
}

// Start runs policy p for the rest of the process (nothing when p is off).
// The first evaluation is after the first GC cycle, so start-up, which
// allocates fast, runs with the runtime's GOGC.
func Start(p Policy) {
	if p.Percent == 0 {
		return
	}
	if !p.MemProfile {
		runtime.MemProfileRate = 0
	}
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	t := &tuner{
		small:   p.Percent,
		base:    int(sample[0].Value.Uint64()),
		current: int(sample[0].Value.Uint64()),
		readAllocs: func() uint64 {
			metrics.Read(sample[1:])
			return sample[1].Value.Uint64()
		},
		now:        time.Now,
		setPercent: debug.SetGCPercent,
		release:    func() { go debug.FreeOSMemory() },
	}
	t.lastAllocs, t.lastTime = t.readAllocs(), t.now()
	arm(t)
}

// tuner holds the policy's state. Only the finalizer goroutine uses it after
// Start. readAllocs, now and setPercent are the runtime's (tests give their
// own).
type tuner struct {
	small, base, current int
	lastAllocs           uint64
	lastTime             time.Time
	lastRelease          time.Time
	readAllocs           func() uint64
	now                  func() time.Time
	setPercent           func(int) int
	release              func()
}

// cycle measures the allocation rate since the last evaluation (over at
// least Window) and sets GOGC for it, if the decision changed. When the
// process goes idle, and every ReleaseEvery while it stays idle, it also
// returns the free pages to the OS.
func (t *tuner) cycle() {
	allocs, now := t.readAllocs(), t.now()
	span := now.Sub(t.lastTime)
	n := allocs - t.lastAllocs
	if span <= 0 || span < Window && n < uint64(RateLimit*Window.Seconds()) {
		// Too short to tell a burst from a load: keep the decision and
		// measure from the same start at the next cycle.
		return
	}
	rate := float64(n) / span.Seconds()
	t.lastAllocs, t.lastTime = allocs, now
	want := Percent(rate, RateLimit, t.small, t.base)
	release := want == t.small && (t.current != want || now.Sub(t.lastRelease) >= ReleaseEvery)
	if want != t.current {
		t.setPercent(want)
		t.current = want
	}
	if release {
		t.release()
		t.lastRelease = now
	}
}

// sentinel is the object whose finalizer runs after each GC cycle. It has a
// pointer field so that it is not a tiny allocation (the runtime batches
// those, and their finalizers may never run).
type sentinel struct{ t *tuner }

// arm allocates a fresh sentinel and drops it: the next GC cycle finds it
// unreachable and queues its finalizer, which evaluates the policy and arms
// the next one.
func arm(t *tuner) {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		s.t.cycle()
		arm(s.t)
	})
}
