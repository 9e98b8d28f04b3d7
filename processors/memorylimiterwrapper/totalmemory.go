// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/mem"
)

// memorySource says where the total memory is read from. Production uses
// the zero value (the real /proc and /sys); tests point root at a temp dir
// holding the same layout.
type memorySource struct {
	root string
}

// path returns an absolute system path under the source's root.
func (s memorySource) path(p string) string {
	if s.root == "" {
		return p
	}
	return filepath.Join(s.root, p)
}

// hostTotal is the machine's memory as the core reads it: gopsutil's
// VirtualMemory, which on Linux is MemTotal of /proc/meminfo (HOST_PROC is
// honoured as in the core).
func (s memorySource) hostTotal() (uint64, error) {
	ctx := context.Background()
	if s.root != "" {
		ctx = context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostProcEnvKey: s.path("/proc")})
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading host memory: %w", err)
	}
	return vm.Total, nil
}
