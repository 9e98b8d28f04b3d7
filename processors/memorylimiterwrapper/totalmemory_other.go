// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"

// totalMemory is the host's memory: outside Linux the core reads no cgroup.
func (s memorySource) totalMemory() (uint64, error) {
	return s.hostTotal()
}
