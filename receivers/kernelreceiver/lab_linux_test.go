// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kernelreceiver

import (
	"net"
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

// init lets the tests re-run this binary as a TCP client in a namespace and
// a cgroup (netnslab.RunClient).
func init() { netnslab.ClientMain() }
