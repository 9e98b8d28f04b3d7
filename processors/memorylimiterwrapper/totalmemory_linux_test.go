// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package memorylimiterwrapper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lines in proc(5) mountinfo format.
const (
	mountRootFS   = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"
	mountCgroup2  = "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot"
	mountV1Memory = "35 22 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory"
	mountV1CPU    = "36 22 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpu,cpuacct"
	// A container's view: the hierarchy below /kubepods/pod1 is mounted.
	mountV1MemoryContainer = "35 22 0:30 /kubepods/pod1 /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,memory"

	hostMemTotalKB = 16338148
	hostMemTotal   = hostMemTotalKB * 1024
)

// fakeRoot writes files (system path → content) under a temp dir, plus a
// /proc/meminfo with hostMemTotal.
func fakeRoot(t *testing.T, files map[string]string) memorySource {
	t.Helper()
	root := t.TempDir()
	files["/proc/meminfo"] = "MemTotal:       16338148 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n"
	for p, content := range files {
		full := filepath.Join(root, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o600))
	}
	return memorySource{root: root}
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// TestTotalMemory: the limit the memory limiter takes from each cgroup
// layout, and the errors of files it cannot read (wantErr: a substring).
func TestTotalMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		want    uint64
		wantErr string
	}{
		{
			name: "cgroup v2 limit",
			files: map[string]string{
				procMountInfo:               lines(mountRootFS, mountCgroup2),
				"/sys/fs/cgroup/memory.max": "536870912\n",
			},
			want: 536870912,
		},
		{
			name: "cgroup v2 max: host total",
			files: map[string]string{
				procMountInfo:               lines(mountRootFS, mountCgroup2),
				"/sys/fs/cgroup/memory.max": "max\n",
			},
			want: hostMemTotal,
		},
		{
			name: "cgroup v2 without memory.max at the mount root (a host): host total",
			files: map[string]string{
				procMountInfo: lines(mountRootFS, mountCgroup2),
				// The process's own cgroup has a limit, but the core reads
				// only the mount root: so do we.
				"/sys/fs/cgroup/system.slice/vigil.service/memory.max": "1048576\n",
			},
			want: hostMemTotal,
		},
		{
			name: "cgroup v1 limit, host view",
			files: map[string]string{
				procMountInfo: lines(mountRootFS, mountV1CPU, mountV1Memory),
				procCgroup:    lines("5:cpu,cpuacct:/kubepods/pod1", "4:memory:/kubepods/pod1", "1:name=systemd:/kubepods/pod1"),
				"/sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes": "268435456\n",
			},
			want: 268435456,
		},
		{
			name: "cgroup v1 limit, container view",
			files: map[string]string{
				procMountInfo: lines(mountRootFS, mountV1MemoryContainer),
				procCgroup:    lines("4:memory:/kubepods/pod1"),
				"/sys/fs/cgroup/memory/memory.limit_in_bytes": "134217728\n",
			},
			want: 134217728,
		},
		{
			name: "cgroup v1 unlimited: host total",
			files: map[string]string{
				procMountInfo: lines(mountRootFS, mountV1Memory),
				procCgroup:    lines("4:memory:/"),
				"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			},
			want: hostMemTotal,
		},
		{
			name: "cgroup v1 without a memory controller: host total",
			files: map[string]string{
				procMountInfo: lines(mountRootFS, mountV1CPU),
				procCgroup:    lines("5:cpu,cpuacct:/"),
			},
			want: hostMemTotal,
		},
		{
			name: "no cgroup at all: host total",
			files: map[string]string{
				procMountInfo: lines(mountRootFS),
				procCgroup:    "",
			},
			want: hostMemTotal,
		},
		{
			name:    "malformed mountinfo",
			files:   map[string]string{procMountInfo: "22 1 8:1 / / rw\n"},
			wantErr: "want at least 10",
		},
		{
			name: "empty memory.max",
			files: map[string]string{
				procMountInfo:               lines(mountCgroup2),
				"/sys/fs/cgroup/memory.max": "",
			},
			wantErr: "unexpected EOF",
		},
		{
			name: "garbage memory.max",
			files: map[string]string{
				procMountInfo:               lines(mountCgroup2),
				"/sys/fs/cgroup/memory.max": "lots\n",
			},
			wantErr: "memory.max",
		},
		{
			name: "cgroup v1 path outside the mount",
			files: map[string]string{
				procMountInfo: lines(mountV1MemoryContainer),
				procCgroup:    lines("4:memory:/system.slice"),
			},
			wantErr: "not visible",
		},
		{
			name: "cgroup v1 malformed cgroup file",
			files: map[string]string{
				procMountInfo: lines(mountV1Memory),
				procCgroup:    lines("memory"),
			},
			wantErr: "want 3 fields",
		},
		{
			name: "cgroup v1 limit file missing",
			files: map[string]string{
				procMountInfo: lines(mountV1Memory),
				procCgroup:    lines("4:memory:/a"),
			},
			wantErr: "no such file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := fakeRoot(t, tt.files).totalMemory()
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
