//go:build ignore

// Copyright The Vigil Authors
// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// tcpstats aggregates TCP health signals in kernel hash maps: retransmitted
// segments, resets sent and received, connect attempts/successes/failures,
// connect latency and smoothed RTT (log2 histograms), and the state of every
// socket seen since load (open connections by state). Nothing is sent to user
// space per packet: Vigil's kernel receiver reads the maps on an interval.
// It also records the path of every cgroup v2 directory created after load
// (cgroup:cgroup_mkdir), so that short-lived containers are attributed by
// path without waiting for user space to walk the hierarchy.
//
// Hooks are the stable tracepoints, each compiled into two programs (see
// "Entry points" at the end): a tp_btf program (BTF-typed raw tracepoint, no
// tracefs needed), which reads kernel fields with plain loads, and its raw_tp
// twin, which reads them with BPF_CORE_READ, for kernels that refuse the
// first. Both use CO-RE relocations. No kprobes, no fentry.
//
// Aggregation key (see peer_key): cgroup id of the socket, network namespace,
// remote address, and EITHER the local port (listeners and the connections
// they accepted, and sockets bound to their port explicitly) OR the remote
// port (connections whose local port the kernel picked: clients). Ephemeral
// ports are dropped on both sides, so a busy client produces one series per
// remote service and a busy server one series per (listening port, client
// host), not one per connection.

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

// Error codes (include/uapi/asm-generic/errno*.h) of retransmit_counted.
#define EAGAIN 11
#define ENOMEM 12
#define EBUSY 16
#define EINVAL 22
#define EHOSTUNREACH 113

// TCP states (include/net/tcp_states.h).
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define TCP_NEW_SYN_RECV 12
#define TCP_MAX_STATES 13

// Number of log2 buckets of the latency histograms. Bucket 0 holds values
// below 1 µs; bucket i (1 <= i < NBUCKETS-1) holds [2^(i-1), 2^i) µs; the last
// bucket holds everything from 2^(NBUCKETS-2) µs (~4.2 s) up.
#define NBUCKETS 24

#define PEER_FLAG_OVERFLOW 1

// Indexes of the drops per-CPU array; bpf2go generates the Go constants
// (-type drop_reason), so the loader reads them by name, not by position.
enum drop_reason {
	DROP_PEER_MAP_FULL = 0,    // peers full: event not counted
	DROP_PEER_OVERFLOW = 1,    // cgroup over max_peers: event folded into overflow peer
	DROP_SOCK_MAP_FULL = 2,    // socks full: socket not tracked (state gauge, connect latency, server key)
	DROP_CGROUP_MAP_FULL = 3,  // cgroup_peers full: event folded into overflow peer
	DROP_CGROUP_PATH_LOST = 4, // new_cgroups full, or path too long: attributed after user space's next walk
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

// Per-socket tracking (see sock_find): one slot per socket seen entering a
// state since load. User space counts open connections by state from it.
struct sock_info {
	__u64 syn_sent_ns;  // ktime of the SYN_SENT transition, 0 if not a client
	__u64 cgroup_id;    // the socket's cgroup and network namespace
	__u32 netns;
	__u16 state;        // TCP state; 0 while the slot is being filled or freed
	__u16 flags;        // SOCK_FLAG_*
};

// SOCK_FLAG_PASSIVE marks a connection a listener accepted (born LISTEN ->
// SYN_RECV). The kernel clears SOCK_BINDPORT_LOCK on accepted sockets
// (sk_clone_lock), so this flag is what tells a server's connection from a
// client's and keeps the client's ephemeral port out of the key.
#define SOCK_FLAG_PASSIVE 1

#define SOCK_WAYS 4

// A bucket of SOCK_WAYS slots: the keys first (one cache line holds the
// keys of a bucket and the first slot's info), then the infos.
struct sock_bucket {
	__u64 sk[SOCK_WAYS];  // struct sock pointer (see sock_scalar); 0: free
	struct sock_info info[SOCK_WAYS];
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

// The per-socket table is an array of buckets, not a BPF hash map: it is
// written on every TCP state change (about ten per connection), and a hash
// map insert or delete (bucket lock, element allocation) cost ~200 ns and a
// lookup ~80 ns here, a third of the programs' run time per connection; a
// slot in an array costs a few loads and one compare-and-swap. A socket
// lives in one of two buckets chosen by two hashes of its pointer
// (two-choice hashing), so with the loader's sizing (twice as many slots as
// max_sockets) a full bucket pair is rare before the table holds
// max_sockets sockets; a socket that finds no free slot is not tracked and
// counted (DROP_SOCK_MAP_FULL). Each slot also carries the socket's state,
// cgroup and netns: user space counts open connections by state from the
// table (memory-mapped where the kernel allows), so the programs keep no
// per-state counters (a per-CPU hash lookup per transition, ~50 ns, before).
// max_entries (a power of two) is set by the loader, sock_bucket_mask with
// it. Hand-rolled on purpose: measured 2.9 -> 1.5 us per connection.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct sock_bucket);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

// CGROUP_PATH_MAX bounds a recorded cgroup path, NUL included. Kubelet
// container paths (systemd driver) are about 180 bytes.
#define CGROUP_PATH_MAX 256

struct cgroup_path {
	char path[CGROUP_PATH_MAX];  // relative to the cgroup v2 root, NUL-terminated
};

// new_cgroups holds the cgroup v2 directories created since user space last
// drained it (cgroup id -> path). Creating a cgroup is rare next to packets,
// so the map is small; a full map is counted (DROP_CGROUP_PATH_LOST) and
// user space's walk of the hierarchy finds the cgroup later.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct cgroup_path);
} new_cgroups SEC(".maps");

// path_scratch holds the path being recorded (too big for the stack).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgroup_path);
} path_scratch SEC(".maps");

// max_peers_per_cgroup and sock_bucket_mask (buckets of socks - 1) are set
// by the loader before loading.
volatile const __u32 max_peers_per_cgroup = 256;
volatile const __u32 sock_bucket_mask = 1023;

// Force BTF for the types user space decodes (bpf2go -type).
const struct peer_key *unused_peer_key __attribute__((unused));
const struct peer_stats *unused_peer_stats __attribute__((unused));
const struct sock_bucket *unused_sock_bucket __attribute__((unused));
const struct cgroup_path *unused_cgroup_path __attribute__((unused));
const enum drop_reason *unused_drop_reason __attribute__((unused));

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

// A per-CPU scratch word: see sock_scalar.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} scratch SEC(".maps");

// sock_scalar returns the address of sk as a number, for hashing. In a
// tp_btf program sk is a typed pointer and the verifier refuses arithmetic
// on it; a round trip through map memory (where the verifier does not track
// pointers) turns it into a scalar for the price of two plain accesses.
// Storing a kernel address in a map needs CAP_PERFMON, which loading these
// programs needs anyway. (bpf_get_socket_cookie would do too, but cost ~75 ns
// per call here; bpf_probe_read_kernel is a helper call.)
static __always_inline __u64 sock_scalar(const struct sock *sk)
{
	__u32 zero = 0;
	__u64 *w = bpf_map_lookup_elem(&scratch, &zero);
	if (!w)
		return 0;
	// volatile: the compiler must not forward the store to the load.
	*(volatile __u64 *)w = (__u64)sk;
	return *(volatile __u64 *)w;
}

// sock_buckets returns the two candidate buckets of socket pointer skp.
// Slab pointers share their low bits, so both indexes come from the high
// bits of a multiplicative hash (two different odd constants).
static __always_inline int sock_buckets(__u64 skp, struct sock_bucket **b1, struct sock_bucket **b2)
{
	__u32 i1 = (__u32)((skp * 0x9E3779B97F4A7C15ULL) >> 32) & sock_bucket_mask;
	__u32 i2 = (__u32)((skp * 0xBF58476D1CE4E5B9ULL) >> 32) & sock_bucket_mask;
	*b1 = bpf_map_lookup_elem(&socks, &i1);
	*b2 = bpf_map_lookup_elem(&socks, &i2);
	return *b1 && *b2 ? 0 : -1;
}

// sock_find returns the index of socket skp's slot in *b, or -1 if it is
// not tracked. Only the socket's own transitions (serialized by the socket
// lock) claim, update or free its slot; other sockets only compare keys.
static __always_inline int sock_find(__u64 skp, struct sock_bucket **b)
{
	struct sock_bucket *b1, *b2;
	if (sock_buckets(skp, &b1, &b2) != 0)
		return -1;
	*b = b1;
#pragma unroll
	for (int i = 0; i < SOCK_WAYS; i++)
		if (b1->sk[i] == skp)
			return i;
	*b = b2;
#pragma unroll
	for (int i = 0; i < SOCK_WAYS; i++)
		if (b2->sk[i] == skp)
			return i;
	return -1;
}

// sock_claim_in claims a free slot of b for skp with a compare-and-swap
// (sockets on other CPUs may claim the same slot at the same time).
static __always_inline int sock_claim_in(struct sock_bucket *b, __u64 skp)
{
#pragma unroll
	for (int i = 0; i < SOCK_WAYS; i++)
		if (b->sk[i] == 0 && __sync_val_compare_and_swap(&b->sk[i], 0, skp) == 0)
			return i;
	return -1;
}

static __always_inline int bucket_used(const struct sock_bucket *b)
{
	int n = 0;
#pragma unroll
	for (int i = 0; i < SOCK_WAYS; i++)
		n += b->sk[i] != 0;
	return n;
}

// sock_set_state publishes a slot's state. The state is written last when a
// slot is filled and first when it is freed, so that user space, reading
// the table while it changes, skips slots in between (state 0).
static __always_inline void sock_set_state(struct sock_info *info, __u16 state)
{
	*(volatile __u16 *)&info->state = state;
}

// sock_track starts tracking socket skp (a socket entering its first state)
// in state `state`; it returns 0, or -1 (counted) when both its buckets are
// full. A slot left by an earlier socket at the same address (freed without
// a transition to CLOSE) is reused.
static __always_inline int sock_track(__u64 skp, __u64 syn_sent_ns, __u64 cgroup_id, __u32 netns, __u16 state, __u16 flags)
{
	struct sock_bucket *b1, *b2, *b;
	int i = -1;
	if (sock_buckets(skp, &b1, &b2) != 0)
		return -1;
	b = b1;
#pragma unroll
	for (int j = 0; j < SOCK_WAYS; j++)
		if (b1->sk[j] == skp)
			i = j;
	if (i < 0) {
		b = b2;
#pragma unroll
		for (int j = 0; j < SOCK_WAYS; j++)
			if (b2->sk[j] == skp)
				i = j;
	}
	if (i < 0) {
		// The less used bucket first, then the other.
		struct sock_bucket *first = b1, *second = b2;
		if (bucket_used(b2) < bucket_used(b1)) {
			first = b2;
			second = b1;
		}
		b = first;
		i = sock_claim_in(first, skp);
		if (i < 0) {
			b = second;
			i = sock_claim_in(second, skp);
		}
	}
	if (i < 0 || i >= SOCK_WAYS) {
		count_drop(DROP_SOCK_MAP_FULL);
		return -1;
	}
	struct sock_info *info = &b->info[i];
	sock_set_state(info, 0);
	info->syn_sent_ns = syn_sent_ns;
	info->cgroup_id = cgroup_id;
	info->netns = netns;
	info->flags = flags;
	sock_set_state(info, state);
	return 0;
}

static __always_inline void add_histogram(__u64 *buckets, __u64 v)
{
	__u32 b = log2_bucket(v);
	if (b < NBUCKETS)
		__sync_fetch_and_add(&buckets[b], 1);
}

// ---- Reading kernel fields --------------------------------------------------
//
// Every handler below is written once and takes `btf`, a compile-time
// constant set by its entry point: true in tp_btf programs, whose context
// pointers are BTF-typed, so that fields are read with plain loads (the
// verifier turns them into fault-safe loads; no helper call per field);
// false in raw_tp programs, which must read every field through
// bpf_probe_read_kernel (BPF_CORE_READ). The handlers are always inlined
// into their entry point, so the compiler drops the branch not taken.
// KREAD(btf, p, a, b, ...) reads p->a->b->... either way.
#define ARROW_N(_1, _2, _3, _4, N, ...) N
#define ARROW2(a, b) ((a)->b)
#define ARROW3(a, b, c) ((a)->b->c)
#define ARROW4(a, b, c, d) ((a)->b->c->d)
#define ARROW(...) ARROW_N(__VA_ARGS__, ARROW4, ARROW3, ARROW2, unused)(__VA_ARGS__)
#define KREAD(btf, ...) ((btf) ? ARROW(__VA_ARGS__) : BPF_CORE_READ(__VA_ARGS__))

#include "tcpstats_hooks.h"
