// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoadAttachClose loads the programs into this kernel, checks that every
// hook attached, and closes everything. It needs root: the project's tests
// run as root here and in CI.
func TestLoadAttachClose(t *testing.T) {
	tr, err := Load(Config{MaxPeers: 128, MaxSockets: 128, MaxStates: 64, MaxCgroups: 16, MaxPeersPerCgroup: 8})
	require.NoError(t, err)
	for _, a := range tr.Attachments() {
		t.Logf("%s: kind=%q err=%v", a.Hook, a.Kind, a.Err)
		require.NoError(t, a.Err, a.Hook)
	}
	_, err = tr.Drops()
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close())
}
