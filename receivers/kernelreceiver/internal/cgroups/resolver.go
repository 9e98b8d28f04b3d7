// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package cgroups maps cgroup v2 ids to cgroup paths (the path → container
// and pod identity parsing is internal/cgrouppath, shared with the cgroup
// receiver).
package cgroups // import "github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/cgroups"

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
// cgroup ids) to paths relative to the cgroup2 mount. It has two sources:
// paths learned when cgroups are created (Learn, fed from the kernel's
// cgroup_mkdir tracepoint), and an index built by walking the hierarchy,
// walked again on a miss at most once per minRefresh. Each holds at most
// maxEntries paths.
type Resolver struct {
	root       string
	maxEntries int
	minRefresh time.Duration
	// keepRemoved is how long a learned path of a cgroup that is gone
	// stays, so that the events it left behind are still attributed.
	keepRemoved time.Duration

	mu        sync.Mutex
	paths     map[uint64]string
	learned   map[uint64]learnedPath
	lastWalk  time.Time
	truncated bool
}

type learnedPath struct {
	path string
	at   time.Time
}

// NewResolver returns a Resolver over the cgroup2 hierarchy mounted at root.
// A learned path outlives its cgroup by at least keepRemoved.
func NewResolver(root string, maxEntries int, minRefresh, keepRemoved time.Duration) *Resolver {
	return &Resolver{
		root: root, maxEntries: maxEntries, minRefresh: minRefresh, keepRemoved: keepRemoved,
		paths: map[uint64]string{}, learned: map[uint64]learnedPath{},
	}
}

// Learn records the path of a cgroup created just now. It reports false
// when maxEntries learned paths are already held (the path is then found
// by a walk, if the cgroup still exists).
func (r *Resolver) Learn(id uint64, path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.learned[id]; !ok && len(r.learned) >= r.maxEntries {
		return false
	}
	r.learned[id] = learnedPath{path: path, at: time.Now()}
	return true
}

// Lookup returns the path of cgroup id: a learned one, or one from the
// index, walking the hierarchy again if the id is unknown and the last
// walk is older than minRefresh. The path may belong to a cgroup that is
// gone by now (see Exists).
func (r *Resolver) Lookup(id uint64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.learned[id]; ok {
		return l.path, true
	}
	if p, ok := r.paths[id]; ok {
		return p, true
	}
	if time.Since(r.lastWalk) < r.minRefresh {
		return "", false
	}
	r.walk()
	p, ok := r.paths[id]
	return p, ok
}

// Exists reports whether cgroup id still exists at path (one stat).
func (r *Resolver) Exists(id uint64, path string) bool {
	got, err := ID(filepath.Join(r.root, path))
	return err == nil && got == id
}

// ID returns the cgroup id of the cgroup v2 directory at path: its inode
// number.
func ID(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Forget drops what the resolver knows of the given cgroups.
func (r *Resolver) Forget(ids []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		delete(r.learned, id)
		delete(r.paths, id)
	}
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

// walk rebuilds the index, so that removed cgroups leave it, and drops the
// learned paths of cgroups that are gone and were learned more than
// keepRemoved ago (present ones stay: the walk might miss a cgroup created
// during it).
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
	for id, l := range r.learned {
		if _, present := paths[id]; !present && !r.truncated && r.lastWalk.Sub(l.at) > r.keepRemoved {
			delete(r.learned, id)
		}
	}
}
