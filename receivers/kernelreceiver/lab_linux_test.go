// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kernelreceiver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"
)

// lab is a pair of network namespaces joined by a veth pair:
// a (10.77.0.1) and b (10.77.0.2), both created by the test and removed in
// t.Cleanup. Traffic never leaves them.
type lab struct {
	t          *testing.T
	nsA, nsB   string
	inoA, inoB uint32
}

const (
	addrA  = "10.77.0.1"
	addrB  = "10.77.0.2"
	addr6A = "fd00:77::1"
	addr6B = "fd00:77::2"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: loading eBPF programs and creating network namespaces needs root (CI runs these tests as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install iproute2 and nftables (scripts/ebpf-toolchain.sh install)", tool)
		}
	}
}

func randSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

func newLab(t *testing.T) *lab {
	t.Helper()
	requireRoot(t)
	s := randSuffix(t)
	l := &lab{t: t, nsA: "vigil-a-" + s, nsB: "vigil-b-" + s}
	run(t, "", "ip", "netns", "add", l.nsA)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.nsA).Run() })
	run(t, "", "ip", "netns", "add", l.nsB)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", l.nsB).Run() })
	run(t, "", "ip", "-n", l.nsA, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", l.nsB)
	run(t, "", "ip", "-n", l.nsA, "addr", "add", addrA+"/24", "dev", "va")
	run(t, "", "ip", "-n", l.nsB, "addr", "add", addrB+"/24", "dev", "vb")
	for _, ns := range []string{l.nsA, l.nsB} {
		run(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "", "ip", "-n", l.nsA, "link", "set", "va", "up")
	run(t, "", "ip", "-n", l.nsB, "link", "set", "vb", "up")
	l.inoA = nsInode(t, l.nsA)
	l.inoB = nsInode(t, l.nsB)
	return l
}

// addIPv6 gives the veth ends IPv6 addresses (no duplicate address
// detection, so they are usable at once).
func (l *lab) addIPv6() {
	run(l.t, "", "ip", "-n", l.nsA, "addr", "add", addr6A+"/64", "dev", "va", "nodad")
	run(l.t, "", "ip", "-n", l.nsB, "addr", "add", addr6B+"/64", "dev", "vb", "nodad")
}

func (l *lab) dial6(ns string, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout("tcp6", addr, 5*time.Second)
		return err
	})
	return c, err
}

func nsInode(t *testing.T, ns string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat("/run/netns/"+ns, &st))
	return uint32(st.Ino)
}

// dropInB makes namespace b drop pct% of the TCP segments arriving for
// port, at random (nftables numgen). The rule lives in b's own ruleset and
// goes with the namespace.
func (l *lab) dropInB(port, pct int) {
	rules := fmt.Sprintf(`table inet vigiltest {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport %d numgen random mod 100 < %d drop
  }
}
`, port, pct)
	run(l.t, rules, "ip", "netns", "exec", l.nsB, "nft", "-f", "-")
	l.t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "exec", l.nsB, "nft", "delete", "table", "inet", "vigiltest").Run()
	})
}

// inNetns runs fn on an OS thread switched into namespace ns; sockets fn
// creates belong to ns and stay usable from any goroutine afterwards.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		// Only a thread back in its own namespace returns to the scheduler;
		// otherwise it stays locked and exits with the goroutine.
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

func (l *lab) listen(ns string, addr string) net.Listener {
	var ln net.Listener
	require.NoError(l.t, inNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	}))
	l.t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func (l *lab) dial(ns string, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	})
	return c, err
}

// serve accepts connections on ln and reads each to EOF; it returns the
// number of bytes read per connection on the channel.
func serve(ln net.Listener, wg *sync.WaitGroup) <-chan int64 {
	got := make(chan int64, 64)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				n, _ := io.Copy(io.Discard, c)
				_ = c.Close()
				got <- n
			})
		}
	})
	return got
}

// snmp reads the Tcp line of /proc/net/snmp in namespace ns: the kernel's
// own counters (RetransSegs, OutRsts, ActiveOpens, AttemptFails, ...).
func (l *lab) snmp(ns string) map[string]int64 {
	out := run(l.t, "", "ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	var names, values []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Tcp: ") {
			continue
		}
		if names == nil {
			names = strings.Fields(line)[1:]
		} else {
			values = strings.Fields(line)[1:]
		}
	}
	require.Len(l.t, values, len(names), "parsing /proc/net/snmp: %s", out)
	m := map[string]int64{}
	for i, n := range names {
		v, err := strconv.ParseInt(values[i], 10, 64)
		require.NoError(l.t, err)
		m[n] = v
	}
	return m
}

func delta(after, before map[string]int64, key string) int64 { return after[key] - before[key] }

// ---- reading the receiver's output -----------------------------------------

// latest returns the newest batch the sink received (cumulative metrics:
// the newest batch holds everything).
func latest(sink *consumertest.MetricsSink) pmetric.Metrics {
	all := sink.AllMetrics()
	if len(all) == 0 {
		return pmetric.NewMetrics()
	}
	return all[len(all)-1]
}

// eventually polls cond every 100ms until it holds or the (generous)
// deadline passes; only data arrival is waited for, nothing is timed.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var msg string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, msg = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s: %s", timeout, msg)
}

// ---- the helper process (for the cgroup test) -------------------------------

const helperEnv = "VIGIL_KERNEL_TEST_HELPER"

// init turns the test binary into the cgroup test's child process when
// VIGIL_KERNEL_TEST_HELPER="connect ADDR[,ADDR...] N" is set: it connects N
// times to each address and exits before any test runs.
func init() {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	n, err := strconv.Atoi(f[len(f)-1])
	if len(f) != 3 || f[0] != "connect" || err != nil {
		fmt.Fprintln(os.Stderr, "helper: bad spec", spec)
		os.Exit(2)
	}
	for _, addr := range strings.Split(f[1], ",") {
		for range n {
			c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				os.Exit(2)
			}
			_ = c.Close()
		}
	}
	os.Exit(0)
}

// runInCgroup runs this test binary as the helper (see init) in namespace ns,
// started directly inside the cgroup directory cg (clone3 CLONE_INTO_CGROUP).
func (l *lab) runInCgroup(ns, cg, spec string) {
	dir, err := os.Open(cg)
	require.NoError(l.t, err)
	defer dir.Close()
	cmd := exec.CommandContext(context.Background(), "ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		l.t.Fatalf("helper failed: %v: %s", err, out.String())
	}
	require.NoError(l.t, err, out.String())
}
