// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package tmpfs gives a test a small file system of its own, to fill up: a
// tmpfs of a given size mounted on a temporary directory. The tests of a
// full disk (the file_storage guard, the persistent queue's faults) use it.
package tmpfs // import "github.com/vigil-otel/vigil/internal/tmpfs"

import (
	"fmt"
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory, or skips the test saying why (mounting needs
// root). The cleanup unmounts it lazily, so a process that still has a file
// open there (a collector under test) does not make the unmount fail.
func Mount(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
