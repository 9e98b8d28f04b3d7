// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/cgroupfs"
	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadatatest"
)

// The fixture tree testdata/v2 is a cgroup v2 host written from the file
// formats of Documentation/admin-guide/cgroup-v2.rst and
// Documentation/accounting/psi.rst (systemd driver, containerd and CRI-O).
const (
	cid1 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cid2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	cid3 = "1111111111111111111111111111111111111111111111111111111111111111"
	uid1 = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	uid2 = "11111111-2222-3333-4444-555555555555"

	pod1    = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b1c2d3e_4f50_6172_8394_a5b6c7d8e9f0.slice"
	ctr1    = pod1 + "/cri-containerd-" + cid1 + ".scope"
	pod2    = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice"
	ctr2    = pod2 + "/crio-" + cid2 + ".scope"
	conmon2 = pod2 + "/crio-conmon-" + cid2 + ".scope"
	ctr3    = "/system.slice/docker-" + cid3 + ".scope"
	sshd    = "/system.slice/sshd.service"
	v2Dir   = "testdata/v2/sys/fs/cgroup"
)

func inode(t *testing.T, rel string) int64 {
	t.Helper()
	ino, ok := cgroupfs.Inode(filepath.Join(v2Dir, rel))
	require.True(t, ok)
	return int64(ino)
}

func TestScrapeV2Fixture(t *testing.T) {
	t.Parallel()
	s, tel := startScraper(t, fixtureConfig(t, "v2"))
	got, resources := flatten(t, scrapeOnce(t, s))

	want := series{
		// containerd container: every v2 figure.
		key(ctr1, "cgroup.cpu.time"):                                                     4.5,
		key(ctr1, "cgroup.cpu.periods"):                                                  250,
		key(ctr1, "cgroup.cpu.throttled_periods"):                                        37,
		key(ctr1, "cgroup.cpu.throttled_time"):                                           1.1,
		key(ctr1, "cgroup.memory.usage"):                                                 67108864,
		key(ctr1, "cgroup.memory.peak"):                                                  100663296,
		key(ctr1, "cgroup.memory.events", "cgroup.memory.event=high"):                    2,
		key(ctr1, "cgroup.memory.events", "cgroup.memory.event=max"):                     1,
		key(ctr1, "cgroup.memory.events", "cgroup.memory.event=oom"):                     1,
		key(ctr1, "cgroup.memory.events", "cgroup.memory.event=oom_kill"):                1,
		key(ctr1, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=some"):    0.9,
		key(ctr1, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=full"):    0.45,
		key(ctr1, "cgroup.pressure.stall_time", "psi.resource=memory", "psi.stall=some"): 0.0019,
		key(ctr1, "cgroup.pressure.stall_time", "psi.resource=memory", "psi.stall=full"): 0.00095,
		key(ctr1, "cgroup.pressure.stall_time", "psi.resource=io", "psi.stall=some"):     0.0029,
		key(ctr1, "cgroup.pressure.stall_time", "psi.resource=io", "psi.stall=full"):     0.0014,
		// CRI-O container on an older kernel: no cpu controller figures,
		// no memory.peak, no io.pressure; memory.events and
		// memory.pressure malformed (left out, counted below).
		key(ctr2, "cgroup.cpu.time"):     0.123456,
		key(ctr2, "cgroup.memory.usage"): 4096,
		key(ctr2, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=some"): 77e-6,
		key(ctr2, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=full"): 11e-6,
		// docker container outside Kubernetes, no pressure files.
		key(ctr3, "cgroup.cpu.time"):              2,
		key(ctr3, "cgroup.cpu.periods"):           0,
		key(ctr3, "cgroup.cpu.throttled_periods"): 0,
		key(ctr3, "cgroup.cpu.throttled_time"):    0,
		key(ctr3, "cgroup.memory.usage"):          2097152,
		key(ctr3, "cgroup.memory.peak"):           3145728,
		// the node, from proc/pressure.
		key("node", "system.pressure.stall_time", "psi.resource=cpu", "psi.stall=some"):    157.656722,
		key("node", "system.pressure.stall_time", "psi.resource=cpu", "psi.stall=full"):    0,
		key("node", "system.pressure.stall_time", "psi.resource=memory", "psi.stall=some"): 0.002311,
		key("node", "system.pressure.stall_time", "psi.resource=memory", "psi.stall=full"): 0.00184,
		key("node", "system.pressure.stall_time", "psi.resource=io", "psi.stall=some"):     8.891234,
		key("node", "system.pressure.stall_time", "psi.resource=io", "psi.stall=full"):     7.123456,
	}
	require.Len(t, got, len(want))
	for k, v := range want {
		assert.InDelta(t, v, got[k], 1e-12, k)
	}

	// The resource identity is the kernel receiver's: container, pod, path,
	// plus the cgroup v2 id (the directory's inode).
	assert.Equal(t, map[string]any{
		"container.id": cid1, "k8s.pod.uid": uid1, "vigil.cgroup.path": ctr1, "vigil.cgroup.id": inode(t, ctr1),
	}, resources[ctr1].AsRaw())
	assert.Equal(t, map[string]any{
		"container.id": cid2, "k8s.pod.uid": uid2, "vigil.cgroup.path": ctr2, "vigil.cgroup.id": inode(t, ctr2),
	}, resources[ctr2].AsRaw())
	assert.Equal(t, map[string]any{
		"container.id": cid3, "vigil.cgroup.path": ctr3, "vigil.cgroup.id": inode(t, ctr3),
	}, resources[ctr3].AsRaw())
	assert.Empty(t, resources["node"].AsRaw())

	metadatatest.AssertEqualReceiverCgroupMalformedFiles(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualReceiverCgroupReadErrors(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualReceiverCgroupDroppedCgroups(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}

func TestScrapeV2Scopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scope Scope
		want  []string
	}{
		{ScopeContainers, []string{ctr2, ctr1, ctr3, "node"}},
		// CRI-O's conmon scope has the pod's UID: it is one of the pod's
		// cgroups. pod2's own directory has no figures, so no resource.
		{ScopePods, []string{conmon2, ctr2, pod1, ctr1, ctr3, "node"}},
		// Slices without figures (kubepods-besteffort.slice) are left out.
		{ScopeAll, []string{
			"/kubepods.slice", conmon2, ctr2, pod1, ctr1,
			"/system.slice", ctr3, sshd, "node",
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.scope), func(t *testing.T) {
			t.Parallel()
			cfg := fixtureConfig(t, "v2")
			cfg.Scope = tt.scope
			s, _ := startScraper(t, cfg)
			md := scrapeOnce(t, s)
			var order []string
			for i := 0; i < md.ResourceMetrics().Len(); i++ {
				p, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("vigil.cgroup.path")
				if ok {
					order = append(order, p.Str())
				} else {
					order = append(order, "node")
				}
			}
			// Walk order (lexical), the node last. A container's
			// children ("init") are never separate cgroups, and a
			// cgroup without any figure has no resource.
			assert.Equal(t, tt.want, order)
		})
	}
}

func TestScrapeV2PodResource(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, "v2")
	cfg.Scope = ScopePods
	s, _ := startScraper(t, cfg)
	got, resources := flatten(t, scrapeOnce(t, s))
	assert.Equal(t, map[string]any{"k8s.pod.uid": uid1, "vigil.cgroup.path": pod1, "vigil.cgroup.id": inode(t, pod1)}, resources[pod1].AsRaw())
	assert.InDelta(t, 5.0, got[key(pod1, "cgroup.cpu.time")], 1e-12)
	assert.InDelta(t, 73400320.0, got[key(pod1, "cgroup.memory.usage")], 0)
}

func TestScrapeMaxCgroups(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, "v2")
	cfg.MaxCgroups = 1
	s, tel := startScraper(t, cfg)
	for range 2 {
		md := scrapeOnce(t, s)
		// the first container in walk order, and the node.
		require.Equal(t, 2, md.ResourceMetrics().Len())
		p, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get("vigil.cgroup.path")
		assert.Equal(t, ctr2, p.Str())
	}
	// two containers left out in each of two scrapes.
	metadatatest.AssertEqualReceiverCgroupDroppedCgroups(t, tel, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
	assert.Len(t, s.firstSeen, 1)
}

func TestScrapeStartTimes(t *testing.T) {
	t.Parallel()
	s, _ := startScraper(t, fixtureConfig(t, "v2"))
	first := scrapeOnce(t, s)
	second := scrapeOnce(t, s)
	require.Equal(t, first.ResourceMetrics().Len(), second.ResourceMetrics().Len())
	for i := 0; i < first.ResourceMetrics().Len(); i++ {
		m1 := first.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		m2 := second.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < m1.Len(); j++ {
			if m1.At(j).Name() != "cgroup.cpu.time" {
				continue
			}
			dp1, dp2 := m1.At(j).Sum().DataPoints().At(0), m2.At(j).Sum().DataPoints().At(0)
			// A cgroup's cumulative series keep the start time of the
			// scrape that first saw it.
			assert.Equal(t, dp1.StartTimestamp(), dp2.StartTimestamp())
			assert.Equal(t, dp1.StartTimestamp(), dp1.Timestamp())
		}
	}
}

func TestScrapeCgroupRemoved(t *testing.T) {
	t.Parallel()
	// A copy of one container's directory, removed between two scrapes:
	// its series end, nothing is counted as an error, and its start time
	// is forgotten.
	root := t.TempDir()
	cg := filepath.Join(root, "sys/fs/cgroup")
	dir := filepath.Join(cg, "docker", cid3)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "memory.current"), []byte("8192\n"), 0o600))
	mi := filepath.Join(root, "mountinfo")
	require.NoError(t, os.WriteFile(mi, []byte("26 25 0:24 / "+cg+" rw - cgroup2 cgroup2 rw\n"), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot, cfg.MountinfoPath, cfg.PressurePath = cg, mi, filepath.Join(root, "none")
	s, tel := startScraper(t, cfg)

	got, _ := flatten(t, scrapeOnce(t, s))
	assert.Equal(t, series{key("/docker/"+cid3, "cgroup.memory.usage"): 8192}, got)
	require.NoError(t, os.RemoveAll(dir))
	md := scrapeOnce(t, s)
	assert.Equal(t, 0, md.ResourceMetrics().Len())
	assert.Empty(t, s.firstSeen)
	metadatatest.AssertEqualReceiverCgroupReadErrors(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}

func TestStartFailsWithoutHierarchy(t *testing.T) {
	t.Parallel()
	mi := filepath.Join(t.TempDir(), "mountinfo")
	require.NoError(t, os.WriteFile(mi, []byte("22 1 253:0 / / rw - ext4 /dev/vda rw\n"), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.MountinfoPath = mi
	s := newCgroupScraper(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
	err := s.start(context.Background(), componenttest.NewNopHost())
	require.EqualError(t, err, "cgroup receiver: no cgroup v2 hierarchy and no v1 cpu, cpuacct or memory hierarchy is mounted at or under /sys/fs/cgroup")
	require.NoError(t, s.shutdown(context.Background()))

	cfg.MountinfoPath = filepath.Join(t.TempDir(), "missing")
	s = newCgroupScraper(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
	require.ErrorContains(t, s.start(context.Background(), componenttest.NewNopHost()), "cgroup receiver: reading mountinfo: open ")
}

// TestScrapeV1Fixture reads a legacy (v1 only) layout with cpu and cpuacct
// co-mounted, written from cgroup-v1's documented files: the hierarchies
// join on the container id even where a runtime put the memory cgroup at
// another path, there is no cgroup v2 id and no per-cgroup pressure.
func TestScrapeV1Fixture(t *testing.T) {
	t.Parallel()
	const (
		v1c1 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		v1c2 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	docker := "/docker/" + v1c1
	// memory is walked first, so its path names the joined resource.
	podCtr := "/kubepods/besteffort/pod" + uid1 + "/crio-" + v1c2
	s, tel := startScraper(t, fixtureConfig(t, "v1"))
	got, resources := flatten(t, scrapeOnce(t, s))
	assert.Equal(t, series{
		key(docker, "cgroup.cpu.time"):                                                  98.7654321,
		key(docker, "cgroup.cpu.periods"):                                               1000,
		key(docker, "cgroup.cpu.throttled_periods"):                                     250,
		key(docker, "cgroup.cpu.throttled_time"):                                        5.5,
		key(docker, "cgroup.memory.usage"):                                              268435456,
		key(docker, "cgroup.memory.peak"):                                               536870912,
		key(docker, "cgroup.memory.events", "cgroup.memory.event=oom_kill"):             3,
		key(podCtr, "cgroup.cpu.time"):                                                  0.005,
		key(podCtr, "cgroup.cpu.periods"):                                               10,
		key(podCtr, "cgroup.cpu.throttled_periods"):                                     0,
		key(podCtr, "cgroup.cpu.throttled_time"):                                        0,
		key(podCtr, "cgroup.memory.usage"):                                              12288,
		key(podCtr, "cgroup.memory.events", "cgroup.memory.event=oom_kill"):             0,
		key("node", "system.pressure.stall_time", "psi.resource=cpu", "psi.stall=some"): 5e-6,
	}, got)
	assert.Equal(t, map[string]any{"container.id": v1c1, "vigil.cgroup.path": docker}, resources[docker].AsRaw())
	assert.Equal(t, map[string]any{"container.id": v1c2, "k8s.pod.uid": uid1, "vigil.cgroup.path": podCtr}, resources[podCtr].AsRaw())
	// memory.max_usage_in_bytes of the pod's container is malformed.
	metadatatest.AssertEqualReceiverCgroupMalformedFiles(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	assert.Equal(t, "/sys/fs/cgroup/cpu,cpuacct", strings.TrimPrefix(s.layout.CPU.MountPoint, mustAbs(t, "testdata/v1")))
	assert.Same(t, s.layout.CPU, s.layout.CPUAcct)
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

func TestScrapeCanceled(t *testing.T) {
	t.Parallel()
	s, _ := startScraper(t, fixtureConfig(t, "v2"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.scrape(ctx)
	require.ErrorIs(t, err, context.Canceled)
	// Nothing of the canceled scrape leaks into the next one.
	got, _ := flatten(t, scrapeOnce(t, s))
	assert.Len(t, got, 32)
}
