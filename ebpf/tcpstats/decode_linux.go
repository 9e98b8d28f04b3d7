// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"errors"
	"fmt"
	"net/netip"
)

const (
	afInet  = 2
	afInet6 = 10

	peerFlagOverflow = 1
)

// ErrBadKey is returned by DecodePeer for a key the kernel program never
// writes (unknown family or flags); the reader counts and skips such keys.
var ErrBadKey = errors.New("tcpstats: malformed peer key")

// DecodePeer converts a raw map key into a Peer.
func DecodePeer(k RawPeerKey) (Peer, error) {
	p := Peer{CgroupID: k.CgroupId, Netns: k.Netns}
	if k.Flags&^peerFlagOverflow != 0 || k.Reserved != 0 {
		return Peer{}, fmt.Errorf("%w: flags %#x", ErrBadKey, k.Flags)
	}
	if k.Flags&peerFlagOverflow != 0 {
		if k.Family != 0 || k.LocalPort != 0 || k.RemotePort != 0 || k.RemoteAddr != ([16]uint8{}) {
			return Peer{}, fmt.Errorf("%w: overflow key with a peer", ErrBadKey)
		}
		p.Overflow = true
		return p, nil
	}
	switch k.Family {
	case afInet:
		p.Addr = netip.AddrFrom4([4]byte(k.RemoteAddr[:4]))
	case afInet6:
		p.Addr = netip.AddrFrom16(k.RemoteAddr).Unmap()
	default:
		return Peer{}, fmt.Errorf("%w: family %d", ErrBadKey, k.Family)
	}
	p.LocalPort = k.LocalPort
	p.RemotePort = k.RemotePort
	return p, nil
}

// DecodeStats converts a raw map value into PeerStats.
func DecodeStats(v RawPeerStats) PeerStats {
	s := PeerStats{
		RetransSegs:       v.RetransSegs,
		ResetsSent:        v.ResetsSent,
		ResetsReceived:    v.ResetsReceived,
		ConnectAttempts:   v.ConnectAttempts,
		ConnectSuccesses:  v.ConnectSuccesses,
		ConnectFailures:   v.ConnectFailures,
		ConnectSumSeconds: float64(v.ConnectSumNs) / 1e9,
		ConnectBuckets:    v.ConnectBuckets,
		RTTSumSeconds:     float64(v.RttSumUs) / 1e6,
		RTTCount:          v.RttCount,
		RTTBuckets:        v.RttBuckets,
	}
	return s
}

// cgroupPath returns the NUL-terminated path of v, or "" when it is not an
// absolute path (the programs record only complete ones).
func cgroupPath(v RawCgroupPath) string {
	b := make([]byte, 0, len(v.Path))
	for _, c := range v.Path {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	if len(b) == 0 || b[0] != '/' {
		return ""
	}
	return string(b)
}

// RawPeerKey, RawPeerStats, RawSockBucket and RawCgroupPath are the
// generated mirrors of struct peer_key, struct peer_stats, struct
// sock_bucket and struct cgroup_path in tcpstats.c.
type (
	RawPeerKey    = tcpstatsPeerKey
	RawPeerStats  = tcpstatsPeerStats
	RawSockBucket = tcpstatsSockBucket
	RawCgroupPath = tcpstatsCgroupPath
)
