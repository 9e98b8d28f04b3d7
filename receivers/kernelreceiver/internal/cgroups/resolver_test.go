// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	id, err := ID(p)
	require.NoError(t, err)
	return id
}

// TestResolver indexes a directory tree the way it indexes the cgroup2
// hierarchy (directories by inode), refreshes on a miss and bounds the index.
func TestResolver(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	r := NewResolver(root, 100, 0, 0)

	p, ok := r.Lookup(inode(t, filepath.Join(root, "a", "b")))
	require.True(t, ok)
	assert.Equal(t, "/a/b", p)
	p, ok = r.Lookup(inode(t, root))
	require.True(t, ok)
	assert.Equal(t, "/", p)

	// A cgroup created later is found by the walk a miss triggers.
	require.NoError(t, os.Mkdir(filepath.Join(root, "c"), 0o755))
	p, ok = r.Lookup(inode(t, filepath.Join(root, "c")))
	require.True(t, ok)
	assert.Equal(t, "/c", p)

	_, ok = r.Lookup(1 << 62)
	assert.False(t, ok)

	// A removed cgroup: Exists says so at once, and the next walk drops
	// it from the index.
	ino := inode(t, filepath.Join(root, "c"))
	assert.True(t, r.Exists(ino, "/c"))
	require.NoError(t, os.Remove(filepath.Join(root, "c")))
	assert.False(t, r.Exists(ino, "/c"))
	r.Lookup(1 << 62) // a miss walks again
	_, ok = r.Lookup(ino)
	assert.False(t, ok)
}

// TestResolverLearn: a learned path resolves without a walk, and outlives
// its cgroup (walks included) until keepRemoved has passed or it is
// forgotten.
func TestResolverLearn(t *testing.T) {
	root := t.TempDir()
	r := NewResolver(root, 2, 0, time.Hour)
	require.True(t, r.Learn(7, "/short-lived.scope"))
	p, ok := r.Lookup(7)
	require.True(t, ok)
	assert.Equal(t, "/short-lived.scope", p)
	assert.False(t, r.Exists(7, p), "no such directory")
	r.Lookup(1 << 62) // a walk does not drop it within keepRemoved
	_, ok = r.Lookup(7)
	assert.True(t, ok)

	require.True(t, r.Learn(8, "/b"))
	assert.False(t, r.Learn(9, "/c"), "bounded by maxEntries")
	r.Forget([]uint64{7})
	_, ok = r.Lookup(7)
	assert.False(t, ok, "forgotten")

	r.keepRemoved = 0
	r.Lookup(1 << 62)
	_, ok = r.Lookup(8)
	assert.False(t, ok, "a gone cgroup learned longer than keepRemoved ago leaves at the next walk")
}

func TestResolverRateLimitsWalks(t *testing.T) {
	root := t.TempDir()
	r := NewResolver(root, 100, time.Hour, 0)
	_, ok := r.Lookup(inode(t, root))
	require.True(t, ok)
	require.NoError(t, os.Mkdir(filepath.Join(root, "late"), 0o755))
	_, ok = r.Lookup(inode(t, filepath.Join(root, "late")))
	assert.False(t, ok, "a second walk within minRefresh must not happen")
}

func TestResolverBounded(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "c", "d"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	r := NewResolver(root, 2, 0, 0)
	r.Lookup(1 << 62)
	assert.True(t, r.Truncated())
	r.mu.Lock()
	assert.Len(t, r.paths, 2)
	r.mu.Unlock()
}

func TestFindCgroup2Mount(t *testing.T) {
	t.Parallel()
	const hybrid = `25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
`
	got, err := findCgroup2Mount(strings.NewReader(hybrid))
	require.NoError(t, err)
	assert.Equal(t, "/sys/fs/cgroup/unified", got)

	_, err = findCgroup2Mount(strings.NewReader("25 30 0:23 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n"))
	assert.EqualError(t, err, "cgroups: no cgroup2 mount in /proc/self/mountinfo")
}
