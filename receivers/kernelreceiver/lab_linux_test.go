// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kernelreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/internal/netnslab"
)

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

// closeAfterPeer closes c once the server has read everything (see
// netnslab.CloseAfterPeer).
func closeAfterPeer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, netnslab.CloseAfterPeer(c))
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
func runInCgroup(t *testing.T, ns, cg, spec string) {
	t.Helper()
	dir, err := os.Open(cg)
	require.NoError(t, err)
	defer dir.Close()
	cmd := exec.CommandContext(context.Background(), "ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("helper failed: %v: %s", err, out.String())
	}
	require.NoError(t, err, out.String())
}
