// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupfs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hybridMountinfo is the cgroup part of this project's test machine's
// /proc/self/mountinfo (hybrid: v1 controllers, cgroup2 with no controller
// at /sys/fs/cgroup/unified), plus unrelated lines.
const hybridMountinfo = `22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// unifiedMountinfo is a systemd unified host (optional fields present).
const unifiedMountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

// comountedMountinfo is a legacy systemd host: cpu and cpuacct co-mounted
// (and linked as /sys/fs/cgroup/cpu,cpuacct).
const comountedMountinfo = `30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
`

func TestDetectLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, mountinfo, root string
		want                  Layout
		wantErr               string
	}{
		{
			name: "hybrid", mountinfo: hybridMountinfo, root: "/sys/fs/cgroup",
			want: Layout{
				Mode:    ModeV1,
				Unified: &Hierarchy{"/sys/fs/cgroup/unified", "/"},
				CPU:     &Hierarchy{"/sys/fs/cgroup/cpu", "/"},
				CPUAcct: &Hierarchy{"/sys/fs/cgroup/cpuacct", "/"},
				Memory:  &Hierarchy{"/sys/fs/cgroup/memory", "/"},
			},
		},
		{
			name: "unified", mountinfo: unifiedMountinfo, root: "/sys/fs/cgroup/",
			want: Layout{Mode: ModeV2, Unified: &Hierarchy{"/sys/fs/cgroup", "/"}},
		},
		{
			name: "co-mounted v1", mountinfo: comountedMountinfo, root: "/sys/fs/cgroup",
			want: Layout{
				Mode:    ModeV1,
				CPU:     &Hierarchy{"/sys/fs/cgroup/cpu,cpuacct", "/"},
				CPUAcct: &Hierarchy{"/sys/fs/cgroup/cpu,cpuacct", "/"},
				Memory:  &Hierarchy{"/sys/fs/cgroup/memory", "/"},
			},
		},
		{
			name: "host tree mounted into a pod",
			mountinfo: unifiedMountinfo + // the pod's own namespaced tree
				"900 800 0:23 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n" +
				"901 800 0:23 / /host/sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n",
			root: "/host/sys/fs/cgroup",
			want: Layout{Mode: ModeV2, Unified: &Hierarchy{"/host/sys/fs/cgroup", "/"}},
		},
		{
			// The runtime's namespaced cgroup2 at /sys/fs/cgroup, then
			// the host's tree mounted over it by a hostPath volume.
			name: "host tree over the pod's own",
			mountinfo: "900 800 0:23 /../../.. /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n" +
				"901 800 0:23 / /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n" +
				"902 800 0:23 / /elsewhere/cgroup ro,relatime - cgroup2 cgroup2 rw\n",
			root: "/sys/fs/cgroup",
			want: Layout{Mode: ModeV2, Unified: &Hierarchy{"/sys/fs/cgroup", "/"}},
		},
		{
			name:      "mount point with an escaped space",
			mountinfo: `41 31 0:38 /a\040b /mnt/cg\040two rw - cgroup2 cgroup2 rw` + "\n",
			root:      "/mnt/cg two",
			want:      Layout{Mode: ModeV2, Unified: &Hierarchy{"/mnt/cg two", "/a b"}},
		},
		{
			name: "a prefix that is not a parent does not count", mountinfo: unifiedMountinfo, root: "/sys/fs/cgro",
			wantErr: "no cgroup v2 hierarchy and no v1 cpu, cpuacct or memory hierarchy is mounted at or under /sys/fs/cgro",
		},
		{
			name: "nothing mounted", mountinfo: "22 1 253:0 / / rw - ext4 /dev/vda rw\n", root: "/sys/fs/cgroup",
			wantErr: "no cgroup v2 hierarchy and no v1 cpu, cpuacct or memory hierarchy is mounted at or under /sys/fs/cgroup",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mounts, err := ParseMountinfo(strings.NewReader(tt.mountinfo))
			require.NoError(t, err)
			got, err := DetectLayout(mounts, tt.root)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseMountinfoMalformed(t *testing.T) {
	t.Parallel()
	// A cgroup line cut short is an error; other short lines are not ours.
	_, err := ParseMountinfo(strings.NewReader("41 31 0:38 / - cgroup2 cgroup2 rw\n"))
	require.ErrorIs(t, err, ErrMalformed)
	mounts, err := ParseMountinfo(strings.NewReader("garbage\n1 2 - ext4\n"))
	require.NoError(t, err)
	assert.Empty(t, mounts)
}

func TestModeString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "v1", ModeV1.String())
	assert.Equal(t, "v2", ModeV2.String())
	assert.Equal(t, "Mode(0)", Mode(0).String())
}

func FuzzParseMountinfo(f *testing.F) {
	for _, s := range []string{hybridMountinfo, unifiedMountinfo, comountedMountinfo, "1 2 3 4 5 6 - cgroup", `1 2 3 \0 \1234 6 - cgroup2 x y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		mounts, err := ParseMountinfo(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, m := range mounts {
			if m.FSType != "cgroup" && m.FSType != "cgroup2" {
				t.Fatalf("non-cgroup mount %+v", m)
			}
		}
		l, err := DetectLayout(mounts, "/sys/fs/cgroup")
		if err == nil && l.Mode != ModeV1 && l.Mode != ModeV2 {
			t.Fatalf("layout without a mode: %+v", l)
		}
	})
}
