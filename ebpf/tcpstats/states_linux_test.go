// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCountBucket: occupied slots count by (cgroup, netns, state); free
// slots, slots being filled or freed (state 0) and unknown states do not.
func TestCountBucket(t *testing.T) {
	var b RawSockBucket
	set := func(i int, sk, cg uint64, netns uint32, state uint16) {
		b.Sk[i] = sk
		b.Info[i].CgroupId, b.Info[i].Netns, b.Info[i].State = cg, netns, state
	}
	set(0, 0xffff0001, 7, 100, 1) // established
	set(1, 0xffff0002, 7, 100, 1) // established
	set(2, 0, 7, 100, 10)         // free slot with a stale state
	set(3, 0xffff0004, 7, 100, 0) // being filled
	counts := map[statePair]*stateCounts{}
	countBucket(&b, counts)
	set(0, 0xffff0005, 7, 100, 10) // listen
	set(1, 0xffff0006, 8, 100, 1)  // another cgroup
	set(3, 0xffff0007, 7, 100, 99) // not a TCP state
	countBucket(&b, counts)

	assert.Len(t, counts, 2)
	assert.Equal(t, int64(2), counts[statePair{7, 100}][1])
	assert.Equal(t, int64(1), counts[statePair{7, 100}][10])
	assert.Equal(t, int64(1), counts[statePair{8, 100}][1])
	var total int64
	for _, c := range counts {
		for _, n := range c {
			total += n
		}
	}
	assert.Equal(t, int64(4), total)
}

// TestSockBucketsFor: a power of two of 4-slot buckets with at least two
// slots per socket.
func TestSockBucketsFor(t *testing.T) {
	for _, c := range []struct{ sockets, want uint32 }{
		{1, 1}, {2, 1}, {3, 2}, {128, 64}, {129, 128}, {DefaultMaxSockets, 32768}, {1 << 24, 1 << 23},
	} {
		got := sockBucketsFor(c.sockets)
		assert.Equal(t, c.want, got, "sockets %d", c.sockets)
		assert.GreaterOrEqual(t, uint64(got)*sockWays, 2*uint64(c.sockets))
	}
}

// TestReadStatesPaths writes two made-up sockets into the kernel's socket
// table and reads the gauges through the memory mapping and entry by entry
// (the path for kernels without mmapable maps): both must count
// them. The pair (cgroup 0xdead0001, netns 77) is one no real socket has.
func TestReadStatesPaths(t *testing.T) {
	requireRoot(t)
	tr, err := Load(Config{})
	require.NoError(t, err)
	defer tr.Close()
	require.NotNil(t, tr.sockMem, "this kernel (6.18) has mmapable arrays")

	var b RawSockBucket
	b.Sk[0], b.Sk[2] = 1, 2 // not kernel addresses: no real socket matches
	b.Info[0].CgroupId, b.Info[0].Netns, b.Info[0].State = 0xdead0001, 77, 1
	b.Info[2].CgroupId, b.Info[2].Netns, b.Info[2].State = 0xdead0001, 77, 10
	last := tr.socks.MaxEntries() - 1
	require.NoError(t, tr.socks.Update(last, &b, ebpf.UpdateAny))
	defer func() { _ = tr.socks.Update(last, &RawSockBucket{}, ebpf.UpdateAny) }()

	read := func() map[State]int64 {
		got := map[State]int64{}
		require.NoError(t, tr.ReadStates(func(k StateKey, n int64) {
			if k.CgroupID == 0xdead0001 && k.Netns == 77 {
				got[k.State] = n
			}
		}))
		return got
	}
	viaMmap := read()
	assert.Equal(t, int64(1), viaMmap[1], "established")
	assert.Equal(t, int64(1), viaMmap[10], "listen")
	assert.Len(t, viaMmap, 2, "only non-zero states")

	mem := tr.sockMem
	tr.sockMem = nil
	defer func() { tr.sockMem = mem }() // for Close to unmap it
	assert.Equal(t, viaMmap, read(), "entry-by-entry reads see what the mapping does")
}
