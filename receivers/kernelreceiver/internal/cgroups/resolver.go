// SPDX-License-Identifier: Apache-2.0

package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FindCgroup2Mount returns the mount point of the cgroup v2 hierarchy from
// /proc/self/mountinfo: /sys/fs/cgroup on unified systems,
// /sys/fs/cgroup/unified on hybrid ones.
func FindCgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cgroups: reading mountinfo: %w", err)
	}
	defer f.Close()
	return findCgroup2Mount(f)
}

func findCgroup2Mount(f interface{ Read([]byte) (int, error) }) (string, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("cgroups: reading mountinfo: %w", err)
	}
	return "", errors.New("cgroups: no cgroup2 mount in /proc/self/mountinfo")
}

// Resolver maps cgroup ids (the kernfs inode numbers the kernel reports as
// cgroup ids) to paths relative to the cgroup2 mount. It indexes the
// hierarchy by walking it, and walks again on a miss, at most once per
// minRefresh. The index holds at most maxEntries paths.
type Resolver struct {
	root       string
	maxEntries int
	minRefresh time.Duration

	mu        sync.Mutex
	paths     map[uint64]string
	lastWalk  time.Time
	truncated bool
}

// NewResolver returns a Resolver over the cgroup2 hierarchy mounted at root.
func NewResolver(root string, maxEntries int, minRefresh time.Duration) *Resolver {
	return &Resolver{root: root, maxEntries: maxEntries, minRefresh: minRefresh, paths: map[uint64]string{}}
}

// Lookup returns the path of cgroup id, walking the hierarchy again if the
// id is unknown and the last walk is older than minRefresh. A known path is
// checked with one stat, so a removed cgroup is not reported from the index.
func (r *Resolver) Lookup(id uint64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.paths[id]; ok {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(r.root, p), &st) == nil && st.Ino == id {
			return p, true
		}
		delete(r.paths, id)
	}
	if time.Since(r.lastWalk) < r.minRefresh {
		return "", false
	}
	r.walk()
	p, ok := r.paths[id]
	return p, ok
}

// LastWalk returns when the hierarchy was last walked.
func (r *Resolver) LastWalk() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastWalk
}

// Truncated reports whether the last walk stopped at maxEntries.
func (r *Resolver) Truncated() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.truncated
}

// walk rebuilds the index, so that removed cgroups leave it.
func (r *Resolver) walk() {
	r.lastWalk = time.Now()
	paths := make(map[uint64]string, len(r.paths))
	r.truncated = false
	_ = filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A cgroup removed during the walk: skip it, keep walking.
			if d != nil && d.IsDir() && p != r.root {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if len(paths) >= r.maxEntries {
			r.truncated = true
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(r.root, p)
		if err != nil {
			return nil
		}
		if rel == "." {
			rel = ""
		}
		paths[st.Ino] = "/" + filepath.ToSlash(rel)
		return nil
	})
	r.paths = paths
}
