// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package tcpstats

import "net/netip"

// Hooks lists the kernel tracepoints tcpstats attaches to, in attach order:
// the TCP ones, and cgroup_mkdir, which records the paths of new cgroups.
var Hooks = []string{
	"tcp_retransmit_skb",
	"tcp_retransmit_synack",
	"tcp_send_reset",
	"tcp_receive_reset",
	"inet_sock_set_state",
	"cgroup_mkdir",
}

// NumBuckets is the number of log2 buckets of the latency histograms
// (NBUCKETS in tcpstats.c).
const NumBuckets = 24

// BucketBoundsMicros returns the upper bounds, in microseconds, of the first
// NumBuckets-1 histogram buckets: bucket 0 holds values below 1 µs, bucket i
// holds [2^(i-1), 2^i) µs and the last bucket everything above. (The kernel's
// upper bounds are exclusive, OTel's inclusive: a value of exactly 2^i µs is
// reported one bucket up. Latencies are not that exact anyway.)
func BucketBoundsMicros() []float64 {
	b := make([]float64, NumBuckets-1)
	for i := range b {
		b[i] = float64(uint64(1) << i)
	}
	return b
}

// Config sizes the kernel maps. Zero values are replaced by defaults.
type Config struct {
	// MaxPeers is the capacity of the per-peer statistics map.
	MaxPeers uint32
	// MaxPeersPerCgroup is how many distinct peers one cgroup may have before
	// its further peers are folded into the cgroup's overflow peer.
	MaxPeersPerCgroup uint32
	// MaxCgroups is the capacity of the per-cgroup peer counter map.
	MaxCgroups uint32
	// MaxSockets sizes the per-socket table (connect start times, state
	// tracking): 2 x MaxSockets slots, rounded up to a power of two of
	// 4-slot buckets. A socket whose two candidate buckets are full is not
	// tracked and counted (rare below MaxSockets, certain well above).
	MaxSockets uint32

	// Kinds restricts the program kinds tried per hook, in order: "tp_btf",
	// "raw_tp". Empty: tp_btf, then raw_tp. Tests use it to run the raw_tp
	// fallback on kernels where tp_btf works.
	Kinds []string
}

// Default map sizes.
const (
	DefaultMaxPeers          = 16384
	DefaultMaxPeersPerCgroup = 512
	DefaultMaxCgroups        = 4096
	DefaultMaxSockets        = 65536
)

// sockWays is SOCK_WAYS in tcpstats.c: slots per bucket of the socks table.
const sockWays = 4

// sockBucketsFor returns the number of buckets of the socks table for
// maxSockets sockets: a power of two (the programs mask the hash) with at
// least twice as many slots as sockets, so that two-choice placement rarely
// finds both buckets of a socket full below maxSockets.
func sockBucketsFor(maxSockets uint32) uint32 {
	want := (uint64(maxSockets)*2 + sockWays - 1) / sockWays
	b := uint64(1)
	for b < want {
		b <<= 1
	}
	return uint32(min(b, 1<<31))
}

func (c Config) withDefaults() Config {
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxPeers, DefaultMaxPeers)
	def(&c.MaxPeersPerCgroup, DefaultMaxPeersPerCgroup)
	def(&c.MaxCgroups, DefaultMaxCgroups)
	def(&c.MaxSockets, DefaultMaxSockets)
	if len(c.Kinds) == 0 {
		c.Kinds = []string{"tp_btf", "raw_tp"}
	}
	return c
}

// Attachment records how one hook was attached, or why it was not.
type Attachment struct {
	Hook string
	// Kind is "tp_btf" or "raw_tp"; empty when Err is set.
	Kind string
	// Program is the attached program (btf_<hook>, raw_<hook>, or a
	// variant for older kernels such as btf_tcp_retransmit_skb_noerr).
	Program string
	Err     error
}

// Peer identifies one aggregate of the peers map.
type Peer struct {
	CgroupID uint64
	Netns    uint32
	// Overflow marks the bucket that collects the peers of a cgroup beyond
	// MaxPeersPerCgroup; Addr and ports are zero then.
	Overflow bool
	// LocalPort is the explicitly bound local port (listeners and accepted
	// connections), else 0.
	LocalPort uint16
	Addr      netip.Addr
	// RemotePort is the remote port of connections with a kernel-chosen
	// local port (clients), else 0.
	RemotePort uint16
}

// PeerStats are the cumulative counters of one Peer.
type PeerStats struct {
	RetransSegs       uint64
	ResetsSent        uint64
	ResetsReceived    uint64
	ConnectAttempts   uint64
	ConnectSuccesses  uint64
	ConnectFailures   uint64
	ConnectSumSeconds float64
	ConnectBuckets    [NumBuckets]uint64
	RTTSumSeconds     float64
	RTTCount          uint64
	RTTBuckets        [NumBuckets]uint64
}

// StateKey identifies one open-connections gauge.
type StateKey struct {
	CgroupID uint64
	Netns    uint32
	State    State
}

// State is a TCP state (include/net/tcp_states.h).
type State uint32

var stateNames = [...]string{
	1: "established", 2: "syn_sent", 3: "syn_received", 4: "fin_wait_1", 5: "fin_wait_2",
	6: "time_wait", 7: "closed", 8: "close_wait", 9: "last_ack", 10: "listen", 11: "closing",
}

// stateClosed is TCP_CLOSE: sockets in it are not counted.
const stateClosed State = 7

// String returns the OTel semantic-convention value of
// network.connection.state, or "" for an unknown state.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return ""
}

// Drops are the kernel side's cumulative counts of what it could not record
// exactly (sums over CPUs).
type Drops struct {
	// PeerMapFull: events lost because the peers map was full.
	PeerMapFull uint64
	// PeerOverflow: events folded into a cgroup's overflow peer.
	PeerOverflow uint64
	// SockMapFull: sockets not tracked because the socks map was full
	// (no connections-by-state, connect latency or server key for them).
	SockMapFull uint64
	// CgroupMapFull: events folded into the overflow peer because the
	// cgroup map was full.
	CgroupMapFull uint64
	// CgroupPathLost: new cgroups whose path was not recorded (new-cgroup
	// map full, or path longer than 255 bytes); user space finds them on
	// its next walk of the hierarchy.
	CgroupPathLost uint64
	// Missed: events the kernel did not hand to a program because that
	// program was already running on the same CPU (an event in an
	// interrupt that came while it ran): the programs' recursion_misses,
	// summed. Every hook's event is lost whole (a retransmit, a reset, a
	// state change). Zero where the kernel does not report it (before 5.12).
	Missed uint64
}
