// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package cgroupreceiver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/cgroupfs"
	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadatatest"
)

// The test binary re-executes itself as the process that burns CPU or
// allocates memory inside the cgroups a test creates (TestHelperProcess).
const (
	helperEnv      = "VIGIL_CGROUP_TEST_HELPER"
	helperProcsEnv = "VIGIL_CGROUP_TEST_PROCS"
	burnCPU        = 300 * 1000 * 1000 // ns of CPU time the burner consumes
	allocBytes     = 256 << 20
	memoryLimit    = 48 << 20
)

// TestHelperProcess is not a test: it is the child process of the v1
// tests, started with helperEnv set. It moves itself into the cgroups named
// in helperProcsEnv, then burns CPU or allocates past the memory limit.
func TestHelperProcess(*testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	for _, procs := range strings.Split(os.Getenv(helperProcsEnv), ":") {
		if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			fmt.Fprintln(os.Stderr, "joining", procs, err)
			os.Exit(2)
		}
	}
	switch mode {
	case "burn":
		// Spin on one more thread than there are CPUs until this process
		// has used burnCPU of CPU time since it joined the cgroups. Under
		// a quota of 20 ms per 100 ms period that is at least 15
		// periods, throttled in nearly every one; and while it runs, one
		// of its threads always waits for a CPU, which cgroup2 counts as
		// CPU pressure of the cgroup.
		used := func() int64 {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return ru.Utime.Nano() + ru.Stime.Nano()
		}
		start := used()
		spinners := runtime.NumCPU() + 1
		runtime.GOMAXPROCS(spinners)
		for range spinners {
			go func() {
				for {
					for i := 0; i < 1_000_000; i++ {
						_ = i * i
					}
				}
			}()
		}
		for used()-start < burnCPU {
			time.Sleep(time.Millisecond)
		}
		os.Exit(0)
	case "alloc":
		// Touch every page of allocBytes: the OOM killer ends this
		// process once the cgroup's limit is reached.
		var keep [][]byte
		for n := 0; n < allocBytes; n += 1 << 20 {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep), "MiB without being killed")
		os.Exit(3)
	}
	os.Exit(4)
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// testCgroup is one kubelet-shaped container cgroup created in every
// hierarchy of a layout (the v1 ones the receiver reads, the cgroup2 one).
type testCgroup struct {
	rel                           string // path relative to each hierarchy's root
	containerID                   string
	cpu, cpuacct, memory, unified string // directories ("" where not mounted)
}

func (c testCgroup) procsFiles() string {
	var files []string
	for _, d := range []string{c.cpu, c.cpuacct, c.memory, c.unified} {
		if d != "" && !contains(files, filepath.Join(d, "cgroup.procs")) {
			files = append(files, filepath.Join(d, "cgroup.procs"))
		}
	}
	return strings.Join(files, ":")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func realV1Layout(t testing.TB) cgroupfs.Layout {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root: run these tests as root (scripts/test.sh does)")
	}
	f, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer f.Close()
	mounts, err := cgroupfs.ParseMountinfo(f)
	require.NoError(t, err)
	l, err := cgroupfs.DetectLayout(mounts, "/sys/fs/cgroup")
	require.NoError(t, err)
	if l.Mode != cgroupfs.ModeV1 {
		t.Skipf("this kernel mounts cgroup %s only: the v1 tests need v1 cpu, cpuacct and memory hierarchies (v2 is covered by the fixture tests)", l.Mode)
	}
	if l.CPU == nil || l.CPUAcct == nil || l.Memory == nil {
		t.Skip("v1 layout without all of cpu, cpuacct and memory mounted")
	}
	return l
}

// makeTestCgroups creates /<unique>/kubepods/burstable/pod<uid>/<cid> for each
// container, removed (deepest first) when the test ends.
func makeTestCgroups(t testing.TB, l cgroupfs.Layout, podUID string, n int) []testCgroup {
	t.Helper()
	top := fmt.Sprintf("/vigil-cgroup-test-%d-%s", os.Getpid(), randomHex(t, 4))
	podRel := top + "/kubepods/burstable/pod" + podUID
	var out []testCgroup
	var dirs []string
	mk := func(h *cgroupfs.Hierarchy, rel string) string {
		if h == nil {
			return ""
		}
		d := filepath.Join(h.MountPoint, rel)
		if !contains(dirs, d) {
			require.NoError(t, os.MkdirAll(d, 0o755))
			dirs = append(dirs, d)
		}
		return d
	}
	t.Cleanup(func() {
		// Children first; each hierarchy's chain up to the unique top.
		for _, h := range []*cgroupfs.Hierarchy{l.CPU, l.CPUAcct, l.Memory, l.Unified} {
			if h == nil {
				continue
			}
			for _, c := range out {
				_ = os.Remove(filepath.Join(h.MountPoint, c.rel))
			}
			for p := podRel; p != "/"; p = filepath.Dir(p) {
				if err := os.Remove(filepath.Join(h.MountPoint, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("removing test cgroup: %v", err)
				}
			}
		}
	})
	for range n {
		cid := randomHex(t, 32)
		c := testCgroup{rel: podRel + "/" + cid, containerID: cid}
		c.cpu = mk(l.CPU, c.rel)
		c.cpuacct = mk(l.CPUAcct, c.rel)
		c.memory = mk(l.Memory, c.rel)
		c.unified = mk(l.Unified, c.rel)
		out = append(out, c)
	}
	return out
}

func writeFile(t *testing.T, dir, name, v string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(v), 0))
}

func runHelper(t *testing.T, mode string, c testCgroup) error {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperProcsEnv+"="+c.procsFiles())
	out, err := cmd.CombinedOutput()
	t.Logf("helper %s: %v %s", mode, err, out)
	return err
}

// fileFigures reads, straight from the files, every figure the receiver
// reports for a v1 cgroup, keyed like flatten's output.
func fileFigures(t *testing.T, c testCgroup) series {
	t.Helper()
	res := strings.TrimSuffix(c.rel, "/")
	out := series{}
	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	num := func(s string) float64 { return fileNumber(t, s) }
	keyed := func(s string) map[string]float64 { return fileKeyed(t, s) }
	cpu := keyed(read(c.cpu, "cpu.stat"))
	out[key(res, "cgroup.cpu.periods")] = cpu["nr_periods"]
	out[key(res, "cgroup.cpu.throttled_periods")] = cpu["nr_throttled"]
	out[key(res, "cgroup.cpu.throttled_time")] = cpu["throttled_time"] / 1e9
	out[key(res, "cgroup.cpu.time")] = num(read(c.cpuacct, "cpuacct.usage")) / 1e9
	out[key(res, "cgroup.memory.usage")] = num(read(c.memory, "memory.usage_in_bytes"))
	out[key(res, "cgroup.memory.peak")] = num(read(c.memory, "memory.max_usage_in_bytes"))
	out[key(res, "cgroup.memory.events", "cgroup.memory.event=oom_kill")] = keyed(read(c.memory, "memory.oom_control"))["oom_kill"]
	if c.unified != "" {
		for _, r := range []string{"cpu", "memory", "io"} {
			for _, line := range strings.Split(strings.TrimSpace(read(c.unified, r+".pressure")), "\n") {
				f := strings.Fields(line)
				total, ok := strings.CutPrefix(f[len(f)-1], "total=")
				require.True(t, ok, line)
				out[key(res, "cgroup.pressure.stall_time", "psi.resource="+r, "psi.stall="+f[0])] = num(total) / 1e6
			}
		}
	}
	return out
}

// only keeps the series of one resource.
func only(s series, res string) series {
	out := series{}
	for k, v := range s {
		if strings.HasPrefix(k, res+"|") {
			out[k] = v
		}
	}
	return out
}

// TestV1RealKernel creates two containers of one pod in the real v1
// hierarchies (and the hybrid cgroup2 one): one burns CPU under a CFS quota,
// the other allocates past its memory limit. The scrape must equal the
// files exactly, show the throttling and exactly one OOM kill, and join
// the hierarchies into one resource per container with the kernel
// receiver's identity.
func TestV1RealKernel(t *testing.T) {
	l := realV1Layout(t)
	podUID := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	cgs := makeTestCgroups(t, l, podUID, 2)
	burner, allocator := cgs[0], cgs[1]

	if _, err := os.Stat(filepath.Join(burner.cpu, "cpu.cfs_quota_us")); err != nil {
		t.Skip("this kernel has no CFS bandwidth control (CONFIG_CFS_BANDWIDTH): cpu.cfs_quota_us is missing")
	}
	oomControl, err := os.ReadFile(filepath.Join(allocator.memory, "memory.oom_control"))
	require.NoError(t, err)
	if !strings.Contains(string(oomControl), "oom_kill ") {
		t.Skip("memory.oom_control has no oom_kill counter (Linux < 4.13)")
	}

	writeFile(t, burner.cpu, "cpu.cfs_period_us", "100000")
	writeFile(t, burner.cpu, "cpu.cfs_quota_us", "20000")
	writeFile(t, allocator.memory, "memory.limit_in_bytes", strconv.Itoa(memoryLimit))
	if _, err := os.Stat(filepath.Join(allocator.memory, "memory.memsw.limit_in_bytes")); err == nil {
		// With swap accounting, bound swap too so the allocation cannot
		// escape the limit into swap.
		writeFile(t, allocator.memory, "memory.memsw.limit_in_bytes", strconv.Itoa(memoryLimit))
	}

	require.NoError(t, runHelper(t, "burn", burner))
	err = runHelper(t, "alloc", allocator)
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	ws := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the allocator must be killed by the OOM killer, got %v", err)

	s, tel := startScraper(t, createDefaultConfig().(*Config))
	require.Equal(t, cgroupfs.ModeV1, s.layout.Mode)

	for _, c := range cgs {
		res := c.rel
		// The files of exited tasks' cgroups only change through
		// background reclaim; read them around the scrape and compare
		// when both reads agree.
		var got, want series
		var resources map[string]map[string]any
		for attempt := 0; ; attempt++ {
			before := fileFigures(t, c)
			all, r := flatten(t, scrapeOnce(t, s))
			after := fileFigures(t, c)
			if fmt.Sprint(before) == fmt.Sprint(after) {
				got, want = only(all, res), before
				resources = map[string]map[string]any{}
				for k, v := range r {
					resources[k] = v.AsRaw()
				}
				break
			}
			require.Less(t, attempt, 10, "the cgroup's files kept changing")
		}
		assert.Equal(t, want, got, "every figure equals its file (%s)", res)

		wantRes := map[string]any{
			"container.id":      c.containerID,
			"k8s.pod.uid":       podUID,
			"vigil.cgroup.path": res,
		}
		if c.unified != "" {
			var st syscall.Stat_t
			require.NoError(t, syscall.Stat(c.unified, &st))
			wantRes["vigil.cgroup.id"] = int64(st.Ino)
		}
		assert.Equal(t, wantRes, resources[res], "one resource joins the cpu, cpuacct and memory hierarchies")
	}

	all, _ := flatten(t, scrapeOnce(t, s))
	b, a := only(all, burner.rel), only(all, allocator.rel)
	assert.Positive(t, b[key(burner.rel, "cgroup.cpu.throttled_periods")], "the burner was throttled")
	assert.Positive(t, b[key(burner.rel, "cgroup.cpu.throttled_time")])
	// rusage and cpuacct both count the tasks' runtime; allow for the
	// split of rusage into user and system time rounding down.
	assert.GreaterOrEqual(t, b[key(burner.rel, "cgroup.cpu.time")], 0.95*float64(burnCPU)/1e9)
	assert.Zero(t, b[key(burner.rel, "cgroup.memory.events", "cgroup.memory.event=oom_kill")])
	assert.Equal(t, 1.0, a[key(allocator.rel, "cgroup.memory.events", "cgroup.memory.event=oom_kill")], "exactly one OOM kill")
	assert.Zero(t, a[key(allocator.rel, "cgroup.cpu.throttled_periods")], "no quota, no throttling")
	// The peak is the limit: the kernel may overshoot it by part of a
	// charge batch (seen here: one page), never by much.
	const chargeBatch = 64 * 4096
	assert.LessOrEqual(t, a[key(allocator.rel, "cgroup.memory.peak")], float64(memoryLimit+chargeBatch))
	assert.Greater(t, a[key(allocator.rel, "cgroup.memory.peak")], float64(memoryLimit)*0.9, "the allocator reached its limit")
	if l.Unified != nil {
		// Per-cgroup PSI of the hybrid cgroup2 tree, on this kernel: the
		// burner's surplus thread waited for a CPU.
		assert.Positive(t, b[key(burner.rel, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=some")], "the burner's CPU pressure")
		t.Logf("hybrid: per-cgroup pressure read from %s (burner cpu some %.6fs, allocator memory some %.6fs)", l.Unified.MountPoint,
			b[key(burner.rel, "cgroup.pressure.stall_time", "psi.resource=cpu", "psi.stall=some")],
			a[key(allocator.rel, "cgroup.pressure.stall_time", "psi.resource=memory", "psi.stall=some")])
	}
	t.Logf("burner: cpu %.3fs, %v of %v periods throttled for %.3fs; allocator: peak %v bytes, oom_kill %v",
		b[key(burner.rel, "cgroup.cpu.time")], b[key(burner.rel, "cgroup.cpu.throttled_periods")], b[key(burner.rel, "cgroup.cpu.periods")],
		b[key(burner.rel, "cgroup.cpu.throttled_time")], a[key(allocator.rel, "cgroup.memory.peak")],
		a[key(allocator.rel, "cgroup.memory.events", "cgroup.memory.event=oom_kill")])
	// A real kernel's files always parse.
	metadatatest.AssertEqualReceiverCgroupMalformedFiles(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}
