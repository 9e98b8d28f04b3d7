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
	__u32 state;
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct state_key);
	__type(value, __s64);
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

static __always_inline int is_fullsock(const struct sock *sk)
{
	unsigned char state = BPF_CORE_READ(sk, __sk_common.skc_state);
	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	if (!is_fullsock(sk))
		return 0;
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

// fill_remote fills family, remote address and ports of key from the socket
// fields shared by full, request and timewait sockets. bound tells whether
// the local port was bound explicitly (listener or accepted connection).
static __always_inline int fill_from_common(struct peer_key *key, const struct sock_common *skc, int bound)
{
	__u16 family = BPF_CORE_READ(skc, skc_family);
	if (family == AF_INET) {
		__be32 daddr = BPF_CORE_READ(skc, skc_daddr);
		__builtin_memcpy(key->remote_addr, &daddr, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&key->remote_addr, skc, skc_v6_daddr.in6_u.u6_addr8);
	} else {
		return -1;
	}
	key->family = family;
	if (bound)
		key->local_port = BPF_CORE_READ(skc, skc_num);
	else
		key->remote_port = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	return 0;
}

static __always_inline int fill_from_sock(struct peer_key *key, const struct sock *sk)
{
	int bound = 0;
	key->cgroup_id = sock_cgroup_id(sk);
	key->netns = sock_netns(sk);
	if (is_fullsock(sk))
		bound = BPF_CORE_READ(sk, sk_userlocks) & SOCK_BINDPORT_LOCK;
	return fill_from_common(key, &sk->__sk_common, bound);
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

static __always_inline void record_rtt(struct peer_stats *st, const struct sock *sk)
{
	// srtt_us holds 8 x the smoothed RTT in microseconds.
	__u32 srtt = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3;
	if (srtt == 0)
		return;
	__sync_fetch_and_add(&st->rtt_sum_us, srtt);
	__sync_fetch_and_add(&st->rtt_count, 1);
	__u32 b = log2_bucket(srtt);
	if (b < NBUCKETS)
		__sync_fetch_and_add(&st->rtt_buckets[b], 1);
}

static __always_inline void state_add(const struct sock *sk, __u32 state, __s64 delta)
{
	struct state_key k = {};
	k.cgroup_id = sock_cgroup_id(sk);
	k.netns = sock_netns(sk);
	k.state = state;
	__s64 *v = bpf_map_lookup_elem(&conn_states, &k);
	if (!v) {
		__s64 z = 0;
		if (bpf_map_update_elem(&conn_states, &k, &z, BPF_NOEXIST) != 0 &&
		    !(v = bpf_map_lookup_elem(&conn_states, &k))) {
			count_drop(DROP_STATE_MAP_FULL);
			return;
		}
		if (!v)
			v = bpf_map_lookup_elem(&conn_states, &k);
		if (!v)
			return;
	}
	__sync_fetch_and_add(v, delta);
}

// ---- handlers -------------------------------------------------------------

// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, int err)
static __always_inline int on_retransmit_skb(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct peer_key key = {};
	struct tcp_skb_cb cb;

	if (!sk || !skb || fill_from_sock(&key, sk) != 0)
		return 0;
	// Count segments like TCP_MIB_RETRANSSEGS does: tcp_skb_pcount(skb),
	// i.e. TCP_SKB_CB(skb)->tcp_gso_segs, which is > 1 for TSO/GSO skbs.
	if (bpf_probe_read_kernel(&cb, sizeof(cb), &skb->cb) != 0)
		return 0;
	__u64 segs = cb.tcp_gso_segs;
	if (segs == 0)
		segs = 1;
	struct peer_stats *st = peer_lookup(&key);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->retrans_segs, segs);
	record_rtt(st, sk);
	return 0;
}

// tcp_retransmit_synack(const struct sock *sk, const struct request_sock *req)
static __always_inline int on_retransmit_synack(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct request_sock *req = (const struct request_sock *)ctx[1];
	struct peer_key key = {};

	if (!sk || !req)
		return 0;
	key.cgroup_id = sock_cgroup_id(sk);
	key.netns = sock_netns(sk);
	// The listener's port is bound; the request carries the peer's address.
	if (fill_from_common(&key, &req->__req_common, 1) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->retrans_segs, 1);  // one SYN-ACK, as TCP_MIB_RETRANSSEGS
	return 0;
}

// tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, enum sk_rst_reason reason)
// sk is NULL for a reset that answers a segment without a socket (closed
// port); then the peer comes from the segment that triggered the reset.
static __always_inline int on_send_reset(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct peer_key key = {};

	if (sk) {
		if (fill_from_sock(&key, sk) != 0)
			return 0;
	} else {
		if (!skb)
			return 0;
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u16 nh = BPF_CORE_READ(skb, network_header);
		__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
		key.netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
		if (proto == ETH_P_IP) {
			struct iphdr iph;
			if (bpf_probe_read_kernel(&iph, sizeof(iph), head + nh) != 0)
				return 0;
			key.family = AF_INET;
			__builtin_memcpy(key.remote_addr, &iph.saddr, 4);
		} else if (proto == ETH_P_IPV6) {
			struct ipv6hdr ip6h;
			if (bpf_probe_read_kernel(&ip6h, sizeof(ip6h), head + nh) != 0)
				return 0;
			key.family = AF_INET6;
			__builtin_memcpy(key.remote_addr, &ip6h.saddr, 16);
		} else {
			return 0;
		}
		// Ports are left out: the local port is closed (unbounded for a
		// scan) and the remote one is ephemeral.
	}
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->resets_sent, 1);
	return 0;
}

// tcp_receive_reset(struct sock *sk)
static __always_inline int on_receive_reset(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	struct peer_key key = {};

	if (!sk || fill_from_sock(&key, sk) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->resets_received, 1);
	return 0;
}

// inet_sock_set_state(const struct sock *sk, const int oldstate, const int newstate)
static __always_inline int on_set_state(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];
	__u64 skp = (__u64)sk;
	struct sock_info *info;

	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (oldstate < 0 || oldstate >= TCP_MAX_STATES || newstate < 0 || newstate >= TCP_MAX_STATES)
		return 0;

	// Open connections by state: only sockets seen entering a state since
	// load are tracked, so that sockets older than the receiver never drive
	// a gauge negative.
	info = bpf_map_lookup_elem(&socks, &skp);
	if (info && oldstate != TCP_CLOSE)
		state_add(sk, oldstate, -1);
	if (newstate != TCP_CLOSE) {
		if (!info) {
			struct sock_info z = {};
			if (bpf_map_update_elem(&socks, &skp, &z, BPF_ANY) == 0)
				info = bpf_map_lookup_elem(&socks, &skp);
			else
				count_drop(DROP_SOCK_MAP_FULL);
		}
		if (info)
			state_add(sk, newstate, 1);
	}

	__u64 syn_ns = 0;
	if (info) {
		syn_ns = info->syn_sent_ns;
		if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT)
			info->syn_sent_ns = bpf_ktime_get_ns();
	}
	if (newstate == TCP_CLOSE && info)
		bpf_map_delete_elem(&socks, &skp);

	int attempt = oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT;
	int success = oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED;
	int failure = oldstate == TCP_SYN_SENT && newstate == TCP_CLOSE;
	int rtt = success || oldstate == TCP_ESTABLISHED;
	if (!attempt && !success && !failure && !rtt)
		return 0;

	struct peer_key key = {};
	if (fill_from_sock(&key, sk) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (!st)
		return 0;
	if (attempt)
		__sync_fetch_and_add(&st->connect_attempts, 1);
	if (failure)
		__sync_fetch_and_add(&st->connect_failures, 1);
	if (success) {
		__sync_fetch_and_add(&st->connect_successes, 1);
		if (syn_ns) {
			__u64 d = bpf_ktime_get_ns() - syn_ns;
			__sync_fetch_and_add(&st->connect_sum_ns, d);
			__u32 b = log2_bucket(d / 1000);
			if (b < NBUCKETS)
				__sync_fetch_and_add(&st->connect_buckets[b], 1);
		}
	}
	if (rtt)
		record_rtt(st, sk);
	return 0;
}

// Each handler is compiled twice: as tp_btf (preferred) and as raw_tp (the
// fallback where BTF-typed tracing programs are refused). The loader loads
// and attaches one of the two per hook and records which.
#define HOOK(tp, fn)                                         \
	SEC("tp_btf/" #tp) int btf_##tp(__u64 *ctx) { return fn(ctx); } \
	SEC("raw_tp/" #tp) int raw_##tp(__u64 *ctx) { return fn(ctx); }

HOOK(tcp_retransmit_skb, on_retransmit_skb)
HOOK(tcp_retransmit_synack, on_retransmit_synack)
HOOK(tcp_send_reset, on_send_reset)
HOOK(tcp_receive_reset, on_receive_reset)
HOOK(inet_sock_set_state, on_set_state)
