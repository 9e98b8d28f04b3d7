// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/cgroups"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

const (
	// maxNamedStates is the number of TCP states kernel.tcp.connections
	// reports (those with a network.connection.state name).
	maxNamedStates = 10
	// cgroupRefresh is the minimum time between two walks of the cgroup
	// hierarchy triggered by unknown cgroup ids: a socket of a cgroup that
	// is already gone must not make every collection walk the tree.
	cgroupRefresh = 5 * time.Second
	// cgroupGoneGrace is how long a cgroup id must stay unknown, across
	// walks, before its kernel aggregates are deleted.
	cgroupGoneGrace = time.Minute
)

// tracer is the part of *tcpstats.Tracer the receiver uses.
type tracer interface {
	Attachments() []tcpstats.Attachment
	ReadPeers(func(tcpstats.Peer, tcpstats.PeerStats)) (int, error)
	ReadStates(func(tcpstats.StateKey, int64)) error
	Drops() (tcpstats.Drops, error)
	ForgetCgroups([]uint64) (int, error)
	Close() error
}

type kernelReceiver struct {
	cfg      *Config
	set      receiver.Settings
	next     consumer.Metrics
	obsrecv  *receiverhelper.ObsReport
	tb       *metadata.TelemetryBuilder
	mb       *metadata.MetricsBuilder
	start    pcommon.Timestamp
	load     func(tcpstats.Config) (tracer, error)
	resolver *cgroups.Resolver
	// refresh and goneGrace are cgroupRefresh and cgroupGoneGrace (tests
	// shorten them).
	refresh, goneGrace time.Duration

	tracer    tracer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	prevDrops tcpstats.Drops
	// statesSeen remembers the state gauges that were ever non-zero, so
	// that a gauge dropping to zero is reported as 0 rather than vanishing,
	// while states never used stay out of the output. At most
	// max_state_entries x maxNamedStates entries (the pairs the tracer
	// remembers; beyond, gauges are reported without memory).
	statesSeen map[tcpstats.StateKey]struct{}
	// gone holds the cgroup ids not found in the hierarchy, with the time
	// they were first missed; bounded by the cgroups in the kernel maps.
	gone map[uint64]time.Time
	// unresolved remembers the cgroup ids already counted as unresolved, so
	// that receiver_kernel_cgroup_lookup_failures counts ids, not collections.
	unresolved map[uint64]struct{}
}

func newKernelReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) (*kernelReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "ebpf",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("receiverhelper.NewObsReport: %w", err)
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("metadata.NewTelemetryBuilder: %w", err)
	}
	return &kernelReceiver{
		cfg:        cfg,
		set:        set,
		next:       next,
		obsrecv:    obsrecv,
		tb:         tb,
		load:       func(c tcpstats.Config) (tracer, error) { return tcpstats.Load(c) },
		unresolved: map[uint64]struct{}{},
		statesSeen: map[tcpstats.StateKey]struct{}{},
		gone:       map[uint64]time.Time{},
		refresh:    cgroupRefresh,
		goneGrace:  cgroupGoneGrace,
	}, nil
}

// Start loads and attaches the eBPF programs synchronously and starts the
// collection loop. Without `degrade`, any load or attach failure fails Start.
func (r *kernelReceiver) Start(_ context.Context, host component.Host) error {
	r.start = pcommon.NewTimestampFromTime(time.Now())
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set, metadata.WithStartTime(r.start))

	t, err := r.load(r.cfg.tracerConfig())
	if err == nil {
		r.tracer = t
		err = attachError(t.Attachments())
	}
	if err != nil {
		err = fmt.Errorf("kernel receiver: %w", err)
		if !r.cfg.Degrade {
			return errors.Join(err, r.Shutdown(context.Background()))
		}
		// Logged once, here; the status tells the health check and the
		// rest of the gateway keeps running.
		r.set.Logger.Warn("kernel receiver degraded (degrade: true)", zap.Error(err))
		componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
		if r.tracer == nil {
			return nil
		}
	}
	var attached []string
	for _, a := range r.tracer.Attachments() {
		if a.Err == nil {
			attached = append(attached, a.Program)
		}
	}
	r.set.Logger.Info("kernel hooks attached", zap.Strings("hooks", attached))

	root := r.cfg.CgroupRoot
	if root == "" {
		if root, err = cgroups.FindCgroup2Mount(); err != nil {
			// Not fatal: metrics keep flowing, attributed to cgroup ids only.
			r.set.Logger.Warn("no cgroup v2 hierarchy: container attribution disabled", zap.Error(err))
		}
	}
	if root != "" {
		r.resolver = cgroups.NewResolver(root, r.cfg.MaxCgroupPaths, r.refresh)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() { r.loop(ctx) })
	return nil
}

func attachError(as []tcpstats.Attachment) error {
	var errs []error
	for _, a := range as {
		if a.Err != nil {
			errs = append(errs, fmt.Errorf("hook %s not attached: %w", a.Hook, a.Err))
		}
	}
	return errors.Join(errs...)
}

// Shutdown stops the loop, detaches every link and closes every map. It is
// safe without Start and honours ctx while waiting for the loop.
func (r *kernelReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("kernel receiver: waiting for the collection loop: %w", ctx.Err())
	}
	if r.tracer != nil {
		err = errors.Join(err, r.tracer.Close())
		r.tracer = nil
	}
	r.tb.Shutdown()
	return err
}

func (r *kernelReceiver) loop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.CollectionInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.collectAndSend(ctx)
		}
	}
}

func (r *kernelReceiver) collectAndSend(ctx context.Context) {
	md, err := r.collect(ctx)
	if err != nil {
		// A map read failing is a kernel-side fault worth a log line per
		// collection interval, not per data point.
		r.set.Logger.Error("reading kernel maps", zap.Error(err))
		return
	}
	if md.DataPointCount() == 0 {
		return
	}
	opCtx := r.obsrecv.StartMetricsOp(ctx)
	err = r.next.ConsumeMetrics(opCtx, md)
	r.obsrecv.EndMetricsOp(opCtx, metadata.Type.String(), md.DataPointCount(), err)
}

type resourceKey struct {
	cgroup uint64
	netns  uint32
}

type peerEntry struct {
	peer  tcpstats.Peer
	stats tcpstats.PeerStats
}

type stateEntry struct {
	state tcpstats.State
	value int64
}

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
	if err := r.tracer.ReadStates(func(k tcpstats.StateKey, v int64) {
		if _, seen := r.statesSeen[k]; !seen {
			if v == 0 {
				return
			}
			if len(r.statesSeen) < r.cfg.MaxStateEntries*maxNamedStates {
				r.statesSeen[k] = struct{}{}
			}
		}
		g := get(resourceKey{k.CgroupID, k.Netns})
		g.states = append(g.states, stateEntry{k.State, v})
	}); err != nil {
		return pmetric.Metrics{}, err
	}
	r.recordDrops(ctx)

	keys := make([]resourceKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b resourceKey) int {
		return cmp.Or(cmp.Compare(a.cgroup, b.cgroup), cmp.Compare(a.netns, b.netns))
	})

	// mdatagen v0.159's MetricsBuilder has no histogram metrics, so the two
	// latency histograms are built here and joined to the resource the
	// builder emitted for the same group afterwards.
	type emitted struct {
		res      pcommon.Resource
		hist     pmetric.MetricSlice
		recorded bool // the builder got data points for this group
	}
	out := make([]emitted, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g.peers, func(a, b peerEntry) int { return comparePeers(a.peer, b.peer) })
		recorded := false
		for _, pe := range g.peers {
			recorded = r.recordPeer(now, pe) || recorded
		}
		for _, se := range g.states {
			if st, ok := metadata.MapAttributeNetworkConnectionState[se.state.String()]; ok {
				r.mb.RecordKernelTCPConnectionsDataPoint(now, se.value, st)
				recorded = true
			}
		}
		res := r.resource(ctx, k)
		out = append(out, emitted{res, r.histograms(now, g.peers), recorded})
		r.mb.EmitForResource(metadata.WithResource(res))
	}
	md := r.mb.Emit()
	r.forgetGoneCgroups(ctx)

	// The builder emits one ResourceMetrics per group in order, skipping
	// groups without data points and groups its resource filters exclude.
	rms := md.ResourceMetrics()
	next, n := 0, rms.Len()
	for _, e := range out {
		if next < n && rms.At(next).Resource().Attributes().Equal(e.res.Attributes()) {
			if e.hist.Len() > 0 {
				e.hist.MoveAndAppendTo(rms.At(next).ScopeMetrics().At(0).Metrics())
			}
			next++
			continue
		}
		if e.recorded || e.hist.Len() == 0 {
			continue // filtered out by metrics_include/exclude, or empty
		}
		// Only histograms (e.g. an RTT sample at close, no counter yet).
		rm := rms.AppendEmpty()
		e.res.CopyTo(rm.Resource())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)
		sm.Scope().SetVersion(r.set.BuildInfo.Version)
		e.hist.MoveAndAppendTo(sm.Metrics())
	}
	return md, nil
}

// forgetGoneCgroups deletes the kernel aggregates of cgroups that have been
// missing from the hierarchy for goneGrace, confirmed by a walk after they
// were first missed: their containers are gone, and their entries would
// otherwise fill the bounded maps for good. Their series end (this
// collection still reported them). Nothing is forgotten while the path
// index is truncated, since a missing id may then just be unindexed.
func (r *kernelReceiver) forgetGoneCgroups(ctx context.Context) {
	if r.resolver == nil || r.resolver.Truncated() {
		return
	}
	lastWalk := r.resolver.LastWalk()
	var ids []uint64
	for id, since := range r.gone {
		if time.Since(since) >= r.goneGrace && lastWalk.After(since) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	// One walk of the kernel's peers map for all of them.
	if _, err := r.tracer.ForgetCgroups(ids); err != nil {
		r.set.Logger.Error("deleting the kernel aggregates of removed cgroups", zap.Uint64s("cgroup_ids", ids), zap.Error(err))
		return
	}
	r.tb.ReceiverKernelForgottenCgroups.Add(ctx, int64(len(ids)))
	forgotten := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		forgotten[id] = struct{}{}
		delete(r.gone, id)
		delete(r.unresolved, id)
	}
	for k := range r.statesSeen {
		if _, ok := forgotten[k.CgroupID]; ok {
			delete(r.statesSeen, k)
		}
	}
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

// recordPeer records the non-zero counters of a peer; it reports whether
// it recorded any.
func (r *kernelReceiver) recordPeer(now pcommon.Timestamp, pe peerEntry) bool {
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
	return s.RetransSegs+s.ResetsSent+s.ResetsReceived+s.ConnectAttempts+s.ConnectSuccesses+s.ConnectFailures > 0
}

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

// resource builds the resource of a (cgroup, netns) group: the cgroup path
// and the container and pod parsed from it.
func (r *kernelReceiver) resource(ctx context.Context, k resourceKey) pcommon.Resource {
	rb := r.mb.NewResourceBuilder()
	rb.SetVigilNetnsInode(int64(k.netns))
	if k.cgroup != 0 && r.resolver != nil {
		if path, ok := r.resolver.Lookup(k.cgroup); ok {
			delete(r.gone, k.cgroup)
			rb.SetVigilCgroupPath(path)
			id := cgroups.Parse(path)
			if id.ContainerID != "" {
				rb.SetContainerID(id.ContainerID)
			}
			if id.PodUID != "" {
				rb.SetK8sPodUID(id.PodUID)
			}
		} else {
			if _, ok := r.gone[k.cgroup]; !ok {
				r.gone[k.cgroup] = time.Now()
			}
			if _, seen := r.unresolved[k.cgroup]; !seen {
				if len(r.unresolved) < r.cfg.MaxCgroupPaths {
					r.unresolved[k.cgroup] = struct{}{}
				}
				r.tb.ReceiverKernelCgroupLookupFailures.Add(ctx, 1)
			}
		}
	}
	return rb.Emit()
}

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
	r.tb.ReceiverKernelStateMapFull.Add(ctx, delta(d.StateMapFull, p.StateMapFull))
	r.prevDrops = d
}
