// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package memorylimiterwrapper

import (
	"strings"
	"testing"
)

// FuzzParseMountInfoLine: any line either parses into the fields it holds
// or is an error; never a panic.
func FuzzParseMountInfoLine(f *testing.F) {
	for _, seed := range []string{mountRootFS, mountCgroup2, mountV1Memory, mountV1CPU, mountV1MemoryContainer,
		"", "-", "1 2 3 4 5 6 - a b", "1 2 3 4 5 6 7 8 9 - a b c", "x 2 3 4 5 6 - a b c"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := parseMountInfoLine(line)
		if err != nil {
			return
		}
		fields := strings.Split(line, " ")
		if m.root != fields[3] || m.mountPoint != fields[4] {
			t.Fatalf("root %q, mount point %q from %q", m.root, m.mountPoint, line)
		}
		if fields[len(fields)-4] != "-" || m.fsType != fields[len(fields)-3] {
			t.Fatalf("fs type %q from %q", m.fsType, line)
		}
	})
}
