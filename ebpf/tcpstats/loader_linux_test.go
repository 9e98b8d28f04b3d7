// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: loading eBPF programs needs root (CI runs these tests as root)")
	}
}

// TestLoadAttachClose loads the programs into this kernel, checks that every
// hook attached (as tp_btf, the preferred kind), and closes everything.
func TestLoadAttachClose(t *testing.T) {
	requireRoot(t)
	tr, err := Load(Config{MaxPeers: 128, MaxSockets: 128, MaxCgroups: 16, MaxPeersPerCgroup: 8})
	require.NoError(t, err)
	require.Len(t, tr.Attachments(), len(Hooks))
	for _, a := range tr.Attachments() {
		t.Logf("%s: kind=%q err=%v", a.Hook, a.Kind, a.Err)
		require.NoError(t, a.Err, a.Hook)
		assert.Equal(t, "tp_btf", a.Kind, a.Hook)
		// This kernel (6.18) passes err to tcp_retransmit_skb: the
		// three-argument program must be the one attached.
		assert.Equal(t, "btf_"+a.Hook, a.Program)
	}
	// The programs see every TCP socket on the machine, and go test runs
	// other packages' traffic in parallel, so the drop counters of these
	// small maps need not stay zero here; the tests that drive their own
	// traffic assert them. Reading them must work.
	_, err = tr.Drops()
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "Close is idempotent")
}

// TestRawTracepointFallback loads and attaches the raw_tp twins of every
// program, the path taken where tp_btf programs are refused.
func TestRawTracepointFallback(t *testing.T) {
	requireRoot(t)
	tr, err := Load(Config{MaxPeers: 128, Kinds: []string{"raw_tp"}})
	require.NoError(t, err)
	defer tr.Close()
	for _, a := range tr.Attachments() {
		require.NoError(t, a.Err, a.Hook)
		assert.Equal(t, "raw_tp", a.Kind, a.Hook)
	}
}

// TestNoHookAttached: a load in which every hook fails is an error that
// names each hook, and leaves nothing behind.
func TestNoHookAttached(t *testing.T) {
	requireRoot(t)
	_, err := Load(Config{Kinds: []string{"no_such_kind"}})
	require.Error(t, err)
	for _, h := range Hooks {
		assert.ErrorContains(t, err, h)
	}
}

const unprivEnv = "VIGIL_TCPSTATS_UNPRIVILEGED_LOAD"

// init turns the test binary into the child of TestLoadWithoutPrivileges:
// it tries to load as an unprivileged user and prints the error.
func init() {
	if os.Getenv(unprivEnv) == "" {
		return
	}
	_, err := Load(Config{})
	fmt.Print(err)
	os.Exit(0)
}

// TestLoadWithoutPrivileges runs Load as user nobody (a copy of this test
// binary started with dropped credentials) and checks that the error says
// what is missing.
func TestLoadWithoutPrivileges(t *testing.T) {
	requireRoot(t)
	self, err := os.ReadFile("/proc/self/exe")
	require.NoError(t, err)
	// Not t.TempDir: its parent directory is private to root.
	dir, err := os.MkdirTemp("", "tcpstats-unpriv-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "tcpstats.test")
	require.NoError(t, os.WriteFile(bin, self, 0o755))

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), unprivEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	t.Logf("unprivileged Load: %s", out)
	assert.Contains(t, string(out), "operation not permitted")
	assert.Contains(t, string(out), "needs root, or CAP_BPF+CAP_PERFMON")
}

// TestNewCgroupPaths creates a cgroup v2 directory and checks that the
// programs recorded its id (the directory's inode) and path, with either
// program kind, and that a read forgets what it returned.
func TestNewCgroupPaths(t *testing.T) {
	requireRoot(t)
	root := cgroup2Mount(t)
	for _, kind := range []string{"tp_btf", "raw_tp"} {
		t.Run(kind, func(t *testing.T) {
			tr, err := Load(Config{Kinds: []string{kind}})
			require.NoError(t, err)
			defer tr.Close()
			name := fmt.Sprintf("vigil-tcpstats-%s-%d", kind, os.Getpid())
			dir := filepath.Join(root, name)
			require.NoError(t, os.Mkdir(dir, 0o755))
			defer os.Remove(dir)
			var st syscall.Stat_t
			require.NoError(t, syscall.Stat(dir, &st))

			got := map[uint64]string{}
			require.NoError(t, tr.ReadNewCgroups(func(id uint64, p string) { got[id] = p }))
			assert.Equal(t, "/"+name, got[st.Ino])
			clear(got)
			require.NoError(t, tr.ReadNewCgroups(func(id uint64, p string) { got[id] = p }))
			assert.NotContains(t, got, st.Ino, "drained by the first read")
		})
	}
}

// cgroup2Mount returns the cgroup v2 mount point from /proc/self/mountinfo.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 {
				return f[4]
			}
		}
	}
	t.Skip("no cgroup2 mount")
	return ""
}
