// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// tcpstats_hooks.h holds the tracepoint handlers of tcpstats.c. It is
// included twice, with PFX (name prefix), SECPFX (section prefix) and RD
// (field read) defined for tp_btf and for raw_tp; see tcpstats.c.

// Socket identity read once per event.
struct PFX(sock_id) {
	__u64 cgroup_id;
	__u32 netns;
	__u32 full;  // full socket (not timewait / request)
};

static __always_inline struct PFX(sock_id) PFX(sock_identity)(const struct sock *sk)
{
	struct PFX(sock_id) id = {};
	unsigned char state = RD(sk, __sk_common.skc_state);
	id.full = state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
	// sk_cgrp_data exists only in full sockets: cgroup v2 id of the
	// socket's creator (kernfs node id == inode of the cgroup directory).
	if (id.full)
		id.cgroup_id = RD(sk, sk_cgrp_data.cgroup, kn, id);
	id.netns = RD(sk, __sk_common.skc_net.net, ns.inum);
	return id;
}

// fill_from_common fills family, remote address and port choice of key from
// the fields full, request and timewait sockets share. bound tells whether
// the local port was bound explicitly (listener or accepted connection).
static __always_inline int PFX(fill_from_common)(struct peer_key *key, const struct sock_common *skc, int bound)
{
	__u16 family = RD(skc, skc_family);
	if (family == AF_INET) {
		__be32 daddr = RD(skc, skc_daddr);
		__builtin_memcpy(key->remote_addr, &daddr, 4);
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(key->remote_addr, 16, &skc->skc_v6_daddr);
	} else {
		return -1;
	}
	key->family = family;
	if (bound)
		key->local_port = RD(skc, skc_num);
	else
		key->remote_port = bpf_ntohs(RD(skc, skc_dport));
	return 0;
}

static __always_inline int PFX(fill_from_sock)(struct peer_key *key, const struct sock *sk, struct PFX(sock_id) *id)
{
	int bound = 0;
	key->cgroup_id = id->cgroup_id;
	key->netns = id->netns;
	if (id->full)
		bound = RD(sk, sk_userlocks) & SOCK_BINDPORT_LOCK;
	return PFX(fill_from_common)(key, &sk->__sk_common, bound);
}

static __always_inline void PFX(record_rtt)(struct peer_stats *st, const struct sock *sk)
{
	// srtt_us holds 8 x the smoothed RTT in microseconds. The verifier does
	// not let a tp_btf program cast its struct sock to struct tcp_sock;
	// bpf_skc_to_tcp_sock does (a cheap type check, where
	// bpf_probe_read_kernel is a fault-safe copy). raw_tp programs may not
	// call it and copy the field.
	__u32 srtt = 0;
#if HOOKS_TP_BTF
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp)
		srtt = tp->srtt_us;
#else
	bpf_probe_read_kernel(&srtt, sizeof(srtt), &((const struct tcp_sock *)sk)->srtt_us);
#endif
	srtt >>= 3;
	if (srtt == 0)
		return;
	__sync_fetch_and_add(&st->rtt_sum_us, srtt);
	__sync_fetch_and_add(&st->rtt_count, 1);
	add_histogram(st->rtt_buckets, srtt);
}

// on_retransmit_skb counts a retransmitted skb's segments like
// TCP_MIB_RETRANSSEGS does: tcp_skb_pcount(skb), i.e.
// TCP_SKB_CB(skb)->tcp_gso_segs, which is > 1 for TSO/GSO skbs.
//
// Since Linux 6.17 the tracepoint also fires, with err set, for attempts
// that bail out before the segment is counted and sent (-EBUSY: still in the
// host queue, -EAGAIN, -ENOMEM, -EINVAL, -EHOSTUNREACH); those are skipped.
// A transmit error after counting (-ENOBUFS from the qdisc) is counted, as
// the kernel does. Before 6.17 it fired for successful retransmits only.
static __always_inline int PFX(on_retransmit_skb)(__u64 *ctx, int err)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct peer_key key = {};
	struct tcp_skb_cb cb;

	if (!sk || !skb || (err != 0 && err != -ENOBUFS))
		return 0;
	struct PFX(sock_id) id = PFX(sock_identity)(sk);
	if (PFX(fill_from_sock)(&key, sk, &id) != 0)
		return 0;
	if (bpf_probe_read_kernel(&cb, sizeof(cb), &skb->cb) != 0)
		return 0;
	__u64 segs = cb.tcp_gso_segs;
	if (segs == 0)
		segs = 1;
	struct peer_stats *st = peer_lookup(&key);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->retrans_segs, segs);
	PFX(record_rtt)(st, sk);
	return 0;
}


// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, int err), 6.17+
SEC(SECPFX "tcp_retransmit_skb")
int PFX(tcp_retransmit_skb)(__u64 *ctx)
{
	return PFX(on_retransmit_skb)(ctx, (int)ctx[2]);
}

// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb), before
// 6.17 (the loader tries it when the three-argument program is refused).
SEC(SECPFX "tcp_retransmit_skb")
int PFX(tcp_retransmit_skb_noerr)(__u64 *ctx)
{
	return PFX(on_retransmit_skb)(ctx, 0);
}

// tcp_retransmit_synack(const struct sock *sk, const struct request_sock *req)
SEC(SECPFX "tcp_retransmit_synack")
int PFX(tcp_retransmit_synack)(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct request_sock *req = (const struct request_sock *)ctx[1];
	struct peer_key key = {};

	if (!sk || !req)
		return 0;
	struct PFX(sock_id) id = PFX(sock_identity)(sk);
	key.cgroup_id = id.cgroup_id;
	key.netns = id.netns;
	// The listener's port is bound; the request carries the peer's address.
	if (PFX(fill_from_common)(&key, &req->__req_common, 1) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->retrans_segs, 1);  // one SYN-ACK, as TCP_MIB_RETRANSSEGS
	return 0;
}

// tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, enum sk_rst_reason reason)
// sk is NULL for a reset that answers a segment without a socket (closed
// port); then the peer comes from the segment that triggered the reset.
SEC(SECPFX "tcp_send_reset")
int PFX(tcp_send_reset)(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct peer_key key = {};

	if (sk) {
		struct PFX(sock_id) id = PFX(sock_identity)(sk);
		if (PFX(fill_from_sock)(&key, sk, &id) != 0)
			return 0;
	} else {
		if (!skb)
			return 0;
		unsigned char *head = RD(skb, head);
		__u16 nh = RD(skb, network_header);
		__u16 proto = bpf_ntohs(RD(skb, protocol));
		key.netns = RD(skb, dev, nd_net.net, ns.inum);
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
SEC(SECPFX "tcp_receive_reset")
int PFX(tcp_receive_reset)(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	struct peer_key key = {};

	if (!sk)
		return 0;
	struct PFX(sock_id) id = PFX(sock_identity)(sk);
	if (PFX(fill_from_sock)(&key, sk, &id) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->resets_received, 1);
	return 0;
}

// inet_sock_set_state(const struct sock *sk, const int oldstate, const int newstate)
SEC(SECPFX "inet_sock_set_state")
int PFX(inet_sock_set_state)(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];

	if (!sk || RD(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (oldstate < 0 || oldstate >= TCP_MAX_STATES || newstate < 0 || newstate >= TCP_MAX_STATES)
		return 0;
	// Open connections by state: every socket seen entering a state since
	// load has a slot in socks with its state, cgroup and netns; user space
	// counts the slots by state. Sockets older than the receiver are
	// tracked from their first transition on. One table operation per
	// transition: a claim when a socket is born (leaves CLOSE, or is a
	// listener's new child: LISTEN -> SYN_RECV), a lookup otherwise, and
	// the slot freed when the socket enters CLOSE. The socket's cgroup and
	// netns are read only at birth and for the peer counters below.
	__u64 skp = sock_scalar(sk);
	if (!skp)
		return 0;
	int attempt = oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT;
	int success = oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED;
	int failure = oldstate == TCP_SYN_SENT && newstate == TCP_CLOSE;
	int rtt = success || oldstate == TCP_ESTABLISHED;
	int peer = attempt || success || failure || rtt;
	struct PFX(sock_id) id = {};
	__u64 syn_ns = 0;
	if (newstate != TCP_CLOSE && (oldstate == TCP_CLOSE || (oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV))) {
		id = PFX(sock_identity)(sk);
		__u64 now = attempt ? bpf_ktime_get_ns() : 0;
		sock_track(skp, now, id.cgroup_id, id.netns, newstate);
	} else {
		struct sock_bucket *b = NULL;
		int i = sock_find(skp, &b);
		if (b && i >= 0 && i < SOCK_WAYS) {
			struct sock_info *info = &b->info[i];
			if (newstate == TCP_CLOSE) {
				sock_set_state(info, 0);
				*(volatile __u64 *)&b->sk[i] = 0;
			} else {
				if (success)
					syn_ns = info->syn_sent_ns;
				sock_set_state(info, newstate);
			}
			if (peer)
				id = PFX(sock_identity)(sk);
		} else {
			// Not tracked: a socket older than the receiver, seen for
			// the first time (tracked from its new state on), or one
			// that found no free slot.
			id = PFX(sock_identity)(sk);
			if (newstate != TCP_CLOSE)
				sock_track(skp, 0, id.cgroup_id, id.netns, newstate);
		}
	}
	if (!peer)
		return 0;

	struct peer_key key = {};
	if (PFX(fill_from_sock)(&key, sk, &id) != 0)
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
			add_histogram(st->connect_buckets, d / 1000);
		}
	}
	if (rtt)
		PFX(record_rtt)(st, sk);
	return 0;
}
