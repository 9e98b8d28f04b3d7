// SPDX-License-Identifier: Apache-2.0

//go:build linux

package netnslab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
		return fmt.Errorf("bad spec: want 3 fields")
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
