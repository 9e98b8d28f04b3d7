// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package netnslab

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDrop: with loss at b's ingress, a bulk transfer from a retransmits
// (the kernel's own counters say so); with loss at a's egress too, some of
// the retransmits fail to leave (TCPRetransFail), which is what the kernel
// receiver's retransmit test relies on.
func TestDrop(t *testing.T) {
	l := New(t)
	const port = 5001
	l.DropIngress(l.NsB, "vb", port, 10)
	l.DropEgress(l.NsA, "va", port, 30)
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, port))
	before, beforeExt := l.SNMP(l.NsA), l.TCPExt(l.NsA)
	c, err := l.Dial(l.NsA, fmt.Sprintf("%s:%d", l.AddrB, port))
	require.NoError(t, err)
	buf := make([]byte, 64<<10)
	for range 64 {
		_, err := c.Write(buf)
		require.NoError(t, err)
	}
	require.NoError(t, CloseAfterPeer(c))
	require.Equal(t, int64(64*len(buf)), <-got)
	after, afterExt := l.SNMP(l.NsA), l.TCPExt(l.NsA)
	t.Logf("RetransSegs %d OutSegs %d TCPRetransFail %d TCPLossProbes %d", Delta(after, before, "RetransSegs"), Delta(after, before, "OutSegs"), Delta(afterExt, beforeExt, "TCPRetransFail"), Delta(afterExt, beforeExt, "TCPLossProbes"))
	require.Positive(t, Delta(after, before, "RetransSegs"))
	require.Positive(t, Delta(afterExt, beforeExt, "TCPRetransFail"))
}

func init() { ClientMain() }

// TestClient: the test binary, started as a client in namespace a, connects
// to servers in namespace b as its spec says.
func TestClient(t *testing.T) {
	l := New(t)
	addrs, gots := l.ListenAndServePorts(l.NsB, l.AddrB, 5011, 2)
	RunClient(t, l.NsA, "", "connect "+strings.Join(addrs, ",")+" 3")
	for i, got := range gots {
		for range 3 {
			require.Zero(t, <-got, "a connect sends nothing (%s)", addrs[i])
		}
	}
	got := l.ListenAndServe(l.NsB, fmt.Sprintf("%s:%d", l.AddrB, 5013))
	RunClient(t, l.NsA, "", fmt.Sprintf("send %s:%d %d", l.AddrB, 5013, 100_000))
	require.Equal(t, int64(100_000), <-got)
}
