// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package netnslab

import (
	"bufio"
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

	"golang.org/x/sys/unix"
)

// Lab is a pair of network namespaces, a and b, joined by a veth pair (va in
// a, vb in b) on a random 10.x.y.0/24, both created by New and removed in
// t.Cleanup. Traffic never leaves them.
type Lab struct {
	t            testing.TB
	NsA, NsB     string // names under /run/netns
	AddrA, AddrB string // IPv4 addresses of va and vb
	InoA, InoB   uint32 // inodes of the namespaces (as the kernel reports them)
}

// IPv6 addresses of va and vb after AddIPv6.
const (
	Addr6A = "fd00:77::1"
	Addr6B = "fd00:77::2"
)

// RequireRoot skips t unless it runs as root, and fails it when iproute2 is
// missing.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: loading eBPF programs and creating network namespaces needs root (CI runs these tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip not found: install iproute2 (scripts/ebpf-toolchain.sh install)")
	}
}

// RandSuffix returns 8 random hex digits, for names that must not collide
// with a parallel run's.
func RandSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Run runs a command and returns its combined output; it fails t on error.
func Run(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// New creates the lab (root only: see RequireRoot).
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	s := RandSuffix(t)
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	net24 := fmt.Sprintf("10.%d.%d", 100+b[0]%100, b[1])
	l := &Lab{t: t, NsA: "vigil-a-" + s, NsB: "vigil-b-" + s, AddrA: net24 + ".1", AddrB: net24 + ".2"}
	for _, ns := range []string{l.NsA, l.NsB} {
		Run(t, "", "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		Run(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	}
	Run(t, "", "ip", "-n", l.NsA, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", l.NsB)
	Run(t, "", "ip", "-n", l.NsA, "addr", "add", l.AddrA+"/24", "dev", "va")
	Run(t, "", "ip", "-n", l.NsB, "addr", "add", l.AddrB+"/24", "dev", "vb")
	Run(t, "", "ip", "-n", l.NsA, "link", "set", "va", "up")
	Run(t, "", "ip", "-n", l.NsB, "link", "set", "vb", "up")
	l.InoA = nsInode(t, l.NsA)
	l.InoB = nsInode(t, l.NsB)
	return l
}

func nsInode(t testing.TB, ns string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+ns, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// AddIPv6 gives va and vb the addresses Addr6A and Addr6B (no duplicate
// address detection, so they are usable at once).
func (l *Lab) AddIPv6() {
	Run(l.t, "", "ip", "-n", l.NsA, "addr", "add", Addr6A+"/64", "dev", "va", "nodad")
	Run(l.t, "", "ip", "-n", l.NsB, "addr", "add", Addr6B+"/64", "dev", "vb", "nodad")
}

// InNetns runs fn on an OS thread switched into namespace ns; sockets fn
// creates belong to ns and stay usable from any goroutine afterwards.
func InNetns(ns string, fn func() error) error {
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

// Listen listens on addr (TCP, "tcp4" or "tcp6" from the address) in
// namespace ns; the listener is closed in t.Cleanup.
func (l *Lab) Listen(ns, addr string) net.Listener {
	l.t.Helper()
	var ln net.Listener
	if err := InNetns(ns, func() (err error) {
		ln, err = net.Listen(network(addr), addr)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// Dial connects to addr from namespace ns.
func (l *Lab) Dial(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := InNetns(ns, func() (err error) {
		c, err = net.DialTimeout(network(addr), addr, 5*time.Second)
		return err
	})
	return c, err
}

func network(addr string) string {
	if strings.HasPrefix(addr, "[") {
		return "tcp6"
	}
	return "tcp4"
}

// ListenAndServe listens on addr in namespace ns and serves it (Serve); at
// the end of the test it closes the listener and waits for the server's
// goroutines.
func (l *Lab) ListenAndServe(ns, addr string) <-chan int64 {
	l.t.Helper()
	wg := new(sync.WaitGroup)
	l.t.Cleanup(wg.Wait) // after Listen's close (cleanups run last-in first-out)
	return Serve(l.Listen(ns, addr), wg)
}

// ListenAndServePorts runs ListenAndServe in namespace ns on n ports of host,
// from first up; it returns the addresses and their channels, in order.
func (l *Lab) ListenAndServePorts(ns, host string, first, n int) (addrs []string, gots []<-chan int64) {
	l.t.Helper()
	for i := range n {
		a := net.JoinHostPort(host, strconv.Itoa(first+i))
		gots = append(gots, l.ListenAndServe(ns, a))
		addrs = append(addrs, a)
	}
	return addrs, gots
}

// Serve accepts connections on ln and reads each to EOF; it sends the
// number of bytes read per connection on the returned channel (buffered:
// 64; a test that makes more connections must drain it).
func Serve(ln net.Listener, wg *sync.WaitGroup) <-chan int64 {
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

// CloseAfterPeer closes c once the peer has everything: it shuts down the
// sending side (FIN after the data), reads until the peer closes, then
// closes. A plain Close with data still unacknowledged orphans the socket,
// and the kernel resets an orphan whose retransmits keep failing
// (tcp_orphan_retries), which heavy injected loss makes likely.
func CloseAfterPeer(c net.Conn) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c.Close()
	}
	if err := tc.CloseWrite(); err != nil {
		_ = tc.Close()
		return err
	}
	_, err := io.Copy(io.Discard, tc)
	return errors.Join(err, tc.Close())
}

// SNMP returns the kernel's Tcp counters (RetransSegs, OutRsts,
// ActiveOpens, AttemptFails, ...) of /proc/net/snmp in namespace ns.
func (l *Lab) SNMP(ns string) map[string]int64 {
	return l.counters(ns, "/proc/net/snmp", "Tcp:")
}

// TCPExt returns the kernel's TcpExt counters (TCPRetransFail, ...) of
// /proc/net/netstat in namespace ns.
func (l *Lab) TCPExt(ns string) map[string]int64 {
	return l.counters(ns, "/proc/net/netstat", "TcpExt:")
}

// counters parses the two lines (names, values) starting with prefix.
func (l *Lab) counters(ns, file, prefix string) map[string]int64 {
	l.t.Helper()
	out := Run(l.t, "", "ip", "netns", "exec", ns, "cat", file)
	var names, values []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		if names == nil {
			names = f[1:]
		} else {
			values = f[1:]
		}
	}
	if len(names) == 0 || len(values) != len(names) {
		l.t.Fatalf("parsing %s %s in %s: %s", file, prefix, ns, out)
	}
	m := map[string]int64{}
	for i, n := range names {
		v, err := strconv.ParseInt(values[i], 10, 64)
		if err != nil {
			l.t.Fatalf("parsing %s %s: %v", file, n, err)
		}
		m[n] = v
	}
	return m
}

// Delta returns after[key] - before[key].
func Delta(after, before map[string]int64, key string) int64 { return after[key] - before[key] }

// A test binary becomes a TCP client inside a network namespace and a
// cgroup of the test's choosing, so that the client's sockets belong to
// them (the kernel receiver attributes by both): RunClient starts the binary
// again with a client spec in the environment, and ClientMain, which the test
// package calls from an init function, runs that client and exits before any
// test runs. The specs:
//
//	connect ADDR[,ADDR...] N   connect N times to each address, closing each connection at once
//	send ADDR BYTES            connect once, send BYTES bytes, close after the peer (CloseAfterPeer)
const clientEnv = "VIGIL_NETNSLAB_CLIENT"

// clientDialTimeout bounds each connect of the client.
const clientDialTimeout = 10 * time.Second

// ClientMain runs the client and exits when RunClient started this process;
// otherwise it returns at once. Call it from an init function of the test
// package.
func ClientMain() {
	spec, ok := os.LookupEnv(clientEnv)
	if !ok {
		return
	}
	if err := runClient(spec); err != nil {
		fmt.Fprintf(os.Stderr, "netnslab client %q: %v\n", spec, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func runClient(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 3 {
		return errors.New("bad spec: want 3 fields")
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return fmt.Errorf("bad spec: %w", err)
	}
	switch f[0] {
	case "connect":
		for _, addr := range strings.Split(f[1], ",") {
			for range n {
				c, err := net.DialTimeout("tcp4", addr, clientDialTimeout)
				if err != nil {
					return err
				}
				_ = c.Close()
			}
		}
		return nil
	case "send":
		c, err := net.DialTimeout("tcp4", f[1], clientDialTimeout)
		if err != nil {
			return err
		}
		buf := make([]byte, 64<<10)
		for sent := 0; sent < n; sent += len(buf) {
			if _, err := c.Write(buf[:min(len(buf), n-sent)]); err != nil {
				_ = c.Close()
				return err
			}
		}
		return CloseAfterPeer(c)
	}
	return fmt.Errorf("bad spec: unknown client %q", f[0])
}

// RunClient runs this test binary as the client of spec (see ClientMain)
// in network namespace ns, started directly inside the cgroup directory
// cgroupDir (clone3 CLONE_INTO_CGROUP; "" keeps the test's cgroup), and
// waits for it; it fails t when the client fails.
func RunClient(t testing.TB, ns, cgroupDir, spec string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+spec)
	if cgroupDir != "" {
		d, err := os.Open(cgroupDir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(d.Fd())}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("netnslab client %q in %s (cgroup %q): %v\n%s", spec, ns, cgroupDir, err, out)
	}
}
