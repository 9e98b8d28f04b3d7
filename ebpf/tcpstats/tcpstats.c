//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// tcpstats aggregates TCP health signals in kernel hash maps: retransmitted
// segments, resets sent and received, connect attempts/successes/failures,
// connect latency and smoothed RTT (log2 histograms), and open connections by
// state. Nothing is sent to user space per packet: Vigil's kernel receiver
// reads the maps on an interval.
//
// Hooks are the stable TCP tracepoints, attached as tp_btf (BTF-typed raw
// tracepoints, no tracefs needed) with a raw_tp fallback. Every field is read
// with BPF_CORE_READ (bpf_probe_read_kernel + CO-RE relocation), which both
// program types accept. No kprobes, no fentry.
//
// Aggregation key (see peer_key): cgroup id of the socket, network namespace,
// remote address, and EITHER the local port (when the socket's port was bound
// explicitly: listeners and the connections they accept) OR the remote port
// (connections whose local port the kernel picked: clients). Ephemeral ports
// are dropped on both sides, so a busy client produces one series per remote
// service and a busy server one series per client host, not one per
// connection.

// -Wpadded applies to our own structs (shared with Go); the kernel's and
// libbpf's headers are exempt.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpadded"
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#pragma clang diagnostic pop

char __license[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define SOCK_BINDPORT_LOCK 8
#define ENOBUFS 105

// TCP states (include/net/tcp_states.h).
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_NEW_SYN_RECV 12
#define TCP_MAX_STATES 13

// Number of log2 buckets of the latency histograms. Bucket 0 holds values
// below 1 µs; bucket i (1 <= i < NBUCKETS-1) holds [2^(i-1), 2^i) µs; the last
// bucket holds everything from 2^(NBUCKETS-2) µs (~4.2 s) up.
#define NBUCKETS 24

#define PEER_FLAG_OVERFLOW 1

// Indexes of the drops per-CPU array. Keep in sync with the loader.
enum drop_reason {
	DROP_PEER_MAP_FULL = 0,    // peers full: event not counted
	DROP_PEER_OVERFLOW = 1,    // cgroup over max_peers: event folded into overflow peer
	DROP_SOCK_MAP_FULL = 2,    // socks full: socket not tracked (state gauge, connect latency)
	DROP_STATE_MAP_FULL = 3,   // conn_states full: state change not counted
	DROP_CGROUP_MAP_FULL = 4,  // cgroup_peers full: event folded into overflow peer
	DROP_MAX = 5,
};

struct peer_key {
	__u64 cgroup_id;       // cgroup v2 id of the socket (0: no socket, e.g. reset for a closed port)
	__u32 netns;           // inode of the socket's network namespace
	__u16 family;          // AF_INET, AF_INET6 (0 for the overflow peer)
	__u16 local_port;      // host order; explicitly bound port, else 0
	__u8 remote_addr[16];  // IPv4 in the first 4 bytes
	__u16 remote_port;     // host order; 0 when local_port is set
	__u16 flags;           // PEER_FLAG_*
	__u32 reserved;        // explicit padding, always 0
};

struct peer_stats {
	__u64 retrans_segs;
	__u64 resets_sent;
	__u64 resets_received;
	__u64 connect_attempts;
	__u64 connect_successes;
	__u64 connect_failures;
	__u64 connect_sum_ns;
	__u64 rtt_sum_us;
	__u64 rtt_count;
	__u64 connect_buckets[NBUCKETS];
	__u64 rtt_buckets[NBUCKETS];
};

struct state_key {
	__u64 cgroup_id;
	__u32 netns;
	__u32 reserved;  // explicit padding, always 0
};

// Open connections per TCP state (index: the state number), all states of
// a (cgroup, netns) in one value so that a transition costs one lookup.
struct state_counts {
	__s64 count[16];
};

struct sock_info {
	__u64 syn_sent_ns;  // ktime of the SYN_SENT transition, 0 if not a client
};

// Sizes are placeholders: the loader sets max_entries from the receiver config.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct peer_key);
	__type(value, struct peer_stats);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);  // cgroup id
	__type(value, __u32);  // distinct peers admitted
} cgroup_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);  // struct sock pointer
	__type(value, struct sock_info);
} socks SEC(".maps");

// Per-CPU: the counts of one (cgroup, netns) change on every CPU that
// handles its sockets; per-CPU slots avoid atomics and cache-line bouncing.
// A slot may go negative (a socket opened on one CPU, closed on another);
// user space sums the slots.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct state_key);
	__type(value, struct state_counts);
} conn_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

// max_peers_per_cgroup is set by the loader before loading.
volatile const __u32 max_peers_per_cgroup = 256;

// Force BTF for the types user space decodes (bpf2go -type).
const struct peer_key *unused_peer_key __attribute__((unused));
const struct peer_stats *unused_peer_stats __attribute__((unused));
const struct state_key *unused_state_key __attribute__((unused));
const struct state_counts *unused_state_counts __attribute__((unused));

static __always_inline void count_drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &reason);
	if (v)
		*v += 1;  // per-CPU slot: no atomic needed
}

static __always_inline __u32 log2_bucket(__u64 v)
{
	// bucket = floor(log2(v)) + 1 for v >= 1, 0 for v == 0, capped.
	__u32 r = 0;
	if (v == 0)
		return 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	r += 1;
	if (r > NBUCKETS - 1)
		r = NBUCKETS - 1;
	return r;
}

// peer_lookup returns the stats slot of key, creating it if needed. A cgroup
// past max_peers_per_cgroup gets its overflow slot instead; a full map
// returns NULL. Both are counted in drops.
static __always_inline struct peer_stats *peer_lookup(struct peer_key *key)
{
	static const struct peer_stats zero = {};
	struct peer_stats *st = bpf_map_lookup_elem(&peers, key);
	if (st)
		return st;

	__u64 cg = key->cgroup_id;
	__u32 *n = bpf_map_lookup_elem(&cgroup_peers, &cg);
	if (!n) {
		__u32 z = 0;
		bpf_map_update_elem(&cgroup_peers, &cg, &z, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&cgroup_peers, &cg);
	}
	if (!n || *n >= max_peers_per_cgroup) {
		count_drop(n ? DROP_PEER_OVERFLOW : DROP_CGROUP_MAP_FULL);
		__u32 netns = key->netns;
		__builtin_memset(key, 0, sizeof(*key));
		key->cgroup_id = cg;
		key->netns = netns;
		key->flags = PEER_FLAG_OVERFLOW;
		st = bpf_map_lookup_elem(&peers, key);
		if (st)
			return st;
	}
	long err = bpf_map_update_elem(&peers, key, &zero, BPF_NOEXIST);
	if (err == 0 && n && !(key->flags & PEER_FLAG_OVERFLOW))
		__sync_fetch_and_add(n, 1);
	st = bpf_map_lookup_elem(&peers, key);
	if (!st)
		count_drop(DROP_PEER_MAP_FULL);
	return st;
}

// state_move moves one socket of (cgroup, netns) from state `from` to `to`;
// TCP_CLOSE on either side means "not counted" (a new or a closed socket).
static __always_inline void state_move(__u64 cgroup_id, __u32 netns, int from, int to)
{
	static const struct state_counts zero = {};
	struct state_key k = {};
	k.cgroup_id = cgroup_id;
	k.netns = netns;
	struct state_counts *v = bpf_map_lookup_elem(&conn_states, &k);
	if (!v) {
		// NOEXIST: another CPU may have created it meanwhile; look again.
		bpf_map_update_elem(&conn_states, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&conn_states, &k);
		if (!v) {
			count_drop(DROP_STATE_MAP_FULL);
			return;
		}
	}
	if (from != TCP_CLOSE && from >= 0 && from < TCP_MAX_STATES)
		v->count[from] -= 1;  // per-CPU slot: no atomic needed
	if (to != TCP_CLOSE && to >= 0 && to < TCP_MAX_STATES)
		v->count[to] += 1;
}

static __always_inline void add_histogram(__u64 *buckets, __u64 v)
{
	__u32 b = log2_bucket(v);
	if (b < NBUCKETS)
		__sync_fetch_and_add(&buckets[b], 1);
}

// The hooks are compiled twice from tcpstats_hooks.h:
//   - as tp_btf programs (btf_*), where the context's pointers are BTF-typed
//     and kernel fields are read with plain loads (the verifier turns them
//     into fault-safe loads; no helper call per field), preferred;
//   - as raw_tp programs (raw_*), where every field is read through
//     bpf_probe_read_kernel (BPF_CORE_READ), the fallback where tp_btf
//     programs are refused.
// Both use CO-RE relocations. RD(p, a, b, ...) reads p->a->b->...; the
// loader attaches one of the two per hook and records which.
#define ARROW_N(_1, _2, _3, _4, N, ...) N
#define ARROW2(a, b) ((a)->b)
#define ARROW3(a, b, c) ((a)->b->c)
#define ARROW4(a, b, c, d) ((a)->b->c->d)
#define ARROW(...) ARROW_N(__VA_ARGS__, ARROW4, ARROW3, ARROW2, unused)(__VA_ARGS__)

#define PFX(name) btf_##name
#define SECPFX "tp_btf/"
#define RD(...) ARROW(__VA_ARGS__)
#include "tcpstats_hooks.h"
#undef PFX
#undef SECPFX
#undef RD

#define PFX(name) raw_##name
#define SECPFX "raw_tp/"
#define RD(...) BPF_CORE_READ(__VA_ARGS__)
#include "tcpstats_hooks.h"
#undef PFX
#undef SECPFX
#undef RD
