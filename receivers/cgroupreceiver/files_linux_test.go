// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package cgroupreceiver

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tests' own readings of cgroup files, written independently of
// internal/cgroupfs so that they check it.

// fileNumber reads a file that holds one unsigned number.
func fileNumber(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	require.NoError(t, err, s)
	return float64(v)
}

// fileKeyed reads a flat-keyed file: "key value" lines.
func fileKeyed(t *testing.T, s string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		require.Len(t, f, 2, line)
		m[f[0]] = fileNumber(t, f[1])
	}
	return m
}
