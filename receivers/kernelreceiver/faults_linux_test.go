// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kernelreceiver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/internal/netnslab"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/cgroups"
)

// Root tests of the faults of issue 15, each in network namespaces of its
// own: how a server's connections are keyed, a listener's resets, the
// identity of unresolved cgroups, and the path of a short-lived cgroup.

// points counts the data points (sums and histograms) of metric name in
// namespace netns whose attributes include attrs.
func points(md pmetric.Metrics, netns uint32, name string, attrs map[string]any) int {
	n := 0
	eachPointWhere(md, netns, nil, name, attrs,
		func(pmetric.NumberDataPoint) { n++ },
		func(pmetric.HistogramDataPoint) { n++ })
	return n
}

// TestServerKeyedByListeningPort: a server that accepts thousands of short
// connections from one client host holds exactly one series per (listening
// port, client address), with nothing folded into overflow, although the
// client connects from as many ephemeral ports. (The kernel clears
// SOCK_BINDPORT_LOCK on accepted sockets; keying by it gave one series per
// connection, and overflow after max_peers_per_cgroup of them.)
func TestServerKeyedByListeningPort(t *testing.T) {
	l := netnslab.New(t)
	sink, _ := startReceiverWith(t, createDefaultConfig().(*Config))
	const (
		port = 5101
		n    = 2000 // > max_peers_per_cgroup (512)
	)
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))

	dialed := make(chan error, 1)
	go func() {
		dialed <- netnslab.InNetns(l.NsA, func() error {
			for range n {
				c, err := net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", l.AddrB, port), 5*time.Second)
				if err != nil {
					return err
				}
				_ = c.Close()
			}
			return nil
		})
	}()
	for range n {
		<-got
	}
	require.NoError(t, <-dialed)

	server := map[string]any{"network.peer.address": l.AddrA, "network.local.port": port, "network.peer.port": 0}
	client := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": port, "network.local.port": 0}
	eventually(t, 20*time.Second, func() (bool, string) {
		md := latest(sink)
		successes := sumWhere(md, l.InoA, nil, "kernel.tcp.connect.successes", client)
		clientSeries := points(md, l.InoA, "kernel.tcp.connect.successes", nil)
		serverSeries := points(md, l.InoB, "kernel.tcp.rtt", nil)
		serverRTT := sumWhere(md, l.InoB, nil, "kernel.tcp.rtt", server)
		allRTT := sumWhere(md, l.InoB, nil, "kernel.tcp.rtt", nil)
		overflow := points(md, l.InoA, "kernel.tcp.rtt", map[string]any{"network.peer.address": "overflow"}) +
			points(md, l.InoB, "kernel.tcp.rtt", map[string]any{"network.peer.address": "overflow"})
		return successes == n && clientSeries == 1 && serverSeries == 1 && serverRTT > 0 && serverRTT == allRTT && overflow == 0,
			fmt.Sprintf("client: %d successes (want %d) in %d series (want 1); server: %d RTT series (want 1), %d samples keyed (listening port, client), %d in all; overflow series %d (want 0)",
				successes, n, clientSeries, serverSeries, serverRTT, allRTT, overflow)
	})
}

// TestListenerResetKeyedByPeer: a reset a listener sends (answering a
// segment no connection or request matches) is keyed by the peer the
// segment came from and the listening port, not by the listener's own
// unset remote address (0.0.0.0).
func TestListenerResetKeyedByPeer(t *testing.T) {
	l := netnslab.New(t)
	sink, _ := startReceiverWith(t, createDefaultConfig().(*Config))
	const port = 5102
	ln := l.Listen(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- s
	}()
	c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, port))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	s, ok := <-accepted
	require.True(t, ok, "accept")

	// b forgets the connection without a's knowledge: everything b sends
	// to a's port is dropped from now on, starting with the reset of the
	// aborted connection.
	l.DropEgress(l.NsB, "vb", uint16(c.LocalAddr().(*net.TCPAddr).Port), 100)
	before := l.SNMP(l.NsB)
	require.NoError(t, s.(*net.TCPConn).SetLinger(0))
	require.NoError(t, s.Close())
	// a's next segment reaches the listener, which answers with a reset
	// (and again for each retransmission).
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	eventually(t, 20*time.Second, func() (bool, string) {
		d := netnslab.Delta(l.SNMP(l.NsB), before, "OutRsts")
		return d >= 3, fmt.Sprintf("b sent %d resets, want the abort's and at least two of the listener's", d)
	})
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
	outRsts := netnslab.Delta(l.SNMP(l.NsB), before, "OutRsts")

	sent := map[string]any{"network.io.direction": "transmit"}
	peer := map[string]any{"network.io.direction": "transmit", "network.peer.address": l.AddrA, "network.local.port": port, "network.peer.port": 0}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		all := sumWhere(md, l.InoB, nil, "kernel.tcp.resets", sent)
		keyed := sumWhere(md, l.InoB, nil, "kernel.tcp.resets", peer)
		unset := sumWhere(md, l.InoB, nil, "kernel.tcp.resets", map[string]any{"network.peer.address": "0.0.0.0"})
		return all == outRsts && keyed == outRsts && unset == 0,
			fmt.Sprintf("resets sent by b: %d in all, %d keyed (%s, port %d), %d keyed 0.0.0.0; TcpOutRsts delta %d", all, keyed, l.AddrA, port, unset, outRsts)
	})
}

// TestHistogramsPerUnresolvedCgroup: two cgroups whose paths the receiver
// cannot resolve (its cgroup root is an empty directory, and they existed
// before it started, so it saw no cgroup_mkdir) connect from one
// namespace. Each keeps its own resource (vigil.cgroup.id) with its own
// exact histogram counts.
func TestHistogramsPerUnresolvedCgroup(t *testing.T) {
	l := netnslab.New(t)
	_, dir1, _, _, _ := newTestCgroup(t)
	_, dir2, _, _, _ := newTestCgroup(t)
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = t.TempDir()
	sink, _ := startReceiverWith(t, cfg)
	const port, n1, n2 = 5103, 2, 3
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))
	netnslab.RunClient(t, l.NsA, dir1, fmt.Sprintf("connect %s:%d %d", l.AddrB, port, n1))
	netnslab.RunClient(t, l.NsA, dir2, fmt.Sprintf("connect %s:%d %d", l.AddrB, port, n2))
	for range n1 + n2 {
		<-got
	}

	peer := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": port}
	id1, err := cgroups.ID(dir1)
	require.NoError(t, err)
	id2, err := cgroups.ID(dir2)
	require.NoError(t, err)
	cg1 := map[string]any{"vigil.cgroup.id": int64(id1)}
	cg2 := map[string]any{"vigil.cgroup.id": int64(id2)}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		h1 := sumWhere(md, l.InoA, cg1, "kernel.tcp.connect.duration", peer)
		h2 := sumWhere(md, l.InoA, cg2, "kernel.tcp.connect.duration", peer)
		s1 := sumWhere(md, l.InoA, cg1, "kernel.tcp.connect.successes", peer)
		s2 := sumWhere(md, l.InoA, cg2, "kernel.tcp.connect.successes", peer)
		all := sumWhere(md, l.InoA, nil, "kernel.tcp.connect.duration", peer)
		return h1 == n1 && h2 == n2 && s1 == n1 && s2 == n2 && all == n1+n2,
			fmt.Sprintf("connect.duration samples: cgroup 1 %d (want %d), cgroup 2 %d (want %d), netns %d (want %d); successes %d, %d",
				h1, n1, h2, n2, all, n1+n2, s1, s2)
	})
	md := latest(sink)
	assert.Zero(t, sumWhere(md, l.InoA, map[string]any{"vigil.cgroup.path": "/"}, "kernel.tcp.connect.duration", peer),
		"no sample attributed to another cgroup's path")
}

// TestShortLivedCgroupAttributed: a cgroup created, used and removed
// between two walks of the hierarchy (walks are rate-limited; here to one
// an hour) is still attributed by path, container and pod: its path was
// recorded when it was created.
func TestShortLivedCgroupAttributed(t *testing.T) {
	l := netnslab.New(t)
	root := cgroup2Root(t)
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = root
	sink, _ := startReceiverMod(t, cfg, func(r *kernelReceiver) { r.refresh = time.Hour })
	const port = 5104
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))
	peer := map[string]any{"network.peer.address": l.AddrB, "network.peer.port": port}

	// The test's own connection makes the receiver walk the hierarchy once
	// (its first unknown cgroup); the next walk would be an hour later.
	c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, port))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	<-got
	eventually(t, 10*time.Second, func() (bool, string) {
		n := sumWhere(latest(sink), l.InoA, map[string]any{"vigil.cgroup.path": selfCgroup(t)}, "kernel.tcp.connect.successes", peer)
		return n == 1, fmt.Sprintf("the test's own connection, attributed: %d", n)
	})

	_, dir, rel, containerID, podUID := newTestCgroup(t)
	netnslab.RunClient(t, l.NsA, dir, fmt.Sprintf("connect %s:%d 2", l.AddrB, port))
	<-got
	<-got
	require.NoError(t, os.Remove(dir), "the job is done: its cgroup goes")
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)

	container := map[string]any{"vigil.cgroup.path": "/" + filepath.ToSlash(rel), "container.id": containerID, "k8s.pod.uid": podUID}
	eventually(t, 10*time.Second, func() (bool, string) {
		n := sumWhere(latest(sink), l.InoA, container, "kernel.tcp.connect.successes", peer)
		return n == 2, fmt.Sprintf("successes attributed to the removed container: %d, want 2", n)
	})
}

// TestSeriesPerNode measures the series of the README's cardinality example:
// N containers (cgroups) in one namespace, each a client of the same M
// services (listeners in a second namespace), 2 connects per peer, no loss.
// It checks the README's bound, N × (8 M + 10) per side, and one resource
// per container, and logs the series counted by metric.
func TestSeriesPerNode(t *testing.T) {
	l := netnslab.New(t)
	const nPods, mPeers = 3, 4
	root := cgroup2Root(t)
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = root
	sink, _ := startReceiverWith(t, cfg)
	addrs, gots := l.ListenAndServePorts(l.NsB, l.AddrB, 5200, mPeers)
	var pods []string
	for range nPods {
		_, dir, rel, _, _ := newTestCgroup(t)
		pods = append(pods, "/"+rel)
		netnslab.RunClient(t, l.NsA, dir, "connect "+strings.Join(addrs, ",")+" 2")
	}
	for _, g := range gots {
		for range nPods * 2 {
			<-g
		}
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		md := latest(sink)
		n := sumWhere(md, l.InoA, nil, "kernel.tcp.connect.successes", nil)
		return n == nPods*mPeers*2, fmt.Sprintf("successes %d, want %d", n, nPods*mPeers*2)
	})
	md := latest(sink)
	byMetric := map[string]int{}
	series := map[uint32]int{}
	resources := map[uint32]int{}
	for _, netns := range []uint32{l.InoA, l.InoB} {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			rm := rms.At(i)
			if v, _ := rm.Resource().Attributes().Get("vigil.netns.inode"); v.Int() != int64(netns) {
				continue
			}
			resources[netns]++
			ms := rm.ScopeMetrics().At(0).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var n int
				switch m.Type() {
				case pmetric.MetricTypeSum:
					n = m.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					n = m.Histogram().DataPoints().Len()
				}
				byMetric[m.Name()] += n
				series[netns] += n
			}
		}
	}
	t.Logf("N=%d containers x M=%d peers: clients' namespace %d resources, %d series; servers' namespace %d resources, %d series; by metric %v",
		nPods, mPeers, resources[l.InoA], series[l.InoA], resources[l.InoB], series[l.InoB], byMetric)
	assert.Equal(t, nPods, resources[l.InoA], "one resource per container")
	assert.LessOrEqual(t, series[l.InoA], nPods*(8*mPeers+10))
	for _, p := range pods {
		assert.Equal(t, int64(2*mPeers), sumWhere(md, l.InoA, map[string]any{"vigil.cgroup.path": p}, "kernel.tcp.connect.successes", nil), p)
	}
}
