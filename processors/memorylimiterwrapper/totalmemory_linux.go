// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The files the core memory limiter (collector v0.165.0,
// internal/memorylimiter/iruntime and cgroups) reads on Linux.
const (
	procMountInfo    = "/proc/self/mountinfo"
	procCgroup       = "/proc/self/cgroup"
	cgroup2Mount     = "/sys/fs/cgroup"
	cgroup2MemoryMax = "memory.max"
	cgroup1Limit     = "memory.limit_in_bytes"

	// cgroup1Unlimited is what cgroup v1 reports for "no limit" (the
	// largest page-aligned int64); the core treats it as unset.
	cgroup1Unlimited = 9223372036854771712
)

// totalMemory returns the memory the percentage limits apply to, decided
// the way the core does it:
//   - cgroup v2 (a cgroup2 file system mounted at /sys/fs/cgroup): the
//     memory.max at that mount point; "max" or no file means unset.
//   - cgroup v1: memory.limit_in_bytes of the process's memory cgroup
//     (found through /proc/self/cgroup and /proc/self/mountinfo); no memory
//     controller, a limit <= 0 or the "unlimited" value mean unset.
//   - unset: the host's total memory.
//
// Note that for v2 the core reads memory.max at the mount root, not in the
// process's own cgroup: inside a container with a cgroup namespace the root
// is the container's cgroup; on a host it has no memory.max (unset).
func (s memorySource) totalMemory() (uint64, error) {
	mounts, err := s.readMountInfo()
	if err != nil {
		return 0, err
	}
	var quota int64
	var defined bool
	if isCgroup2(mounts) {
		quota, defined, err = s.cgroup2Quota()
	} else {
		quota, defined, err = s.cgroup1Quota(mounts)
	}
	if err != nil {
		return 0, err
	}
	if !defined || quota == cgroup1Unlimited {
		return s.hostTotal()
	}
	return uint64(quota), nil
}

// mount is the part of a /proc/self/mountinfo line the limiter uses.
type mount struct {
	root, mountPoint, fsType string
	superOptions             []string
}

// parseMountInfoLine parses one line of proc(5) mountinfo: six fixed
// fields, optional fields ended by "-", then exactly file system type,
// source and super options. A line of another shape is an error, as in the
// core.
func parseMountInfoLine(line string) (mount, error) {
	fields := strings.Split(line, " ")
	if len(fields) < 10 {
		return mount{}, fmt.Errorf("mountinfo line %q: %d fields, want at least 10", line, len(fields))
	}
	for _, f := range fields[:2] {
		if _, err := strconv.Atoi(f); err != nil {
			return mount{}, fmt.Errorf("mountinfo line %q: mount ID %q: %w", line, f, err)
		}
	}
	for i := 6; i < len(fields); i++ {
		if fields[i] != "-" {
			continue
		}
		if len(fields) != i+4 {
			return mount{}, fmt.Errorf("mountinfo line %q: want 3 fields after \"-\", got %d", line, len(fields)-i-1)
		}
		return mount{
			root:         fields[3],
			mountPoint:   fields[4],
			fsType:       fields[i+1],
			superOptions: strings.Split(fields[i+3], ","),
		}, nil
	}
	return mount{}, fmt.Errorf("mountinfo line %q: no \"-\" separator", line)
}

func (s memorySource) readMountInfo() ([]mount, error) {
	var mounts []mount
	err := s.eachLine(procMountInfo, func(line string) error {
		m, err := parseMountInfoLine(line)
		if err != nil {
			return err
		}
		mounts = append(mounts, m)
		return nil
	})
	return mounts, err
}

func isCgroup2(mounts []mount) bool {
	for _, m := range mounts {
		if m.fsType == "cgroup2" && m.mountPoint == cgroup2Mount {
			return true
		}
	}
	return false
}

// cgroup2Quota reads memory.max at the cgroup2 mount point.
func (s memorySource) cgroup2Quota() (int64, bool, error) {
	line, err := s.firstLine(filepath.Join(cgroup2Mount, cgroup2MemoryMax))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	line = strings.TrimSpace(line)
	if line == "max" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cgroup %s: %w", cgroup2MemoryMax, err)
	}
	return v, true, nil
}

// cgroup1Quota finds the process's memory cgroup directory and reads its
// memory.limit_in_bytes.
func (s memorySource) cgroup1Quota(mounts []mount) (int64, bool, error) {
	// /proc/self/cgroup: "hierarchy-ID:controller,controller:path".
	paths := map[string]string{}
	err := s.eachLine(procCgroup, func(line string) error {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return fmt.Errorf("cgroup line %q: want 3 fields separated by \":\"", line)
		}
		if _, err := strconv.Atoi(parts[0]); err != nil {
			return fmt.Errorf("cgroup line %q: hierarchy ID: %w", line, err)
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	var dir string
	for _, m := range mounts {
		if m.fsType != "cgroup" {
			continue
		}
		for _, opt := range m.superOptions {
			p, ok := paths[opt]
			if !ok {
				continue
			}
			// The cgroup path is relative to the hierarchy's root; the
			// mount shows the part below m.root at m.mountPoint.
			rel, err := filepath.Rel(m.root, p)
			if err != nil {
				return 0, false, err
			}
			if rel == ".." || strings.HasPrefix(rel, "../") {
				return 0, false, fmt.Errorf("cgroup path %q is not visible through the mount at %q (root %q)", p, m.mountPoint, m.root)
			}
			if full := filepath.Join(m.mountPoint, rel); opt == "memory" && strings.HasPrefix(full, "/sys") {
				dir = full
			}
		}
	}
	if dir == "" {
		return 0, false, nil
	}
	line, err := s.firstLine(filepath.Join(dir, cgroup1Limit))
	if err != nil {
		return 0, false, err
	}
	v, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cgroup %s: %w", cgroup1Limit, err)
	}
	return v, v > 0, nil
}

// eachLine calls fn for each line of a system file.
func (s memorySource) eachLine(name string, fn func(string) error) error {
	f, err := os.Open(s.path(name))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := fn(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// firstLine returns the first line of a system file; an empty file is an
// error.
func (s memorySource) firstLine(name string) (string, error) {
	var first string
	found := false
	err := s.eachLine(name, func(line string) error {
		if !found {
			first, found = line, true
		}
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("%s: %w", name, io.ErrUnexpectedEOF)
	}
	return first, err
}
