// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadata"
)

// FuzzScrapeV2Files writes fuzzed content into every file a v2 scrape reads
// of one container and scrapes it: no panic, and a scrape never fails
// because of a file's content.
func FuzzScrapeV2Files(f *testing.F) {
	f.Add([]byte("usage_usec 1\nnr_throttled 2\n"), []byte("4096\n"), []byte("some avg10=0.00 total=5\nfull total=1\n"), []byte("oom_kill 1\n"))
	f.Add([]byte(""), []byte("max\n"), []byte("full"), []byte("\n\n"))
	f.Add([]byte("usage_usec 99999999999999999999999"), []byte("-1"), []byte("some total=x"), []byte("oom_kill"))
	f.Fuzz(func(t *testing.T, cpuStat, current, pressure, events []byte) {
		root := t.TempDir()
		cg := filepath.Join(root, "cg")
		dir := filepath.Join(cg, "docker", cid3)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string][]byte{
			"cpu.stat": cpuStat, "memory.current": current, "memory.peak": current,
			"memory.events": events, "cpu.pressure": pressure, "memory.pressure": pressure, "io.pressure": pressure,
		} {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		mi := filepath.Join(root, "mountinfo")
		if err := os.WriteFile(mi, []byte("26 25 0:24 / "+cg+" rw - cgroup2 cgroup2 rw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := createDefaultConfig().(*Config)
		cfg.CgroupRoot, cfg.MountinfoPath, cfg.PressurePath = cg, mi, filepath.Join(root, "none")
		s := newCgroupScraper(cfg, receivertest.NewNopSettings(metadata.Type))
		if err := s.start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.shutdown(context.Background()) }()
		if _, err := s.scrape(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
