// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import "github.com/vigil-otel/vigil/ebpf/tcpstats"

// statePair is the (cgroup, netns) pair of a set of connection-state gauges.
type statePair struct {
	cgroup uint64
	netns  uint32
}

// stateMemory remembers, per (cgroup, netns) pair, the states whose gauge
// (kernel.tcp.connections) was ever non-zero, so that a gauge whose sockets
// are gone is reported as 0 rather than vanishing, while states never used
// stay out of the output. The tracer only counts sockets; this is the one
// place that remembers. At most limit pairs; a pair beyond is reported while
// it has sockets, without zeros.
type stateMemory struct {
	limit int
	seen  map[statePair]uint32 // bit s set: state s was non-zero once
}

func newStateMemory(limit int) *stateMemory {
	return &stateMemory{limit: limit, seen: map[statePair]uint32{}}
}

// report calls fn for every gauge to report this collection: the non-zero
// counts, and a 0 for each remembered state without sockets. It reports
// whether a pair with sockets could not be remembered (limit reached).
func (m *stateMemory) report(counts map[tcpstats.StateKey]int64, fn func(tcpstats.StateKey, int64)) (full bool) {
	for k, v := range counts {
		p := statePair{k.CgroupID, k.Netns}
		mask, ok := m.seen[p]
		if !ok && len(m.seen) >= m.limit {
			full = true
			fn(k, v) // not remembered: no zero once it empties
			continue
		}
		m.seen[p] = mask | 1<<k.State
	}
	for p, mask := range m.seen {
		for s := tcpstats.State(0); s < 32; s++ {
			if mask&(1<<s) == 0 {
				continue
			}
			k := tcpstats.StateKey{CgroupID: p.cgroup, Netns: p.netns, State: s}
			fn(k, counts[k])
		}
	}
	return full
}

// forget drops the pairs of the given cgroups.
func (m *stateMemory) forget(cgroups map[uint64]struct{}) {
	for p := range m.seen {
		if _, ok := cgroups[p.cgroup]; ok {
			delete(m.seen, p)
		}
	}
}
