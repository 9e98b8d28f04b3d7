// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cputime

import "testing"

// TestProcessCounts checks that work done by the process shows in its CPU time.
func TestProcessCounts(t *testing.T) {
	before := Process()
	if before <= 0 {
		t.Fatalf("Process() = %v before any work, want > 0 (a test binary has started)", before)
	}
	x := uint64(1)
	for after := Process(); after == before; after = Process() {
		for range 1 << 16 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	_ = x
}
