// Copyright The Vigil Authors
// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
//
// tcpstats_hooks.h holds the tracepoint handlers of tcpstats.c (included once,
// at its end) and their entry points. Each handler is written once and takes
// `btf` (see KREAD in tcpstats.c); the entry points at the end of this file
// instantiate it as a tp_btf program (btf_<hook>) and a raw_tp program
// (raw_<hook>). The loader attaches one of the two per hook.

// Socket identity read once per event.
struct sock_id {
	__u64 cgroup_id;
	__u32 netns;
	__u32 full;  // full socket (not timewait / request)
};

static __always_inline struct sock_id sock_identity(const struct sock *sk, const bool btf)
{
	struct sock_id id = {};
	unsigned char state = KREAD(btf, sk, __sk_common.skc_state);
	id.full = state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
	// sk_cgrp_data exists only in full sockets: cgroup v2 id of the
	// socket's creator (kernfs node id == inode of the cgroup directory).
	if (id.full)
		id.cgroup_id = KREAD(btf, sk, sk_cgrp_data.cgroup, kn, id);
	id.netns = KREAD(btf, sk, __sk_common.skc_net.net, ns.inum);
	return id;
}

// sock_is_passive tells whether full socket sk is a connection a listener
// accepted: from its slot in the socket table (SOCK_FLAG_PASSIVE), else
// (a socket accepted before the programs were loaded, one that found no
// free slot, or one already in CLOSE, whose slot is freed: an abort's
// reset) from sk_max_ack_backlog, which an accepted socket copies from its
// listener (sk_clone_lock) and a client, never listening, leaves at 0. The
// fallback misses the children of a listen(fd, 0) listener.
static __always_inline int sock_is_passive(const struct sock *sk, const bool btf)
{
	struct sock_bucket *b = NULL;
	int i = sock_find(sock_scalar(sk), &b);
	if (b && i >= 0 && i < SOCK_WAYS)
		return b->info[i].flags & SOCK_FLAG_PASSIVE;
	return KREAD(btf, sk, sk_max_ack_backlog) != 0;
}

// fill_from_common fills family, remote address and port choice of key from
// the fields full, request and timewait sockets share. server tells whether
// the local port identifies the service (listener, accepted connection or
// explicitly bound socket): then it is kept and the remote port dropped.
static __always_inline int fill_from_common(struct peer_key *key, const struct sock_common *skc, int server, const bool btf)
{
	__u16 family = KREAD(btf, skc, skc_family);
	if (family == AF_INET) {
		__be32 daddr = KREAD(btf, skc, skc_daddr);
		__builtin_memcpy(key->remote_addr, &daddr, 4);
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(key->remote_addr, 16, &skc->skc_v6_daddr);
	} else {
		return -1;
	}
	key->family = family;
	if (server)
		key->local_port = KREAD(btf, skc, skc_num);
	else
		key->remote_port = bpf_ntohs(KREAD(btf, skc, skc_dport));
	return 0;
}

// fill_from_sock fills key for socket sk. passive: sk is known to be an
// accepted connection (the caller looked it up, or -1: look it up here).
static __always_inline int fill_from_sock(struct peer_key *key, const struct sock *sk, const struct sock_id *id, int passive, const bool btf)
{
	int server = 0;
	key->cgroup_id = id->cgroup_id;
	key->netns = id->netns;
	if (id->full) {
		if (passive < 0)
			passive = sock_is_passive(sk, btf);
		server = passive || (KREAD(btf, sk, sk_userlocks) & SOCK_BINDPORT_LOCK);
	}
	if (fill_from_common(key, &sk->__sk_common, server, btf) != 0)
		return -1;
	if (server && key->local_port == 0 && id->full) {
		// A socket entering CLOSE gives its port back (inet_put_port
		// zeroes skc_num) before an abort sends its reset; the port
		// is still in inet_sport.
		__be16 sport = 0;
		if (btf) {
			const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
			if (tp)
				sport = tp->inet_conn.icsk_inet.inet_sport;
		} else {
			bpf_probe_read_kernel(&sport, sizeof(sport), &((const struct tcp_sock *)sk)->inet_conn.icsk_inet.inet_sport);
		}
		key->local_port = bpf_ntohs(sport);
	}
	return 0;
}

// fill_peer_from_packet fills family and remote address of key from the
// source address of the IPv4/IPv6 packet in skb (a segment being answered).
static __always_inline int fill_peer_from_packet(struct peer_key *key, const struct sk_buff *skb, const bool btf)
{
	unsigned char *head = KREAD(btf, skb, head);
	__u16 nh = KREAD(btf, skb, network_header);
	__u16 proto = bpf_ntohs(KREAD(btf, skb, protocol));
	if (proto == ETH_P_IP) {
		struct iphdr iph;
		if (bpf_probe_read_kernel(&iph, sizeof(iph), head + nh) != 0)
			return -1;
		key->family = AF_INET;
		__builtin_memcpy(key->remote_addr, &iph.saddr, 4);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6h;
		if (bpf_probe_read_kernel(&ip6h, sizeof(ip6h), head + nh) != 0)
			return -1;
		key->family = AF_INET6;
		__builtin_memcpy(key->remote_addr, &ip6h.saddr, 16);
	} else {
		return -1;
	}
	return 0;
}

static __always_inline void record_rtt(struct peer_stats *st, const struct sock *sk, const bool btf)
{
	// srtt_us holds 8 x the smoothed RTT in microseconds. The verifier does
	// not let a tp_btf program cast its struct sock to struct tcp_sock;
	// bpf_skc_to_tcp_sock does (a cheap type check, where
	// bpf_probe_read_kernel is a fault-safe copy). raw_tp programs may not
	// call it and copy the field.
	__u32 srtt = 0;
	if (btf) {
		const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
		if (tp)
			srtt = tp->srtt_us;
	} else {
		bpf_probe_read_kernel(&srtt, sizeof(srtt), &((const struct tcp_sock *)sk)->srtt_us);
	}
	srtt >>= 3;
	if (srtt == 0)
		return;
	__sync_fetch_and_add(&st->rtt_sum_us, srtt);
	__sync_fetch_and_add(&st->rtt_count, 1);
	add_histogram(st->rtt_buckets, srtt);
}

// retransmit_counted tells whether the kernel counted a retransmit that
// reports err in TCP_MIB_RETRANSSEGS (TcpRetransSegs). Since Linux 6.17 the
// tracepoint fires for every attempt, from one exit of
// __tcp_retransmit_skb:
//   - before the segment is counted, the attempt bails out with -EBUSY
//     (still in the host queue), -EINVAL, -ENOMEM (trimming, fragmenting or
//     uncloning failed), -EHOSTUNREACH (rebuild_header: no route) or
//     -EAGAIN (zero window);
//   - after it is counted, err is what transmitting it returned: 0, a
//     positive NET_XMIT_* code (NET_XMIT_DROP: a qdisc or a tc/TCX program
//     dropped it), or a negative errno of the output path (-ENOBUFS, -EPERM
//     from a netfilter drop, ...). The kernel counts those segments as
//     retransmitted (and in TCPRetransFail), and so do we.
// Two codes exist on both sides: -ENOMEM (ip_finish_output2 failing to grow
// the headroom) and -EHOSTUNREACH (the route vanishing between
// rebuild_header and ip_queue_xmit). Both are taken as "not counted": they
// are the early exits' codes, and the late cases need a memory failure or a
// route change within one function call. A retransmit that hits one of the
// late cases is missed (the kernel's TCPRetransFail still shows it).
// Before 6.17 the tracepoint fired for successful retransmits only (err 0).
static __always_inline int retransmit_counted(int err)
{
	switch (err) {
	case -EBUSY:
	case -EINVAL:
	case -ENOMEM:
	case -EHOSTUNREACH:
	case -EAGAIN:
		return 0;
	default:
		return 1;
	}
}

// on_retransmit_skb counts a retransmitted skb's segments like
// TCP_MIB_RETRANSSEGS does: tcp_skb_pcount(skb), i.e.
// TCP_SKB_CB(skb)->tcp_gso_segs, which is > 1 for TSO/GSO skbs.
static __always_inline int on_retransmit_skb(__u64 *ctx, int err, const bool btf)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct peer_key key = {};
	struct tcp_skb_cb cb;

	if (!sk || !skb || !retransmit_counted(err))
		return 0;
	struct sock_id id = sock_identity(sk, btf);
	if (fill_from_sock(&key, sk, &id, -1, btf) != 0)
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
	record_rtt(st, sk, btf);
	return 0;
}

// tcp_retransmit_synack(const struct sock *sk, const struct request_sock *req)
// fires only for a SYN-ACK that was sent, which the kernel counts once in
// TCP_MIB_RETRANSSEGS.
static __always_inline int on_retransmit_synack(__u64 *ctx, const bool btf)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct request_sock *req = (const struct request_sock *)ctx[1];
	struct peer_key key = {};

	if (!sk || !req)
		return 0;
	struct sock_id id = sock_identity(sk, btf);
	key.cgroup_id = id.cgroup_id;
	key.netns = id.netns;
	// The listener's port identifies the service; the request carries the
	// peer's address.
	if (fill_from_common(&key, &req->__req_common, 1, btf) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->retrans_segs, 1);
	return 0;
}

// tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, enum sk_rst_reason reason)
// sk is NULL for a reset that answers a segment without a socket (closed
// port), and the listener for one that answers a segment no request
// matches (an ACK to a listening port): in both cases the peer comes from
// the segment that triggered the reset. A listener's reset keeps the
// listening port; without a socket, ports are left out (the local port is
// closed, unbounded for a scan, and the remote one is ephemeral).
static __always_inline int on_send_reset(__u64 *ctx, const bool btf)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	const struct sk_buff *skb = (const struct sk_buff *)ctx[1];
	struct peer_key key = {};

	if (sk && KREAD(btf, sk, __sk_common.skc_state) != TCP_LISTEN) {
		struct sock_id id = sock_identity(sk, btf);
		if (fill_from_sock(&key, sk, &id, -1, btf) != 0)
			return 0;
	} else {
		if (!skb)
			return 0;
		if (fill_peer_from_packet(&key, skb, btf) != 0)
			return 0;
		if (sk) {
			struct sock_id id = sock_identity(sk, btf);
			key.cgroup_id = id.cgroup_id;
			key.netns = id.netns;
			key.local_port = KREAD(btf, sk, __sk_common.skc_num);
		} else {
			key.netns = KREAD(btf, skb, dev, nd_net.net, ns.inum);
		}
	}
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->resets_sent, 1);
	return 0;
}

// tcp_receive_reset(struct sock *sk)
static __always_inline int on_receive_reset(__u64 *ctx, const bool btf)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	struct peer_key key = {};

	if (!sk)
		return 0;
	struct sock_id id = sock_identity(sk, btf);
	if (fill_from_sock(&key, sk, &id, -1, btf) != 0)
		return 0;
	struct peer_stats *st = peer_lookup(&key);
	if (st)
		__sync_fetch_and_add(&st->resets_received, 1);
	return 0;
}

// inet_sock_set_state(const struct sock *sk, const int oldstate, const int newstate)
static __always_inline int on_set_state(__u64 *ctx, const bool btf)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];

	if (!sk || KREAD(btf, sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (oldstate < 0 || oldstate >= TCP_MAX_STATES || newstate < 0 || newstate >= TCP_MAX_STATES)
		return 0;
	// Open connections by state: every socket seen entering a state since
	// load has a slot in socks with its state, cgroup and netns; user space
	// counts the slots by state. Sockets older than the receiver are
	// tracked from their first transition on. One table operation per
	// transition: a claim when a socket is born (leaves CLOSE, or is a
	// listener's new child: LISTEN -> SYN_RECV, marked passive), a lookup
	// otherwise, and the slot freed when the socket enters CLOSE. The
	// socket's cgroup and netns are read only at birth and for the peer
	// counters below.
	__u64 skp = sock_scalar(sk);
	if (!skp)
		return 0;
	int attempt = oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT;
	int success = oldstate == TCP_SYN_SENT && newstate == TCP_ESTABLISHED;
	int failure = oldstate == TCP_SYN_SENT && newstate == TCP_CLOSE;
	int rtt = success || oldstate == TCP_ESTABLISHED;
	int peer = attempt || success || failure || rtt;
	int child = oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV;
	int passive = child ? 1 : -1;  // -1: fill_from_sock looks it up
	struct sock_id id = {};
	__u64 syn_ns = 0;
	if (newstate != TCP_CLOSE && (oldstate == TCP_CLOSE || child)) {
		id = sock_identity(sk, btf);
		__u64 now = attempt ? bpf_ktime_get_ns() : 0;
		sock_track(skp, now, id.cgroup_id, id.netns, newstate, child ? SOCK_FLAG_PASSIVE : 0);
	} else {
		struct sock_bucket *b = NULL;
		int i = sock_find(skp, &b);
		if (b && i >= 0 && i < SOCK_WAYS) {
			struct sock_info *info = &b->info[i];
			passive = info->flags & SOCK_FLAG_PASSIVE;
			if (newstate == TCP_CLOSE) {
				sock_set_state(info, 0);
				*(volatile __u64 *)&b->sk[i] = 0;
			} else {
				if (success)
					syn_ns = info->syn_sent_ns;
				sock_set_state(info, newstate);
			}
			if (peer)
				id = sock_identity(sk, btf);
		} else {
			// Not tracked: a socket older than the receiver, seen for
			// the first time (tracked from its new state on), or one
			// that found no free slot.
			id = sock_identity(sk, btf);
			if (newstate != TCP_CLOSE) {
				passive = id.full && KREAD(btf, sk, sk_max_ack_backlog) != 0;
				sock_track(skp, 0, id.cgroup_id, id.netns, newstate, passive ? SOCK_FLAG_PASSIVE : 0);
			}
		}
	}
	if (!peer)
		return 0;

	struct peer_key key = {};
	if (fill_from_sock(&key, sk, &id, passive, btf) != 0)
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
		record_rtt(st, sk, btf);
	return 0;
}

// cgroup_mkdir(struct cgroup *cgrp, const char *path): records the id and
// path of a new cgroup of the v2 hierarchy (hierarchy id 0; a hybrid host
// also creates cgroups in its v1 hierarchies, which sockets never carry).
// path is relative to the hierarchy's root, like user space's walk.
static __always_inline int on_cgroup_mkdir(__u64 *ctx, const bool btf)
{
	const struct cgroup *cgrp = (const struct cgroup *)ctx[0];
	const char *path = (const char *)ctx[1];

	if (!cgrp || !path || KREAD(btf, cgrp, root, hierarchy_id) != 0)
		return 0;
	__u64 id = KREAD(btf, cgrp, kn, id);
	__u32 zero = 0;
	struct cgroup_path *v = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!v)
		return 0;
	long n = bpf_probe_read_kernel_str(v->path, sizeof(v->path), path);
	// n counts the NUL: a full buffer may hold a truncated path.
	if (n <= 0 || n >= (long)sizeof(v->path) ||
	    bpf_map_update_elem(&new_cgroups, &id, v, BPF_ANY) != 0)
		count_drop(DROP_CGROUP_PATH_LOST);
	return 0;
}

// ---- Entry points ----------------------------------------------------------
//
// One tp_btf and one raw_tp program per hook (SEC names the tracepoint).

// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, int err), 6.17+
SEC("tp_btf/tcp_retransmit_skb")
int btf_tcp_retransmit_skb(__u64 *ctx) { return on_retransmit_skb(ctx, (int)ctx[2], true); }
SEC("raw_tp/tcp_retransmit_skb")
int raw_tcp_retransmit_skb(__u64 *ctx) { return on_retransmit_skb(ctx, (int)ctx[2], false); }

// tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb), before
// 6.17 (the loader tries these when the three-argument program is refused).
SEC("tp_btf/tcp_retransmit_skb")
int btf_tcp_retransmit_skb_noerr(__u64 *ctx) { return on_retransmit_skb(ctx, 0, true); }
SEC("raw_tp/tcp_retransmit_skb")
int raw_tcp_retransmit_skb_noerr(__u64 *ctx) { return on_retransmit_skb(ctx, 0, false); }

SEC("tp_btf/tcp_retransmit_synack")
int btf_tcp_retransmit_synack(__u64 *ctx) { return on_retransmit_synack(ctx, true); }
SEC("raw_tp/tcp_retransmit_synack")
int raw_tcp_retransmit_synack(__u64 *ctx) { return on_retransmit_synack(ctx, false); }

SEC("tp_btf/tcp_send_reset")
int btf_tcp_send_reset(__u64 *ctx) { return on_send_reset(ctx, true); }
SEC("raw_tp/tcp_send_reset")
int raw_tcp_send_reset(__u64 *ctx) { return on_send_reset(ctx, false); }

SEC("tp_btf/tcp_receive_reset")
int btf_tcp_receive_reset(__u64 *ctx) { return on_receive_reset(ctx, true); }
SEC("raw_tp/tcp_receive_reset")
int raw_tcp_receive_reset(__u64 *ctx) { return on_receive_reset(ctx, false); }

SEC("tp_btf/inet_sock_set_state")
int btf_inet_sock_set_state(__u64 *ctx) { return on_set_state(ctx, true); }
SEC("raw_tp/inet_sock_set_state")
int raw_inet_sock_set_state(__u64 *ctx) { return on_set_state(ctx, false); }

SEC("tp_btf/cgroup_mkdir")
int btf_cgroup_mkdir(__u64 *ctx) { return on_cgroup_mkdir(ctx, true); }
SEC("raw_tp/cgroup_mkdir")
int raw_cgroup_mkdir(__u64 *ctx) { return on_cgroup_mkdir(ctx, false); }
