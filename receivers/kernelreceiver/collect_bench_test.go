// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
)

// BenchmarkCollect measures one collection (map contents → pmetric) for
// 100 cgroups × 100 peers, each with counters and both histograms, as the
// user-space share of the receiver's cost per collection_interval.
func BenchmarkCollect(b *testing.B) {
	ft := &fakeTracer{attachments: allHooks(nil), peers: map[tcpstats.Peer]tcpstats.PeerStats{}, states: map[tcpstats.StateKey]int64{}}
	st := tcpstats.PeerStats{RetransSegs: 3, ConnectAttempts: 10, ConnectSuccesses: 9, ConnectFailures: 1, RTTCount: 12}
	st.ConnectBuckets[9] = 9
	st.RTTBuckets[8] = 12
	for cg := range 100 {
		for p := range 100 {
			ft.peers[tcpstats.Peer{CgroupID: uint64(cg + 2), Netns: 1, Addr: netip.AddrFrom4([4]byte{10, 0, byte(cg), byte(p)}), RemotePort: 443}] = st
		}
		ft.states[tcpstats.StateKey{CgroupID: uint64(cg + 2), Netns: 1, State: 1}] = 5
	}
	r, _ := newTestReceiver(b, createDefaultConfig().(*Config), func(tcpstats.Config) (tracer, error) { return ft, nil })
	require.NoError(b, r.Start(context.Background(), &statusHost{}))
	b.Cleanup(func() { require.NoError(b, r.Shutdown(context.Background())) })
	b.ReportAllocs()
	for b.Loop() {
		md, err := r.collect(context.Background())
		if err != nil || md.DataPointCount() == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/peer")
}
