// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package cgroupreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadata"
)

// benchScrape measures one scrape (walk, reads, pdata) and reports it per
// reported cgroup.
func benchScrape(b *testing.B, cfg *Config, n int) {
	b.Helper()
	s := newCgroupScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(b, s.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, s.shutdown(context.Background())) }()
	md, err := s.scrape(context.Background())
	require.NoError(b, err)
	require.GreaterOrEqual(b, md.ResourceMetrics().Len(), n, "every cgroup of the benchmark is reported")
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := s.scrape(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	// Wall time per cgroup, and the process's CPU time (user + system, GC
	// included) per cgroup: on a shared machine the wall figure includes
	// waiting for a CPU, the CPU figure is the receiver's cost.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cgroup")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/float64(n), "cpu-ns/cgroup")
}

func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkScrapeV2Tree scrapes a generated v2 tree of n kubelet containers
// (two per pod, systemd driver), each with the seven files a v2 scrape
// reads, on the test's temporary file system (not cgroupfs: the kernel's
// cost of generating each file is not in it).
func BenchmarkScrapeV2Tree(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("cgroups=%d", n), func(b *testing.B) {
			root := b.TempDir()
			cg := filepath.Join(root, "sys/fs/cgroup")
			files := map[string]string{
				"cpu.stat":        "usage_usec 2254000\nuser_usec 1754000\nsystem_usec 500000\nnr_periods 120\nnr_throttled 37\nthrottled_usec 812345\nnr_bursts 0\nburst_usec 0\n",
				"memory.current":  "67108864\n",
				"memory.peak":     "100663296\n",
				"memory.events":   "low 0\nhigh 2\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n",
				"cpu.pressure":    "some avg10=1.50 avg60=0.80 avg300=0.20 total=900000\nfull avg10=0.40 avg60=0.10 avg300=0.02 total=450000\n",
				"memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=1900\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=950\n",
				"io.pressure":     "some avg10=0.00 avg60=0.00 avg300=0.00 total=2900\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1400\n",
			}
			for i := range n {
				pod := fmt.Sprintf("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08x_0000_4000_8000_000000000000.slice", i/2)
				dir := filepath.Join(cg, pod, fmt.Sprintf("cri-containerd-%064x.scope", i))
				require.NoError(b, os.MkdirAll(dir, 0o755))
				for name, content := range files {
					require.NoError(b, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
				}
			}
			mi := filepath.Join(root, "mountinfo")
			require.NoError(b, os.WriteFile(mi, []byte("26 25 0:24 / "+cg+" rw - cgroup2 cgroup2 rw\n"), 0o600))
			cfg := createDefaultConfig().(*Config)
			cfg.CgroupRoot, cfg.MountinfoPath, cfg.PressurePath = cg, mi, "/proc/pressure"
			cfg.MaxCgroups = n
			benchScrape(b, cfg, n)
		})
	}
}

// BenchmarkScrapeV1Real scrapes n kubelet-shaped container cgroups created
// in the machine's real v1 hierarchies (and the hybrid cgroup2 one): the
// kernel generates every file it reads. Root only.
func BenchmarkScrapeV1Real(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("cgroups=%d", n), func(b *testing.B) {
			l := realV1Layout(b)
			makeTestCgroups(b, l, "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", n)
			cfg := createDefaultConfig().(*Config)
			cfg.MaxCgroups = n + 64 // the machine's own containers, if any
			benchScrape(b, cfg, n)
		})
	}
}
