// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodePeer(t *testing.T) {
	t.Parallel()
	v4 := [16]uint8{10, 77, 0, 2}
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	mapped := netip.MustParseAddr("::ffff:10.1.2.3").As16()
	tests := []struct {
		name    string
		key     RawPeerKey
		want    Peer
		wantErr bool
	}{
		{"ipv4 client", RawPeerKey{CgroupId: 7, Netns: 9, Family: afInet, RemoteAddr: v4, RemotePort: 443},
			Peer{CgroupID: 7, Netns: 9, Addr: netip.MustParseAddr("10.77.0.2"), RemotePort: 443}, false},
		{"ipv6 server", RawPeerKey{Family: afInet6, RemoteAddr: v6, LocalPort: 8080},
			Peer{Addr: netip.MustParseAddr("2001:db8::1"), LocalPort: 8080}, false},
		{"v4-mapped ipv6 is reported as ipv4", RawPeerKey{Family: afInet6, RemoteAddr: mapped, RemotePort: 1},
			Peer{Addr: netip.MustParseAddr("10.1.2.3"), RemotePort: 1}, false},
		{"overflow", RawPeerKey{CgroupId: 3, Netns: 4, Flags: peerFlagOverflow},
			Peer{CgroupID: 3, Netns: 4, Overflow: true}, false},
		{"overflow with an address", RawPeerKey{Flags: peerFlagOverflow, Family: afInet, RemoteAddr: v4}, Peer{}, true},
		{"unknown family", RawPeerKey{Family: 1}, Peer{}, true},
		{"unknown flag", RawPeerKey{Family: afInet, Flags: 2}, Peer{}, true},
		{"reserved set", RawPeerKey{Family: afInet, Reserved: 1}, Peer{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodePeer(tt.key)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrBadKey)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeStats(t *testing.T) {
	t.Parallel()
	raw := RawPeerStats{RetransSegs: 5, ConnectSumNs: 1_500_000_000, RttSumUs: 2_000_000, RttCount: 4}
	raw.ConnectBuckets[3] = 2
	s := DecodeStats(raw)
	assert.Equal(t, uint64(5), s.RetransSegs)
	assert.InDelta(t, 1.5, s.ConnectSumSeconds, 1e-9)
	assert.InDelta(t, 2.0, s.RTTSumSeconds, 1e-9)
	assert.Equal(t, uint64(2), s.ConnectBuckets[3])
	assert.Len(t, BucketBoundsMicros(), NumBuckets-1)
}

// FuzzDecodePeer feeds arbitrary map keys (as the kernel would lay them out)
// to DecodePeer: it must never panic, and what it accepts must be a valid
// peer: an overflow bucket without address, or an address of the family.
func FuzzDecodePeer(f *testing.F) {
	for _, k := range []RawPeerKey{
		{Family: afInet, RemoteAddr: [16]uint8{10, 0, 0, 1}, RemotePort: 80},
		{Family: afInet6, LocalPort: 443},
		{Flags: peerFlagOverflow, CgroupId: 1},
	} {
		var b bytes.Buffer
		require.NoError(f, binary.Write(&b, binary.LittleEndian, k))
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var k RawPeerKey
		if binary.Read(bytes.NewReader(data), binary.LittleEndian, &k) != nil {
			return
		}
		p, err := DecodePeer(k)
		if err != nil {
			return
		}
		switch {
		case p.Overflow:
			if p.Addr.IsValid() || p.LocalPort != 0 || p.RemotePort != 0 {
				t.Fatalf("overflow peer with an address: %+v", p)
			}
		case !p.Addr.IsValid():
			t.Fatalf("accepted key without address: %+v", k)
		case k.Family == afInet && !p.Addr.Is4():
			t.Fatalf("ipv4 key decoded to %s", p.Addr)
		}
	})
}

func TestCgroupPath(t *testing.T) {
	t.Parallel()
	raw := func(s string) RawCgroupPath {
		var v RawCgroupPath
		for i := range len(s) {
			v.Path[i] = int8(s[i])
		}
		return v
	}
	assert.Equal(t, "/a.slice/b.scope", cgroupPath(raw("/a.slice/b.scope")))
	assert.Equal(t, "/", cgroupPath(raw("/")))
	assert.Empty(t, cgroupPath(raw("")), "no path recorded")
	assert.Empty(t, cgroupPath(raw("a/b")), "not relative to the root")
}
