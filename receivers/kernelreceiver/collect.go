// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"cmp"
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

// This file assembles one collection: it reads the kernel maps, groups what
// it read by resource and records the data points. resource.go says which
// resource a group is, histograms.go builds the two histograms.

type peerEntry struct {
	peer  tcpstats.Peer
	stats tcpstats.PeerStats
}

type stateEntry struct {
	state tcpstats.State
	value int64
}

// group is what one collection read for one resource.
type group struct {
	peers  []peerEntry
	states []stateEntry
}

// collect reads the kernel maps once and builds cumulative metrics, one
// resource per (cgroup, network namespace).
func (r *kernelReceiver) collect(ctx context.Context) (pmetric.Metrics, error) {
	now := pcommon.NewTimestampFromTime(time.Now())
	groups := map[resourceKey]*group{}
	get := func(k resourceKey) *group {
		g, ok := groups[k]
		if !ok {
			g = &group{}
			groups[k] = g
		}
		return g
	}
	bad, err := r.tracer.ReadPeers(func(p tcpstats.Peer, s tcpstats.PeerStats) {
		g := get(resourceKey{p.CgroupID, p.Netns})
		g.peers = append(g.peers, peerEntry{p, s})
	})
	if bad > 0 {
		r.tb.ReceiverKernelDecodeErrors.Add(ctx, int64(bad))
	}
	if err != nil {
		return pmetric.Metrics{}, err
	}
	counts := map[tcpstats.StateKey]int64{}
	if err := r.tracer.ReadStates(func(k tcpstats.StateKey, v int64) { counts[k] = v }); err != nil {
		return pmetric.Metrics{}, err
	}
	if full := r.states.report(counts, func(k tcpstats.StateKey, v int64) {
		g := get(resourceKey{k.CgroupID, k.Netns})
		g.states = append(g.states, stateEntry{k.State, v})
	}); full {
		r.tb.ReceiverKernelStateMapFull.Add(ctx, 1)
	}
	r.recordDrops(ctx)
	// After reading the maps: every cgroup the maps hold was created
	// before its events, so its path, if the kernel recorded it, is here.
	r.learnNewCgroups(ctx)

	keys := make([]resourceKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b resourceKey) int {
		return cmp.Or(cmp.Compare(a.cgroup, b.cgroup), cmp.Compare(a.netns, b.netns))
	})

	md := pmetric.NewMetrics()
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g.peers, func(a, b peerEntry) int { return comparePeers(a.peer, b.peer) })
		for _, pe := range g.peers {
			r.recordPeer(now, pe)
		}
		for _, se := range g.states {
			if st, ok := metadata.MapAttributeNetworkConnectionState[se.state.String()]; ok {
				r.mb.RecordKernelTCPConnectionsDataPoint(now, se.value, st)
			}
		}
		res := r.resource(ctx, k)
		if rm, ok := r.emitResource(res, r.histograms(now, g.peers)); ok {
			rm.MoveTo(md.ResourceMetrics().AppendEmpty())
		}
	}
	r.forgetGoneCgroups(ctx)
	return md, nil
}

// emitResource returns the ResourceMetrics of resource res: the builder's
// data points recorded since the last call, and the histograms hist. It
// reports false when there is nothing to send, or when the resource
// filters (metrics_include / metrics_exclude) exclude res.
func (r *kernelReceiver) emitResource(res pcommon.Resource, hist pmetric.MetricSlice) (pmetric.ResourceMetrics, bool) {
	// Emit (not EmitForResource) hands over this resource's data points
	// alone, so the histograms join the resource they were built for.
	built := r.mb.Emit(metadata.WithResource(res)).ResourceMetrics()
	var rm pmetric.ResourceMetrics
	switch {
	case built.Len() == 1:
		rm = built.At(0)
	case hist.Len() == 0 || !r.keep.matches(res):
		// Nothing recorded, or filtered out (the builder dropped its
		// data points for the same reason).
		return pmetric.ResourceMetrics{}, false
	default:
		// Only histograms (e.g. an RTT sample at close, no counter yet).
		rm = pmetric.NewResourceMetrics()
		res.CopyTo(rm.Resource())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)
		sm.Scope().SetVersion(r.set.BuildInfo.Version)
	}
	hist.MoveAndAppendTo(rm.ScopeMetrics().At(0).Metrics())
	return rm, true
}

func comparePeers(a, b tcpstats.Peer) int {
	return cmp.Or(
		cmp.Compare(boolInt(a.Overflow), boolInt(b.Overflow)),
		a.Addr.Compare(b.Addr),
		cmp.Compare(a.LocalPort, b.LocalPort),
		cmp.Compare(a.RemotePort, b.RemotePort),
	)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// peerAttrs returns the data point attributes of a peer.
func peerAttrs(p tcpstats.Peer) (addr string, peerPort, localPort int64, netType string) {
	if p.Overflow {
		return "overflow", 0, 0, ""
	}
	netType = "ipv6"
	if p.Addr.Is4() {
		netType = "ipv4"
	}
	return p.Addr.String(), int64(p.RemotePort), int64(p.LocalPort), netType
}

// recordPeer records the non-zero counters of a peer.
func (r *kernelReceiver) recordPeer(now pcommon.Timestamp, pe peerEntry) {
	addr, pport, lport, nt := peerAttrs(pe.peer)
	s := pe.stats
	if s.RetransSegs > 0 {
		r.mb.RecordKernelTCPRetransmittedSegmentsDataPoint(now, int64(s.RetransSegs), addr, pport, lport, nt)
	}
	if s.ResetsSent > 0 {
		r.mb.RecordKernelTCPResetsDataPoint(now, int64(s.ResetsSent), addr, pport, lport, nt, metadata.AttributeNetworkIoDirectionTransmit)
	}
	if s.ResetsReceived > 0 {
		r.mb.RecordKernelTCPResetsDataPoint(now, int64(s.ResetsReceived), addr, pport, lport, nt, metadata.AttributeNetworkIoDirectionReceive)
	}
	if s.ConnectAttempts > 0 {
		r.mb.RecordKernelTCPConnectAttemptsDataPoint(now, int64(s.ConnectAttempts), addr, pport, lport, nt)
	}
	if s.ConnectSuccesses > 0 {
		r.mb.RecordKernelTCPConnectSuccessesDataPoint(now, int64(s.ConnectSuccesses), addr, pport, lport, nt)
	}
	if s.ConnectFailures > 0 {
		r.mb.RecordKernelTCPConnectFailuresDataPoint(now, int64(s.ConnectFailures), addr, pport, lport, nt)
	}
}

// recordDrops adds what the kernel side dropped or folded since the last
// collection to the self-telemetry counters.
func (r *kernelReceiver) recordDrops(ctx context.Context) {
	d, err := r.tracer.Drops()
	if err != nil {
		r.set.Logger.Error("reading kernel drop counters", zap.Error(err))
		return
	}
	p := r.prevDrops
	delta := func(cur, prev uint64) int64 {
		if cur < prev {
			return 0
		}
		return int64(cur - prev)
	}
	r.tb.ReceiverKernelPeerMapFull.Add(ctx, delta(d.PeerMapFull, p.PeerMapFull))
	r.tb.ReceiverKernelPeerOverflow.Add(ctx, delta(d.PeerOverflow+d.CgroupMapFull, p.PeerOverflow+p.CgroupMapFull))
	r.tb.ReceiverKernelSocketMapFull.Add(ctx, delta(d.SockMapFull, p.SockMapFull))
	r.tb.ReceiverKernelLostCgroupPaths.Add(ctx, delta(d.CgroupPathLost, p.CgroupPathLost))
	r.tb.ReceiverKernelMissedEvents.Add(ctx, delta(d.Missed, p.Missed))
	r.prevDrops = d
}
