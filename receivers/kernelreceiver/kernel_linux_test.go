// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kernelreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
	"github.com/vigil-otel/vigil/internal/netnslab"
	"github.com/vigil-otel/vigil/internal/telemetrytest"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/cgroups"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

// startReceiverWith runs the real receiver (real eBPF programs in this
// kernel) with a short collection interval into a sink, optionally limited
// to the given program kinds.
func startReceiverWith(t *testing.T, cfg *Config, kinds ...string) (*consumertest.MetricsSink, *componenttest.Telemetry) {
	t.Helper()
	return startReceiverMod(t, cfg, func(r *kernelReceiver) {
		if len(kinds) > 0 {
			// Only these program kinds (e.g. the raw_tp fallback).
			r.load = func(c tcpstats.Config) (tracer, error) {
				c.Kinds = kinds
				return tcpstats.Load(c)
			}
		}
	})
}

// startReceiverMod starts the receiver after mod adjusted it.
func startReceiverMod(t *testing.T, cfg *Config, mod func(*kernelReceiver)) (*consumertest.MetricsSink, *componenttest.Telemetry) {
	t.Helper()
	cfg.CollectionInterval = 200 * time.Millisecond
	sink := new(consumertest.MetricsSink)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	mod(r.(*kernelReceiver))
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return sink, tel
}

// TestRetransmitsMatchKernel sends bulk transfers from namespace a to b
// while TCX programs drop packets for the server port: 10 % at b's ingress
// (loss on the wire, which makes a retransmit) and 30 % at a's egress, so
// that many retransmits fail to leave: the kernel counts a retransmit it
// then fails to send (NET_XMIT_DROP) in TcpRetransSegs and TCPRetransFail. The
// retransmitted segments the receiver reports must equal the kernel's own
// TcpRetransSegs delta in a, exactly, failed sends included.
func TestRetransmitsMatchKernel(t *testing.T) {
	forEachKind(t, testRetransmitsMatchKernel)
}

// forEachKind runs a kernel test once with the preferred tp_btf programs
// and once with the raw_tp fallback.
func forEachKind(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range []string{"tp_btf", "raw_tp"} {
		t.Run(kind, func(t *testing.T) { f(t, kind) })
	}
}

func testRetransmitsMatchKernel(t *testing.T, kind string) {
	l := netnslab.New(t)
	const port = 5001
	l.DropIngress(l.NsB, "vb", port, 10)
	l.DropEgress(l.NsA, "va", port, 30)
	sink, tel := startReceiverWith(t, createDefaultConfig().(*Config), kind)

	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))

	before, beforeExt := l.SNMP(l.NsA), l.TCPExt(l.NsA)
	// Transfer until at least one retransmit failed to leave (almost
	// always the first transfer; bounded, so the test cannot hang).
	conns := 0
	for ; conns < 5 && netnslab.Delta(l.TCPExt(l.NsA), beforeExt, "TCPRetransFail") == 0; conns++ {
		c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, port))
		require.NoError(t, err)
		const size = 4 << 20
		buf := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(buf) {
			_, err := c.Write(buf)
			require.NoError(t, err)
		}
		closeAfterPeer(t, c)
		require.Equal(t, int64(size), <-got, "server read everything")
	}
	fails := netnslab.Delta(l.TCPExt(l.NsA), beforeExt, "TCPRetransFail")
	require.Positive(t, fails, "no retransmit was dropped at a's egress in %d transfers", conns)

	peer := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": port}
	// Exact, but for events the kernel itself reports it did not hand to
	// the programs (recursion misses, counted machine-wide, so an upper
	// bound on what this connection lost): zero on a quiet machine.
	var kernel, ours, all, missed int64
	eventually(t, 15*time.Second, func() (bool, string) {
		kernel = netnslab.Delta(l.SNMP(l.NsA), before, "RetransSegs")
		md := latest(sink)
		ours = sumWhere(md, l.InoA, nil, "kernel.tcp.retransmitted_segments", peer)
		all = sumWhere(md, l.InoA, nil, "kernel.tcp.retransmitted_segments", nil)
		missed = telemetrytest.CounterSum(t, tel, "otelcol_receiver_kernel_missed_events")
		return kernel > 0 && ours == all && all <= kernel && kernel-all <= missed,
			fmt.Sprintf("TcpRetransSegs delta %d, receiver %d for the connection, %d in netns, %d events missed", kernel, ours, all, missed)
	})
	t.Logf("TcpRetransSegs delta in netns a = %d (TCPRetransFail %d), kernel.tcp.retransmitted_segments{peer=%s:%d} = %d, missed events %d", kernel, fails, l.AddrB, port, ours, missed)

	// The connections also produced connect-latency and RTT samples.
	md := latest(sink)
	assert.Equal(t, int64(conns), sumWhere(md, l.InoA, nil, "kernel.tcp.connect.successes", peer))
	assert.Equal(t, int64(conns), sumWhere(md, l.InoA, nil, "kernel.tcp.connect.duration", peer))
	assert.Positive(t, sumWhere(md, l.InoA, nil, "kernel.tcp.rtt", peer))
}

// TestResetsAndConnects connects from a to a closed port of b and to an open
// one. Resets sent by b and received by a must equal b's TcpOutRsts delta;
// attempts, successes and failures must equal the test's own counts (and
// the kernel's ActiveOpens / AttemptFails).
func TestResetsAndConnects(t *testing.T) {
	forEachKind(t, testResetsAndConnects)
}

func testResetsAndConnects(t *testing.T, kind string) {
	l := netnslab.New(t)
	sink, _ := startReceiverWith(t, createDefaultConfig().(*Config), kind)
	const (
		openPort, closedPort = 5002, 5999
		nOpen, nClosed       = 7, 5
	)
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, openPort))

	beforeA, beforeB := l.SNMP(l.NsA), l.SNMP(l.NsB)
	for range nOpen {
		c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, openPort))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		<-got
	}
	for range nClosed {
		_, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, closedPort))
		require.ErrorContains(t, err, "connection refused")
	}
	afterA, afterB := l.SNMP(l.NsA), l.SNMP(l.NsB)
	outRsts := netnslab.Delta(afterB, beforeB, "OutRsts")
	require.Equal(t, int64(nClosed), outRsts, "kernel: one RST per refused connect")
	require.Equal(t, int64(nOpen+nClosed), netnslab.Delta(afterA, beforeA, "ActiveOpens"))
	require.Equal(t, int64(nClosed), netnslab.Delta(afterA, beforeA, "AttemptFails"))

	closed := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": closedPort}
	open := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": openPort}
	// b's resets answer segments without a socket: no ports in the key.
	fromA := map[string]any{"network.peer.address": l.AddrA, "network.io.direction": "transmit"}
	checks := []struct {
		name   string
		netns  uint32
		metric string
		attrs  map[string]any
		want   int64
	}{
		{"resets sent by b == TcpOutRsts(b)", l.InoB, "kernel.tcp.resets", fromA, outRsts},
		{"resets received by a == TcpOutRsts(b)", l.InoA, "kernel.tcp.resets", merge(closed, map[string]any{"network.io.direction": "receive"}), outRsts},
		{"attempts to the closed port", l.InoA, "kernel.tcp.connect.attempts", closed, nClosed},
		{"failures == attempts to the closed port", l.InoA, "kernel.tcp.connect.failures", closed, nClosed},
		{"no successes on the closed port", l.InoA, "kernel.tcp.connect.successes", closed, 0},
		{"attempts to the open port", l.InoA, "kernel.tcp.connect.attempts", open, nOpen},
		{"successes on the open port", l.InoA, "kernel.tcp.connect.successes", open, nOpen},
		{"no failures on the open port", l.InoA, "kernel.tcp.connect.failures", open, 0},
		{"connect latency samples", l.InoA, "kernel.tcp.connect.duration", open, nOpen},
		{"all failures in a == AttemptFails(a)", l.InoA, "kernel.tcp.connect.failures", nil, netnslab.Delta(afterA, beforeA, "AttemptFails")},
		{"all attempts in a == ActiveOpens(a)", l.InoA, "kernel.tcp.connect.attempts", nil, netnslab.Delta(afterA, beforeA, "ActiveOpens")},
		{"b listens on one port", l.InoB, "kernel.tcp.connections", map[string]any{"network.connection.state": "listen"}, 1},
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		for _, c := range checks {
			if got := sumWhere(md, c.netns, nil, c.metric, c.attrs); got != c.want {
				return false, fmt.Sprintf("%s: got %d, want %d", c.name, got, c.want)
			}
		}
		return true, ""
	})
}

// newTestCgroup creates a cgroup laid out like a kubelet pod container
// (systemd driver, containerd) under a test slice, removed in t.Cleanup.
func newTestCgroup(t *testing.T) (root, dir, rel, containerID, podUID string) {
	t.Helper()
	root = cgroup2Root(t)
	s := netnslab.RandSuffix(t)
	podUID = "0b1c2d3e-4f50-6172-8394-" + s + "abcd"
	containerID = strings.Repeat(s, 8)
	rel = filepath.Join("vigil-test-"+s+".slice",
		"kubepods-besteffort-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice",
		"cri-containerd-"+containerID+".scope")
	// Create the cgroups one level at a time and remove them deepest first.
	dir = root
	for _, part := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, part)
		require.NoError(t, os.Mkdir(dir, 0o755))
		d := dir
		t.Cleanup(func() { _ = os.Remove(d) })
	}
	return root, dir, rel, containerID, podUID
}

// cgroup2Root returns the cgroup v2 mount, mounting the hierarchy on a
// temporary directory where the host has none (cgroup v1-only hosts: the v2
// hierarchy, whose ids sockets carry, exists in the kernel regardless).
func cgroup2Root(t *testing.T) string {
	t.Helper()
	if root, err := cgroups.FindCgroup2Mount(); err == nil {
		return root
	}
	root, err := os.MkdirTemp("", "vigil-cgroup2-")
	require.NoError(t, err)
	require.NoError(t, unix.Mount("cgroup2", root, "cgroup2", 0, ""), "mounting cgroup2")
	t.Logf("no cgroup2 mount on this host: mounted one at %s", root)
	t.Cleanup(func() {
		_ = unix.Unmount(root, 0)
		_ = os.Remove(root)
	})
	return root
}

// TestCgroupAttribution starts a child process inside a new cgroup laid out
// like a kubelet (systemd driver, containerd) pod container; its
// connections must carry that cgroup's path, container.id and k8s.pod.uid,
// while the test's own connections (root cgroup) carry none.
func TestCgroupAttribution(t *testing.T) {
	l := netnslab.New(t)
	root, dir, rel, containerID, podUID := newTestCgroup(t)
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = root
	sink, _ := startReceiverWith(t, cfg)
	const port, nChild, nSelf = 5003, 3, 2
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))

	netnslab.RunClient(t, l.NsA, dir, fmt.Sprintf("connect %s:%d %d", l.AddrB, port, nChild))
	for range nSelf {
		c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, port))
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	for range nChild + nSelf {
		<-got
	}

	peer := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": port}
	container := map[string]any{
		"vigil.cgroup.path": "/" + rel,
		"container.id":      containerID,
		"k8s.pod.uid":       podUID,
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		inCgroup := sumWhere(md, l.InoA, container, "kernel.tcp.connect.successes", peer)
		total := sumWhere(md, l.InoA, nil, "kernel.tcp.connect.successes", peer)
		return inCgroup == nChild && total == nChild+nSelf,
			fmt.Sprintf("successes attributed to the container %d (want %d), in netns %d (want %d)", inCgroup, nChild, total, nChild+nSelf)
	})
	// The test process itself sits in the root cgroup: host, no container.
	md := latest(sink)
	host := map[string]any{"vigil.cgroup.path": selfCgroup(t)}
	assert.Equal(t, int64(nSelf), sumWhere(md, l.InoA, host, "kernel.tcp.connect.successes", peer))
}

// selfCgroup returns this process's cgroup v2 path ("0::<path>").
func selfCgroup(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatal("no cgroup v2 entry in /proc/self/cgroup")
	return ""
}

// TestPeerOverflow: a container that talks to more peers than
// max_peers_per_cgroup gets exactly that many peer series plus an overflow
// series that holds the rest, and the folding is counted.
func TestPeerOverflow(t *testing.T) {
	l := netnslab.New(t)
	root, dir, rel, _, _ := newTestCgroup(t)
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = root
	cfg.MaxPeersPerCgroup = 2
	sink, tel := startReceiverWith(t, cfg)

	const nPorts = 5
	addrs, gots := l.ListenAndServePorts(l.NsB, l.AddrB, 6000, nPorts)
	netnslab.RunClient(t, l.NsA, dir, "connect "+strings.Join(addrs, ",")+" 1")
	for _, g := range gots {
		<-g
	}

	container := map[string]any{"vigil.cgroup.path": "/" + rel}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		total := sumWhere(md, l.InoA, container, "kernel.tcp.connect.successes", nil)
		overflow := sumWhere(md, l.InoA, container, "kernel.tcp.connect.successes", map[string]any{"network.peer.address": "overflow"})
		named := 0
		for i := range nPorts {
			if sumWhere(md, l.InoA, container, "kernel.tcp.connect.successes", map[string]any{"network.peer.port": 6000 + i}) > 0 {
				named++
			}
		}
		return total == nPorts && overflow == nPorts-2 && named == 2,
			fmt.Sprintf("successes %d (want %d), in overflow %d (want %d), named peers %d (want 2)", total, nPorts, overflow, nPorts-2, named)
	})
	eventually(t, 10*time.Second, func() (bool, string) {
		n := telemetrytest.CounterSum(t, tel, "otelcol_receiver_kernel_peer_overflow")
		return n >= nPorts-2, fmt.Sprintf("otelcol_receiver_kernel_peer_overflow = %d, want >= %d", n, nPorts-2)
	})
}

// TestIPv6 refuses connects over IPv6 between the namespaces: the failures
// and resets carry the IPv6 peer and network.type ipv6.
func TestIPv6(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind string) {
		l := netnslab.New(t)
		l.AddIPv6()
		sink, _ := startReceiverWith(t, createDefaultConfig().(*Config), kind)
		const n = 3
		beforeB := l.SNMP(l.NsB)
		for range n {
			_, err := l.Dial(l.NsA, "["+netnslab.Addr6B+"]:6999")
			require.ErrorContains(t, err, "connection refused")
		}
		outRsts := netnslab.Delta(l.SNMP(l.NsB), beforeB, "OutRsts")
		require.Equal(t, int64(n), outRsts)
		closed := map[string]any{"network.peer.address": netnslab.Addr6B, "network.peer.port": 6999, "network.type": "ipv6"}
		eventually(t, 10*time.Second, func() (bool, string) {
			md := latest(sink)
			f := sumWhere(md, l.InoA, nil, "kernel.tcp.connect.failures", closed)
			rr := sumWhere(md, l.InoA, nil, "kernel.tcp.resets", merge(closed, map[string]any{"network.io.direction": "receive"}))
			rs := sumWhere(md, l.InoB, nil, "kernel.tcp.resets", map[string]any{"network.peer.address": netnslab.Addr6A, "network.type": "ipv6", "network.io.direction": "transmit"})
			return f == n && rr == outRsts && rs == outRsts, fmt.Sprintf("failures %d, resets received %d, sent %d; want %d, %d, %d", f, rr, rs, n, outRsts, outRsts)
		})
	})
}

// TestRemovedCgroupIsForgotten: once a container's cgroup is removed, its
// aggregates leave the kernel maps (and the output) after the grace period,
// so that pod churn cannot fill the bounded maps.
func TestRemovedCgroupIsForgotten(t *testing.T) {
	l := netnslab.New(t)
	root, dir, rel, _, _ := newTestCgroup(t)
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = root
	sink, tel := startReceiverMod(t, cfg, func(r *kernelReceiver) {
		r.refresh = 100 * time.Millisecond
		r.goneGrace = 300 * time.Millisecond
	})
	const port = 5004
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))
	netnslab.RunClient(t, l.NsA, dir, fmt.Sprintf("connect %s:%d 2", l.AddrB, port))
	<-got
	<-got

	peer := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": port}
	eventually(t, 10*time.Second, func() (bool, string) {
		n := sumWhere(latest(sink), l.InoA, map[string]any{"vigil.cgroup.path": "/" + rel}, "kernel.tcp.connect.successes", peer)
		return n == 2, fmt.Sprintf("successes in the cgroup: %d, want 2", n)
	})
	// The child has exited: the cgroup is empty and can go.
	require.NoError(t, os.Remove(dir))
	eventually(t, 10*time.Second, func() (bool, string) {
		n := sumWhere(latest(sink), l.InoA, nil, "kernel.tcp.connect.attempts", peer)
		forgotten := telemetrytest.CounterSum(t, tel, "otelcol_receiver_kernel_forgotten_cgroups")
		return n == 0 && forgotten >= 1, fmt.Sprintf("attempts still reported: %d, cgroups forgotten: %d", n, forgotten)
	})
}

// TestConnectionStates holds connections open between two namespaces and
// checks the open-connections gauge on both ends (clients in a, the
// listener and its accepted connections in b); once every connection is
// closed, the established gauges must be reported as 0, not vanish.
func TestConnectionStates(t *testing.T) {
	forEachKind(t, testConnectionStates)
}

func testConnectionStates(t *testing.T, kind string) {
	l := netnslab.New(t)
	sink, _ := startReceiverWith(t, createDefaultConfig().(*Config), kind)
	const (
		port = 5006
		n    = 3
	)
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))

	var conns []interface{ Close() error }
	for range n {
		c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, port))
		require.NoError(t, err)
		conns = append(conns, c)
	}
	established := map[string]any{"network.connection.state": "established"}
	listen := map[string]any{"network.connection.state": "listen"}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		a := sumWhere(md, l.InoA, nil, "kernel.tcp.connections", established)
		b := sumWhere(md, l.InoB, nil, "kernel.tcp.connections", established)
		lb := sumWhere(md, l.InoB, nil, "kernel.tcp.connections", listen)
		return a == n && b == n && lb == 1, fmt.Sprintf("established in a %d, in b %d, listening in b %d; want %d, %d, 1", a, b, lb, n, n)
	})
	for _, c := range conns {
		require.NoError(t, c.Close())
		<-got
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		pa := pointsWhere(md, l.InoA, "kernel.tcp.connections", established)
		pb := pointsWhere(md, l.InoB, "kernel.tcp.connections", established)
		a := sumWhere(md, l.InoA, nil, "kernel.tcp.connections", established)
		b := sumWhere(md, l.InoB, nil, "kernel.tcp.connections", established)
		return pa == 1 && pb == 1 && a == 0 && b == 0,
			fmt.Sprintf("established in a: %d points, sum %d; in b: %d points, sum %d; want one point of 0 each", pa, a, pb, b)
	})
}
