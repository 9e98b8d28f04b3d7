// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Mount is one cgroup mount from mountinfo (proc(5)).
type Mount struct {
	// Root is the path of the hierarchy's directory that is mounted ("/"
	// unless a cgroup namespace or a bind mount of a subtree is involved).
	Root string
	// MountPoint is where it is mounted.
	MountPoint string
	// FSType is "cgroup" (v1) or "cgroup2".
	FSType string
	// Options are the super options: for v1, the controllers ("cpu",
	// "cpuacct", "memory", ...) and flags.
	Options []string
}

// ParseMountinfo returns the cgroup and cgroup2 mounts of a mountinfo file.
// Lines that are not cgroup mounts are skipped without being validated; a
// cgroup line without the fields the format requires is an error.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var mounts []Mount
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) {
			continue
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		if sep < 6 || sep+3 >= len(fields) {
			return nil, malformed("mountinfo line %q has too few fields", truncate([]byte(sc.Text())))
		}
		mounts = append(mounts, Mount{
			Root:       unescape(fields[3]),
			MountPoint: unescape(fields[4]),
			FSType:     fstype,
			Options:    strings.Split(fields[sep+3], ","),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	return mounts, nil
}

// unescape decodes the octal escapes mountinfo uses for space, tab, newline
// and backslash (\040, \011, \012, \134). Anything else is kept as it is.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Mode says which cgroup version the receiver reads its figures from.
type Mode int

const (
	// ModeV2 is the unified layout: one cgroup2 hierarchy with every
	// controller.
	ModeV2 Mode = iota + 1
	// ModeV1 is the legacy or hybrid layout: cpu, cpuacct and memory are v1
	// hierarchies, each mounted on its own (or co-mounted, as "cpu,cpuacct").
	// A cgroup2 hierarchy next to them (hybrid) gives per-cgroup pressure
	// and the cgroup ids that the kernel's BPF helpers report.
	ModeV1
)

func (m Mode) String() string {
	switch m {
	case ModeV2:
		return "v2"
	case ModeV1:
		return "v1"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Hierarchy is a mounted cgroup hierarchy.
type Hierarchy struct {
	MountPoint string
	Root       string
}

// Layout is what the receiver reads, found in mountinfo.
type Layout struct {
	Mode Mode
	// Unified is the cgroup2 hierarchy: the only one in ModeV2, the hybrid
	// one in ModeV1. Nil when there is none.
	Unified *Hierarchy
	// CPU, CPUAcct and Memory are the v1 hierarchies of those controllers
	// (ModeV1 only; nil when that controller is not mounted). CPU and
	// CPUAcct are the same hierarchy when co-mounted.
	CPU, CPUAcct, Memory *Hierarchy
}

// DetectLayout finds the cgroup hierarchies mounted at or under root
// (normally /sys/fs/cgroup; a DaemonSet that mounts the host's tree
// elsewhere names that place). When a v1 hierarchy carries cpu, cpuacct or
// memory, the layout is ModeV1 (legacy, or hybrid when a cgroup2 mount is
// there too); otherwise a cgroup2 mount makes it ModeV2. The first mount of
// each kind wins (later ones elsewhere are bind mounts of the same
// hierarchy), except that a later mount on the same mount point hides the
// earlier one: a pod that mounts the host's /sys/fs/cgroup over the one
// its runtime gave it (the pod's own cgroup) sees the host's.
func DetectLayout(mounts []Mount, root string) (Layout, error) {
	root = path.Clean(root)
	var l Layout
	keep := func(dst **Hierarchy, h *Hierarchy) {
		if *dst == nil || (*dst).MountPoint == h.MountPoint {
			*dst = h
		}
	}
	for _, m := range mounts {
		if m.MountPoint != root && !strings.HasPrefix(m.MountPoint, strings.TrimSuffix(root, "/")+"/") {
			continue
		}
		h := &Hierarchy{MountPoint: m.MountPoint, Root: m.Root}
		if m.FSType == "cgroup2" {
			keep(&l.Unified, h)
			continue
		}
		for _, o := range m.Options {
			switch o {
			case "cpu":
				keep(&l.CPU, h)
			case "cpuacct":
				keep(&l.CPUAcct, h)
			case "memory":
				keep(&l.Memory, h)
			}
		}
	}
	switch {
	case l.CPU != nil || l.CPUAcct != nil || l.Memory != nil:
		l.Mode = ModeV1
	case l.Unified != nil:
		l.Mode = ModeV2
	default:
		return Layout{}, errors.New("no cgroup v2 hierarchy and no v1 cpu, cpuacct or memory hierarchy is mounted at or under " + root)
	}
	return l, nil
}
