// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package cgroupreceiver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/cgroupfs"
)

// v2FileFigures reads, straight from a cgroup2 directory, every figure the
// receiver reports in v2 mode, for whichever files the kernel has there.
func v2FileFigures(t *testing.T, dir, res string) series {
	t.Helper()
	out := series{}
	read := func(name string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			return "", false
		}
		require.NoError(t, err)
		return string(b), true
	}
	num := func(s string) float64 { return fileNumber(t, s) }
	keyed := func(s string) map[string]float64 { return fileKeyed(t, s) }
	if s, ok := read("cpu.stat"); ok {
		m := keyed(s)
		for k, metric := range map[string]string{"nr_periods": "cgroup.cpu.periods", "nr_throttled": "cgroup.cpu.throttled_periods"} {
			if v, ok := m[k]; ok {
				out[key(res, metric)] = v
			}
		}
		if v, ok := m["usage_usec"]; ok {
			out[key(res, "cgroup.cpu.time")] = v / 1e6
		}
		if v, ok := m["throttled_usec"]; ok {
			out[key(res, "cgroup.cpu.throttled_time")] = v / 1e6
		}
	}
	if s, ok := read("memory.current"); ok {
		out[key(res, "cgroup.memory.usage")] = num(s)
	}
	if s, ok := read("memory.peak"); ok {
		out[key(res, "cgroup.memory.peak")] = num(s)
	}
	if s, ok := read("memory.events"); ok {
		for k, v := range keyed(s) {
			switch k {
			case "high", "max", "oom", "oom_kill":
				out[key(res, "cgroup.memory.events", "cgroup.memory.event="+k)] = v
			}
		}
	}
	for _, r := range []string{"cpu", "memory", "io"} {
		s, ok := read(r + ".pressure")
		if !ok {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
			f := strings.Fields(line)
			total, ok := strings.CutPrefix(f[len(f)-1], "total=")
			require.True(t, ok, line)
			out[key(res, "cgroup.pressure.stall_time", "psi.resource="+r, "psi.stall="+f[0])] = num(total) / 1e6
		}
	}
	return out
}

// TestV2RealKernel reads the machine's real cgroup2 hierarchy in v2 mode
// (cgroup_root set to the cgroup2 mount, so that on a hybrid machine the v1
// mounts are out of scope). A kubelet-shaped container cgroup is created
// there and a child burns CPU in it. The scrape must equal the files for
// every figure the kernel has there: on a hybrid machine without
// controllers in cgroup2, that is cgroup2's own cpu.stat usage and the
// pressure files; on a v2 machine, also the cpu and memory controllers'.
func TestV2RealKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root: run these tests as root (scripts/test.sh does)")
	}
	f, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	mounts, err := cgroupfs.ParseMountinfo(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	l, err := cgroupfs.DetectLayout(mounts, "/sys/fs/cgroup")
	require.NoError(t, err)
	if l.Unified == nil {
		t.Skip("no cgroup2 hierarchy is mounted under /sys/fs/cgroup")
	}
	v2 := cgroupfs.Layout{Mode: cgroupfs.ModeV2, Unified: l.Unified}
	podUID := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	c := makeTestCgroups(t, v2, podUID, 1)[0] // in the cgroup2 hierarchy only
	require.NotEmpty(t, c.unified)
	require.NoError(t, runHelper(t, "burn", c))

	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = l.Unified.MountPoint
	s, _ := startScraper(t, cfg)
	require.Equal(t, cgroupfs.ModeV2, s.layout.Mode)

	var got, want series
	var resources map[string]map[string]any
	for attempt := 0; ; attempt++ {
		before := v2FileFigures(t, c.unified, c.rel)
		all, r := flatten(t, scrapeOnce(t, s))
		after := v2FileFigures(t, c.unified, c.rel)
		if fmt.Sprint(before) == fmt.Sprint(after) {
			got, want = only(all, c.rel), before
			resources = map[string]map[string]any{}
			for k, v := range r {
				resources[k] = v.AsRaw()
			}
			break
		}
		require.Less(t, attempt, 10, "the cgroup's files kept changing")
	}
	assert.Equal(t, want, got, "every figure equals its file")
	assert.GreaterOrEqual(t, got[key(c.rel, "cgroup.cpu.time")], 0.95*float64(burnCPU)/1e9, "the burner's CPU time")
	assert.Positive(t, got[key(c.rel, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=some")], "the burner's CPU pressure")

	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(c.unified, &st))
	assert.Equal(t, map[string]any{
		"container.id": c.containerID, "k8s.pod.uid": podUID, "vigil.cgroup.path": c.rel, "vigil.cgroup.id": int64(st.Ino),
	}, resources[c.rel])
	t.Logf("v2 on %s: %d figures compared, cpu %.3fs, cpu pressure some %.3fs", l.Unified.MountPoint, len(got),
		got[key(c.rel, "cgroup.cpu.time")], got[key(c.rel, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=some")])
}
