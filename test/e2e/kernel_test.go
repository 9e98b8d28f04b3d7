// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e && linux

package e2e

import (
	"bufio"
	"crypto/rand"
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

// TestKernelReceiverToPrometheus runs vigil with the kernel receiver (real
// eBPF programs) exporting to Prometheus over OTLP, makes TCP traffic between
// two network namespaces the test creates (veth pair, nftables loss on one
// side), and checks the numbers Prometheus ends up with against the kernel's
// own counters. Needs root, iproute2 and nftables (scripts/ebpf-toolchain.sh).
func TestKernelReceiverToPrometheus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the kernel receiver and network namespaces need root (CI runs e2e as root)")
	}
	l := newKernelLab(t)
	const (
		bulkPort, closedPort = 5001, 5999
		nClosed              = 4
	)
	// veth merges segments (GRO) before nftables sees them, so a 4 MiB
	// transfer is only ~64 packets there: at 5% one run in ~30 saw no drop
	// at all and proved nothing. 16 MiB at 10% makes that ~1e-11.
	l.dropInB(bulkPort, 10)

	// Only the lab's namespaces are exported (mdatagen resource filter), so
	// the host's own TCP traffic stays out of Prometheus.
	cfg := fmt.Sprintf(`
extensions:
  health_check:
    endpoint: ${env:VIGIL_HEALTH_ENDPOINT}
receivers:
  kernel:
    collection_interval: 1s
    resource_attributes:
      vigil.netns.inode:
        enabled: true
        metrics_include:
          - strict: "%d"
          - strict: "%d"
exporters:
  otlp_http/prometheus:
    metrics_endpoint: %s/api/v1/otlp/v1/metrics
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:VIGIL_TELEMETRY_PORT}
  pipelines:
    metrics:
      receivers: [kernel]
      exporters: [otlp_http/prometheus]
`, l.inoA, l.inoB, PrometheusURL)
	v := StartVigil(t, cfg)
	if !strings.Contains(v.Log(), "kernel hooks attached") {
		t.Fatalf("kernel receiver did not attach its hooks:\n%s", tail(v.Log(), 20))
	}

	// Bulk transfer a → b through 10% loss.
	ln := l.listen(l.nsB, net.JoinHostPort(l.addrB, strconv.Itoa(bulkPort)))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan int64, 1)
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		_ = c.Close()
		got <- n
	})
	beforeA, beforeB := l.snmp(l.nsA), l.snmp(l.nsB)
	c, err := l.dial(l.nsA, net.JoinHostPort(l.addrB, strconv.Itoa(bulkPort)))
	if err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	buf := make([]byte, 64<<10)
	for sent := 0; sent < size; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close()
	if n := <-got; n != size {
		t.Fatalf("server read %d bytes, want %d", n, size)
	}
	// Refused connects a → b.
	for range nClosed {
		if _, err := l.dial(l.nsA, net.JoinHostPort(l.addrB, strconv.Itoa(closedPort))); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("connect to closed port: %v", err)
		}
	}

	checks := []struct {
		name, expr string
		want       func() float64
	}{
		{"retransmitted segments == TcpRetransSegs(a)",
			fmt.Sprintf(`sum(kernel_tcp_retransmitted_segments_total{network_peer_address=%q})`, l.addrB),
			func() float64 { return float64(l.snmp(l.nsA)["RetransSegs"] - beforeA["RetransSegs"]) }},
		{"connect failures == refused connects",
			fmt.Sprintf(`sum(kernel_tcp_connect_failures_total{network_peer_address=%q,network_peer_port="%d"})`, l.addrB, closedPort),
			func() float64 { return nClosed }},
		{"resets sent by b == TcpOutRsts(b)",
			fmt.Sprintf(`sum(kernel_tcp_resets_total{network_peer_address=%q,network_io_direction="transmit"})`, l.addrA),
			func() float64 { return float64(l.snmp(l.nsB)["OutRsts"] - beforeB["OutRsts"]) }},
		{"connect successes",
			fmt.Sprintf(`sum(kernel_tcp_connect_successes_total{network_peer_address=%q,network_peer_port="%d"})`, l.addrB, bulkPort),
			func() float64 { return 1 }},
	}
	Eventually(t, 60*time.Second, func() (bool, string) {
		for _, c := range checks {
			want := c.want()
			s, err := promQuery(PrometheusURL, c.expr)
			if err != nil {
				return false, err.Error()
			}
			if len(s) != 1 || s[0].Value != want || want == 0 {
				raw, _ := promQuery(PrometheusURL, strings.TrimSuffix(strings.TrimPrefix(c.expr, "sum("), ")"))
				return false, fmt.Sprintf("%s: %s = %v, want %v (series: %v)", c.name, c.expr, s, want, raw)
			}
		}
		return true, ""
	})
}

// kernelLab is two network namespaces joined by a veth pair on a random
// 10.x.y.0/24, removed in t.Cleanup. Traffic never leaves them.
type kernelLab struct {
	t            *testing.T
	nsA, nsB     string
	addrA, addrB string
	inoA, inoB   uint64
}

func kernelRun(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newKernelLab(t *testing.T) *kernelLab {
	t.Helper()
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/ebpf-toolchain.sh install", tool)
		}
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	s := RandomSuffix()
	net24 := fmt.Sprintf("10.%d.%d", 100+b[0]%100, b[1])
	l := &kernelLab{t: t, nsA: "vigil-e2e-a-" + s, nsB: "vigil-e2e-b-" + s, addrA: net24 + ".1", addrB: net24 + ".2"}
	for _, ns := range []string{l.nsA, l.nsB} {
		kernelRun(t, "", "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		kernelRun(t, "", "ip", "-n", ns, "link", "set", "lo", "up")
	}
	kernelRun(t, "", "ip", "-n", l.nsA, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", l.nsB)
	kernelRun(t, "", "ip", "-n", l.nsA, "addr", "add", l.addrA+"/24", "dev", "va")
	kernelRun(t, "", "ip", "-n", l.nsB, "addr", "add", l.addrB+"/24", "dev", "vb")
	kernelRun(t, "", "ip", "-n", l.nsA, "link", "set", "va", "up")
	kernelRun(t, "", "ip", "-n", l.nsB, "link", "set", "vb", "up")
	for _, p := range []struct {
		ns  string
		ino *uint64
	}{{l.nsA, &l.inoA}, {l.nsB, &l.inoB}} {
		var st syscall.Stat_t
		if err := syscall.Stat("/run/netns/"+p.ns, &st); err != nil {
			t.Fatal(err)
		}
		*p.ino = st.Ino
	}
	return l
}

// dropInB drops pct% of the TCP segments namespace b receives for port.
func (l *kernelLab) dropInB(port, pct int) {
	kernelRun(l.t, fmt.Sprintf(`table inet vigile2e {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport %d numgen random mod 100 < %d drop
  }
}
`, port, pct), "ip", "netns", "exec", l.nsB, "nft", "-f", "-")
}

// inNetns runs fn on an OS thread switched into namespace ns.
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
			errc <- err
			return
		}
		ferr := fn()
		// A thread that cannot go back stays locked and dies with the goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

func (l *kernelLab) listen(ns, addr string) net.Listener {
	var ln net.Listener
	if err := inNetns(ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		l.t.Fatal(err)
	}
	return ln
}

func (l *kernelLab) dial(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) { c, err = net.DialTimeout("tcp4", addr, 5*time.Second); return err })
	return c, err
}

// snmp returns the Tcp counters of /proc/net/snmp in namespace ns.
func (l *kernelLab) snmp(ns string) map[string]int64 {
	out := kernelRun(l.t, "", "ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	var names, values []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == "Tcp:" {
			if names == nil {
				names = f[1:]
			} else {
				values = f[1:]
			}
		}
	}
	m := map[string]int64{}
	for i := range min(len(names), len(values)) {
		m[names[i]], _ = strconv.ParseInt(values[i], 10, 64)
	}
	return m
}
