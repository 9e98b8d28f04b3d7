// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"os"
	"testing"
)

// BenchmarkReadStates measures one read of the connection-state gauges
// from the kernel's socket table at the default size (65536 sockets:
// 32768 buckets, 4 MiB), the user-space cost per collection_interval of
// keeping the state counts out of the programs' hot path.
func BenchmarkReadStates(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: loading eBPF programs needs root")
	}
	tr, err := Load(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close() })
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.ReadStates(func(StateKey, int64) {}); err != nil {
			b.Fatal(err)
		}
	}
}
