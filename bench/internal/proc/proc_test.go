// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package proc

import (
	"os"
	"testing"
)

func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	for _, key := range []string{"VmRSS:", "RssAnon:", "RssFile:", "VmHWM:"} {
		v, err := StatusKiB(pid, key)
		if err != nil || v <= 0 {
			t.Errorf("StatusKiB(%s) = %d, %v; want > 0", key, v, err)
		}
	}
	if _, err := StatusKiB(pid, "NoSuchKey:"); err == nil {
		t.Error("StatusKiB of a missing key: no error")
	}
	// Burn a little CPU so that at least one tick is counted.
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	if s, err := CPUSeconds(pid); err != nil || s <= 0 {
		t.Errorf("CPUSeconds = %v, %v (x=%d); want > 0", s, err, x)
	}
}
