// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package smallheap lowers the garbage collector's GOGC while the live heap
// is small, so that an idle agent keeps a smaller heap, and puts it back once
// the heap grows.
//
// Why: at idle the default configuration has ~7 MB of live heap. With the
// runtime's GOGC=100 the heap goal is twice the live heap, and RSS follows the
// goal, so the idle agent's anonymous memory is ~14 MB of heap plus GC
// metadata and stacks. A lower GOGC everywhere would shrink that but makes the
// collector mark more often under load, where GC is already ~10 % of the
// process. A small live heap is cheap to mark, so the extra cycles cost little
// while it stays small; above Threshold the runtime's GOGC applies unchanged.
//
// The policy is re-evaluated once per GC cycle, from a finalizer that re-arms
// itself (the runtime runs it after the cycle that found its object
// unreachable), reading the live heap from runtime/metrics. No goroutine, no
// ticker: an agent that does not allocate does not pay for it.
//
// Why not a library: bytedance/gopkg's gctuner (Apache-2.0) re-evaluates per
// cycle the same way but tunes the other way (it raises GOGC, up to 500, while
// the heap is far below a memory limit, and takes over GOGC from the
// environment); KimMachineGun/automemlimit sets GOMEMLIMIT from the cgroup's
// limit. Neither lowers GOGC for a small heap, and this is ~60 lines.
package smallheap // import "github.com/vigil-otel/vigil/internal/smallheap"

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
)

// Env is the environment variable that sets the policy: the GOGC to use
// while the live heap is under Threshold (1–99), or "off" to leave the
// garbage collector alone. Unset means DefaultPercent.
const Env = "VIGIL_SMALL_HEAP_GOGC"

const (
	// DefaultPercent is the GOGC used while the live heap is small: the heap
	// goal is 1.5× the live heap instead of 2×.
	DefaultPercent = 50
	// Threshold is the live heap (after a GC) under which the policy lowers
	// GOGC: twice the default configuration's idle live heap (~7 MB), and
	// well under its live heap at a mixed load (40–90 MB, bench/budget), so
	// loaded agents run with the runtime's GOGC.
	Threshold = 16 << 20
)

// Policy is what Parse decided.
type Policy struct {
	// Percent is the GOGC while the live heap is under Threshold; 0 when
	// the policy is off.
	Percent int
	// Off says why the policy does not run; empty when it runs.
	Off string
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
	case v == "":
		return Policy{Percent: DefaultPercent}, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 99 {
		return Policy{}, fmt.Errorf("%s=%q: must be off or an integer from 1 to 99", Env, v)
	}
	return Policy{Percent: p}, nil
}

// Percent returns the GOGC for the next cycle: small while the live heap is
// under threshold, base (the runtime's GOGC when the process started) from
// threshold up.
func Percent(live, threshold uint64, small, base int) int {
	if live < threshold {
		return small
	}
	return base
}

// Start runs policy p for the rest of the process (nothing when p is off).
// It must be called once, before the process has a large heap.
func Start(p Policy) {
	if p.Percent == 0 {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	t := &tuner{
		small: p.Percent,
		base:  int(sample[0].Value.Uint64()),
		readLive: func() uint64 {
			metrics.Read(sample[1:])
			return sample[1].Value.Uint64()
		},
		setPercent: debug.SetGCPercent,
	}
	t.current.Store(int64(t.base))
	t.cycle()
	arm(t)
}

// tuner holds the policy's state; readLive and setPercent are the runtime's
// (tests give their own).
type tuner struct {
	small, base int
	current     atomic.Int64
	readLive    func() uint64
	setPercent  func(int) int
}

// cycle sets GOGC for the live heap the last GC found, if it changed.
func (t *tuner) cycle() {
	want := Percent(t.readLive(), Threshold, t.small, t.base)
	if int64(want) != t.current.Load() {
		t.setPercent(want)
		t.current.Store(int64(want))
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
