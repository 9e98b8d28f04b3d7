// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
	"github.com/vigil-otel/vigil/internal/telemetrytest"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

// fakeTracer stands in for the kernel in tests of the receiver's own logic
// (degrade handling, metric assembly); the real kernel path is covered by
// the root tests in kernel_linux_test.go.
type fakeTracer struct {
	attachments []tcpstats.Attachment
	peers       map[tcpstats.Peer]tcpstats.PeerStats
	states      map[tcpstats.StateKey]int64
	drops       tcpstats.Drops
	newCgroups  map[uint64]string
	bad         int
	closed      int
}

func (f *fakeTracer) Attachments() []tcpstats.Attachment { return f.attachments }
func (f *fakeTracer) ReadPeers(fn func(tcpstats.Peer, tcpstats.PeerStats)) (int, error) {
	for p, s := range f.peers {
		fn(p, s)
	}
	return f.bad, nil
}
func (f *fakeTracer) ReadStates(fn func(tcpstats.StateKey, int64)) error {
	for k, v := range f.states {
		fn(k, v)
	}
	return nil
}
func (f *fakeTracer) Drops() (tcpstats.Drops, error) { return f.drops, nil }
func (f *fakeTracer) ReadNewCgroups(fn func(uint64, string)) error {
	for id, p := range f.newCgroups {
		fn(id, p)
	}
	clear(f.newCgroups)
	return nil
}
func (f *fakeTracer) ForgetCgroups(ids []uint64) (int, error) {
	n := 0
	for p := range f.peers {
		if slices.Contains(ids, p.CgroupID) {
			delete(f.peers, p)
			n++
		}
	}
	return n, nil
}
func (f *fakeTracer) Close() error { f.closed++; return nil }

// statusHost records the component status events the receiver reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func newTestReceiver(t testing.TB, cfg *Config, load func(tcpstats.Config) (tracer, error)) (*kernelReceiver, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	r, err := newKernelReceiver(set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	r.load = load
	return r, logs
}

func allHooks(err error) []tcpstats.Attachment {
	var as []tcpstats.Attachment
	for _, h := range tcpstats.Hooks {
		as = append(as, tcpstats.Attachment{Hook: h, Kind: "tp_btf"})
	}
	if err != nil {
		as[1] = tcpstats.Attachment{Hook: tcpstats.Hooks[1], Err: err}
	}
	return as
}

func TestStartFailsWithoutDegrade(t *testing.T) {
	t.Parallel()
	loadErr := errors.New("tcpstats: creating maps: operation not permitted (the kernel receiver needs root, or CAP_BPF+CAP_PERFMON)")
	r, _ := newTestReceiver(t, createDefaultConfig().(*Config), func(tcpstats.Config) (tracer, error) { return nil, loadErr })
	err := r.Start(context.Background(), &statusHost{})
	require.ErrorIs(t, err, loadErr)
	assert.ErrorContains(t, err, "kernel receiver: tcpstats: creating maps: operation not permitted (the kernel receiver needs root")
	require.NoError(t, r.Shutdown(context.Background()))
}

// collectOnce starts a receiver with cfg on the fake tracer ft (stopped at
// the end of the test) and collects once, directly: collect races with the
// loop's first tick only after 10s. It returns the receiver and what it
// collected.
func collectOnce(t *testing.T, cfg *Config, ft *fakeTracer) (*kernelReceiver, pmetric.Metrics) {
	t.Helper()
	r, _ := newTestReceiver(t, cfg, func(tcpstats.Config) (tracer, error) { return ft, nil })
	require.NoError(t, r.Start(context.Background(), &statusHost{}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	md, err := r.collect(context.Background())
	require.NoError(t, err)
	return r, md
}

// TestDropTelemetry: the kernel side's cumulative drop counters, the
// programs' missed events among them, become the receiver's own counters,
// each collection adding what is new since the last.
func TestDropTelemetry(t *testing.T) {
	t.Parallel()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	cfg := createDefaultConfig().(*Config)
	cfg.CollectionInterval = time.Hour // only the collections below
	r, err := newKernelReceiver(set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	ft := &fakeTracer{attachments: allHooks(nil), drops: tcpstats.Drops{Missed: 5, PeerMapFull: 1}}
	r.load = func(tcpstats.Config) (tracer, error) { return ft, nil }
	require.NoError(t, r.Start(context.Background(), &statusHost{}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })

	_, err = r.collect(context.Background())
	require.NoError(t, err)
	ft.drops = tcpstats.Drops{Missed: 12, PeerMapFull: 1, SockMapFull: 3}
	_, err = r.collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(12), telemetrytest.CounterSum(t, tel, "otelcol_receiver_kernel_missed_events"))
	assert.Equal(t, int64(1), telemetrytest.CounterSum(t, tel, "otelcol_receiver_kernel_peer_map_full"))
	assert.Equal(t, int64(3), telemetrytest.CounterSum(t, tel, "otelcol_receiver_kernel_socket_map_full"))
}

func TestStartFailsOnMissingHookWithoutDegrade(t *testing.T) {
	t.Parallel()
	ft := &fakeTracer{attachments: allHooks(errors.New("verifier rejected the program"))}
	r, _ := newTestReceiver(t, createDefaultConfig().(*Config), func(tcpstats.Config) (tracer, error) { return ft, nil })
	err := r.Start(context.Background(), &statusHost{})
	assert.EqualError(t, err, "kernel receiver: hook tcp_retransmit_synack not attached: verifier rejected the program")
	assert.Equal(t, 1, ft.closed, "a failed Start detaches what did attach")
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestDegrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		load       func(tcpstats.Config) (tracer, error)
		wantLoop   bool
		wantErrMsg string
	}{
		{
			name:       "load fails",
			load:       func(tcpstats.Config) (tracer, error) { return nil, errors.New("kernel BTF is not available") },
			wantErrMsg: "kernel receiver: kernel BTF is not available",
		},
		{
			name: "one hook missing",
			load: func(tcpstats.Config) (tracer, error) {
				return &fakeTracer{attachments: allHooks(errors.New("EPERM"))}, nil
			},
			wantLoop:   true,
			wantErrMsg: "kernel receiver: hook tcp_retransmit_synack not attached: EPERM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := createDefaultConfig().(*Config)
			cfg.Degrade = true
			r, logs := newTestReceiver(t, cfg, tt.load)
			host := &statusHost{}
			require.NoError(t, r.Start(context.Background(), host))
			require.Len(t, host.events, 1)
			assert.Equal(t, componentstatus.StatusRecoverableError, host.events[0].Status())
			assert.EqualError(t, host.events[0].Err(), tt.wantErrMsg)
			assert.Equal(t, 1, logs.FilterMessage("kernel receiver degraded (degrade: true)").Len(), "logged once")
			assert.Equal(t, tt.wantLoop, r.cancel != nil, "collection loop runs with the hooks that attached")
			require.NoError(t, r.Shutdown(context.Background()))
		})
	}
}

func TestCollect(t *testing.T) {
	t.Parallel()
	client := tcpstats.Peer{CgroupID: 0, Netns: 11, Addr: netip.MustParseAddr("10.0.0.2"), RemotePort: 443}
	server := tcpstats.Peer{CgroupID: 0, Netns: 11, Addr: netip.MustParseAddr("2001:db8::7"), LocalPort: 8080}
	overflow := tcpstats.Peer{CgroupID: 0, Netns: 11, Overflow: true}
	rttOnly := tcpstats.Peer{CgroupID: 0, Netns: 12, Addr: netip.MustParseAddr("10.0.0.9"), LocalPort: 22}
	cs := tcpstats.PeerStats{RetransSegs: 4, ConnectAttempts: 3, ConnectSuccesses: 2, ConnectFailures: 1, ResetsReceived: 1,
		ConnectSumSeconds: 0.003, RTTCount: 5, RTTSumSeconds: 0.01}
	cs.ConnectBuckets[11] = 2 // [1024, 2048) µs
	cs.RTTBuckets[12] = 5
	rs := tcpstats.PeerStats{RTTCount: 1, RTTSumSeconds: 0.0001}
	rs.RTTBuckets[7] = 1
	ft := &fakeTracer{
		attachments: allHooks(nil),
		peers: map[tcpstats.Peer]tcpstats.PeerStats{
			client:   cs,
			server:   {ResetsSent: 6},
			overflow: {ConnectAttempts: 9},
			rttOnly:  rs,
		},
		states: map[tcpstats.StateKey]int64{{Netns: 11, State: 1}: 3, {Netns: 11, State: 10}: 1},
		drops:  tcpstats.Drops{PeerOverflow: 9},
		bad:    2,
	}
	r, md := collectOnce(t, createDefaultConfig().(*Config), ft)
	require.Equal(t, 2, md.ResourceMetrics().Len())

	cl := map[string]any{"network.peer.address": "10.0.0.2", "network.peer.port": 443, "network.local.port": 0, "network.type": "ipv4"}
	sv := map[string]any{"network.peer.address": "2001:db8::7", "network.peer.port": 0, "network.local.port": 8080, "network.type": "ipv6"}
	assert.Equal(t, int64(4), sumWhere(md, 11, nil, "kernel.tcp.retransmitted_segments", cl))
	assert.Equal(t, int64(3), sumWhere(md, 11, nil, "kernel.tcp.connect.attempts", cl))
	assert.Equal(t, int64(2), sumWhere(md, 11, nil, "kernel.tcp.connect.successes", cl))
	assert.Equal(t, int64(1), sumWhere(md, 11, nil, "kernel.tcp.connect.failures", cl))
	assert.Equal(t, int64(1), sumWhere(md, 11, nil, "kernel.tcp.resets", merge(cl, map[string]any{"network.io.direction": "receive"})))
	assert.Equal(t, int64(6), sumWhere(md, 11, nil, "kernel.tcp.resets", merge(sv, map[string]any{"network.io.direction": "transmit"})))
	assert.Equal(t, int64(9), sumWhere(md, 11, nil, "kernel.tcp.connect.attempts", map[string]any{"network.peer.address": "overflow", "network.type": ""}))
	assert.Equal(t, int64(3), sumWhere(md, 11, nil, "kernel.tcp.connections", map[string]any{"network.connection.state": "established"}))
	assert.Equal(t, int64(1), sumWhere(md, 11, nil, "kernel.tcp.connections", map[string]any{"network.connection.state": "listen"}))
	assert.Equal(t, int64(2), sumWhere(md, 11, nil, "kernel.tcp.connect.duration", cl))
	assert.Equal(t, int64(5), sumWhere(md, 11, nil, "kernel.tcp.rtt", cl))
	// A resource with nothing but an RTT sample still gets its histogram.
	assert.Equal(t, int64(1), sumWhere(md, 12, nil, "kernel.tcp.rtt", map[string]any{"network.local.port": 22}))

	h := findMetric(t, md, "kernel.tcp.connect.duration").Histogram()
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, h.AggregationTemporality())
	dp := h.DataPoints().At(0)
	assert.InDelta(t, 0.003, dp.Sum(), 1e-12)
	require.Equal(t, tcpstats.NumBuckets-1, dp.ExplicitBounds().Len())
	assert.InDelta(t, 1024e-6, dp.ExplicitBounds().At(10), 1e-12, "bucket 11 is (1024µs, 2048µs]")
	assert.Equal(t, uint64(2), dp.BucketCounts().At(11))
	assert.Equal(t, r.start, dp.StartTimestamp())
}

func findMetric(t *testing.T, md pmetric.Metrics, name string) pmetric.Metric {
	t.Helper()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() == name {
					return ms.At(k)
				}
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return pmetric.Metric{}
}

func TestShutdownWithoutStart(t *testing.T) {
	t.Parallel()
	r, _ := newTestReceiver(t, createDefaultConfig().(*Config), nil)
	require.NoError(t, r.Shutdown(context.Background()))
}

// TestCollectResourceFilter: a resource excluded by the mdatagen resource
// filter loses its histograms too; the others keep theirs.
func TestCollectResourceFilter(t *testing.T) {
	t.Parallel()
	st := tcpstats.PeerStats{ConnectAttempts: 1, ConnectSuccesses: 1, RTTCount: 1}
	st.ConnectBuckets[5] = 1
	st.RTTBuckets[5] = 1
	ft := &fakeTracer{attachments: allHooks(nil), peers: map[tcpstats.Peer]tcpstats.PeerStats{
		{Netns: 21, Addr: netip.MustParseAddr("10.0.0.1"), RemotePort: 80}: st,
		{Netns: 22, Addr: netip.MustParseAddr("10.0.0.2"), RemotePort: 80}: st,
	}}
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"resource_attributes": map[string]any{"vigil.netns.inode": map[string]any{
			"enabled": true, "metrics_include": []any{map[string]any{"strict": "22"}},
		}},
	}).Unmarshal(&cfg.MetricsBuilderConfig))
	_, md := collectOnce(t, cfg, ft)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	assert.Equal(t, int64(1), sumWhere(md, 22, nil, "kernel.tcp.rtt", nil))
	assert.Equal(t, int64(1), sumWhere(md, 22, nil, "kernel.tcp.connect.duration", nil))
	assert.Equal(t, int64(0), sumWhere(md, 21, nil, "kernel.tcp.rtt", nil))
}

// TestCollectHistogramsOwnResource: two cgroups of one namespace whose
// paths are unknown, the first with nothing but an RTT sample, the second
// with counters and RTT samples. Each resource (told apart by
// vigil.cgroup.id) carries exactly its own histogram points.
func TestCollectHistogramsOwnResource(t *testing.T) {
	t.Parallel()
	onlyRTT := tcpstats.PeerStats{RTTCount: 1}
	onlyRTT.RTTBuckets[3] = 1
	both := tcpstats.PeerStats{ConnectAttempts: 5, RTTCount: 5}
	both.RTTBuckets[4] = 5
	ft := &fakeTracer{attachments: allHooks(nil), peers: map[tcpstats.Peer]tcpstats.PeerStats{
		{CgroupID: 1 << 40, Netns: 31, Addr: netip.MustParseAddr("10.0.0.1"), RemotePort: 80}:   onlyRTT,
		{CgroupID: 1<<40 + 1, Netns: 31, Addr: netip.MustParseAddr("10.0.0.1"), RemotePort: 80}: both,
	}}
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = t.TempDir() // no cgroup resolves
	_, md := collectOnce(t, cfg, ft)
	require.Equal(t, 2, md.ResourceMetrics().Len())
	first := map[string]any{"vigil.cgroup.id": int64(1 << 40)}
	second := map[string]any{"vigil.cgroup.id": int64(1<<40 + 1)}
	assert.Equal(t, int64(1), sumWhere(md, 31, first, "kernel.tcp.rtt", nil))
	assert.Equal(t, int64(5), sumWhere(md, 31, second, "kernel.tcp.rtt", nil))
	assert.Equal(t, int64(0), sumWhere(md, 31, first, "kernel.tcp.connect.attempts", nil))
	assert.Equal(t, int64(5), sumWhere(md, 31, second, "kernel.tcp.connect.attempts", nil))
}

// TestStateMemory: a state that had sockets is reported as 0 once empty,
// states never used are not reported, and a pair beyond the bound is
// reported while non-zero and flagged.
func TestStateMemory(t *testing.T) {
	t.Parallel()
	m := newStateMemory(1)
	est := tcpstats.StateKey{CgroupID: 7, Netns: 1, State: 1}
	other := tcpstats.StateKey{CgroupID: 8, Netns: 1, State: 1}
	collect := func(counts map[tcpstats.StateKey]int64) (map[tcpstats.StateKey]int64, bool) {
		got := map[tcpstats.StateKey]int64{}
		full := m.report(counts, func(k tcpstats.StateKey, v int64) { got[k] = v })
		return got, full
	}
	got, full := collect(map[tcpstats.StateKey]int64{est: 3})
	assert.Equal(t, map[tcpstats.StateKey]int64{est: 3}, got)
	assert.False(t, full)
	got, full = collect(map[tcpstats.StateKey]int64{other: 2})
	assert.Equal(t, map[tcpstats.StateKey]int64{est: 0, other: 2}, got, "est drops to 0; other is reported without memory")
	assert.True(t, full)
	got, _ = collect(nil)
	assert.Equal(t, map[tcpstats.StateKey]int64{est: 0}, got)
	m.forget(map[uint64]struct{}{7: {}})
	got, _ = collect(nil)
	assert.Empty(t, got)
}
