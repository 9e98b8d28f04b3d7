// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
)

// mdatagen v0.159's MetricsBuilder has no histogram metrics, so the two
// latency histograms are built here, per resource, and emitResource
// (collect.go) appends them to that resource's metrics.

const (
	metricConnectDuration = "kernel.tcp.connect.duration"
	metricRTT             = "kernel.tcp.rtt"
)

// histograms builds kernel.tcp.connect.duration and kernel.tcp.rtt for the
// peers of one resource.
func (r *kernelReceiver) histograms(now pcommon.Timestamp, peers []peerEntry) pmetric.MetricSlice {
	ms := pmetric.NewMetricSlice()
	bounds := tcpstats.BucketBoundsMicros()
	for i := range bounds {
		bounds[i] /= 1e6 // seconds
	}
	var connect, rtt pmetric.HistogramDataPointSlice
	for _, pe := range peers {
		s := pe.stats
		var n uint64
		for _, c := range s.ConnectBuckets {
			n += c
		}
		if n > 0 {
			if connect == (pmetric.HistogramDataPointSlice{}) {
				connect = newHistogram(ms, metricConnectDuration, "Time from SYN sent to connection established, for active opens.")
			}
			r.histogramPoint(connect.AppendEmpty(), now, pe.peer, bounds, n, s.ConnectSumSeconds, s.ConnectBuckets)
		}
		if s.RTTCount > 0 {
			if rtt == (pmetric.HistogramDataPointSlice{}) {
				rtt = newHistogram(ms, metricRTT, "Smoothed RTT of the socket (srtt), sampled at connection establishment, retransmits and when a connection leaves ESTABLISHED.")
			}
			r.histogramPoint(rtt.AppendEmpty(), now, pe.peer, bounds, s.RTTCount, s.RTTSumSeconds, s.RTTBuckets)
		}
	}
	return ms
}

func newHistogram(ms pmetric.MetricSlice, name, desc string) pmetric.HistogramDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return h.DataPoints()
}

func (r *kernelReceiver) histogramPoint(dp pmetric.HistogramDataPoint, now pcommon.Timestamp, p tcpstats.Peer, bounds []float64, count uint64, sum float64, buckets [tcpstats.NumBuckets]uint64) {
	dp.SetStartTimestamp(r.start)
	dp.SetTimestamp(now)
	dp.SetCount(count)
	dp.SetSum(sum)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(buckets[:])
	addr, pport, lport, nt := peerAttrs(p)
	a := dp.Attributes()
	a.PutStr("network.peer.address", addr)
	a.PutInt("network.peer.port", pport)
	a.PutInt("network.local.port", lport)
	a.PutStr("network.type", nt)
}
