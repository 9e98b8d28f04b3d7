// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Tracer owns the loaded maps, programs and links. Close releases all of them.
type Tracer struct {
	maps     *ebpf.Collection
	progs    []*ebpf.Collection
	links    []link.Link
	attached []Attachment

	peers       *ebpf.Map
	cgroupPeers *ebpf.Map
	socks       *ebpf.Map
	drops       *ebpf.Map
	newCgroups  *ebpf.Map
	// sockMem maps socks into this process, read-only (BPF_F_MMAPABLE,
	// Linux 5.5+): ReadStates reads it in place, without a system call.
	// nil: read with batch lookups. Close unmaps it.
	sockMem []byte
}

// statePair is a (cgroup, netns) pair of the connection-state gauges.
type statePair struct {
	cgroup uint64
	netns  uint32
}

// verifierLogLines is how many trailing lines of a verifier log an error
// message carries: the verdict is at the end, the full log can be megabytes.
const verifierLogLines = 8

// Load loads the programs and maps sized by cfg and attaches every hook it
// can, each on its own: tp_btf first, raw_tp as the fallback. It fails when
// the kernel cannot run the programs at all (no BTF, no permission, verifier
// rejection) or when no hook attached; Attachments tells which did.
func Load(cfg Config) (*Tracer, error) {
	cfg = cfg.withDefaults()

	if _, err := btf.LoadKernelSpec(); err != nil {
		return nil, fmt.Errorf("tcpstats: kernel BTF is not available (needs CONFIG_DEBUG_INFO_BTF=y and /sys/kernel/btf/vmlinux): %w", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permissionHint(fmt.Errorf("tcpstats: rlimit.RemoveMemlock: %w", err))
	}

	spec, err := loadTcpstats()
	if err != nil {
		return nil, fmt.Errorf("tcpstats: loading the embedded object: %w", err)
	}
	sockBuckets := sockBucketsFor(cfg.MaxSockets)
	for name, size := range map[string]uint32{
		tcpstatsMapPeers:       cfg.MaxPeers,
		tcpstatsMapCgroupPeers: cfg.MaxCgroups,
		tcpstatsMapSocks:       sockBuckets,
	} {
		spec.Maps[name].MaxEntries = size
	}
	if err := spec.Variables[tcpstatsVarMaxPeersPerCgroup].Set(cfg.MaxPeersPerCgroup); err != nil {
		return nil, fmt.Errorf("tcpstats: setting max_peers_per_cgroup: %w", err)
	}
	if err := spec.Variables[tcpstatsVarSockBucketMask].Set(sockBuckets - 1); err != nil {
		return nil, fmt.Errorf("tcpstats: setting sock_bucket_mask: %w", err)
	}
	// The object leaves the flag out so that it loads where the kernel
	// lacks it.
	mmapable := features.HaveMapFlag(features.BPF_F_MMAPABLE) == nil
	if mmapable {
		spec.Maps[tcpstatsMapSocks].Flags |= uint32(features.BPF_F_MMAPABLE)
	}

	t := &Tracer{}
	// Maps first, in a collection without programs, so that each program can
	// be loaded (and fail) on its own against the same maps.
	mapsSpec := spec.Copy()
	mapsSpec.Programs = map[string]*ebpf.ProgramSpec{}
	t.maps, err = ebpf.NewCollection(mapsSpec)
	if err != nil {
		return nil, permissionHint(fmt.Errorf("tcpstats: creating maps: %w", err))
	}
	t.peers = t.maps.Maps[tcpstatsMapPeers]
	t.cgroupPeers = t.maps.Maps[tcpstatsMapCgroupPeers]
	t.socks = t.maps.Maps[tcpstatsMapSocks]
	if mmapable {
		size := int(sockBuckets) * int(unsafe.Sizeof(RawSockBucket{}))
		if t.sockMem, err = unix.Mmap(t.socks.FD(), 0, size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
			return nil, errors.Join(fmt.Errorf("tcpstats: mapping the socket table: %w", err), t.Close())
		}
	}
	t.drops = t.maps.Maps[tcpstatsMapDrops]
	t.newCgroups = t.maps.Maps[tcpstatsMapNewCgroups]
	replacements := map[string]*ebpf.Map{}
	for name, m := range t.maps.Maps {
		if !strings.HasPrefix(name, ".") { // .rodata is per program collection
			replacements[name] = m
		}
	}

	var errs []error
	for _, hook := range Hooks {
		a := t.attach(spec, hook, cfg.Kinds, replacements)
		t.attached = append(t.attached, a)
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	if len(errs) == len(Hooks) {
		return nil, errors.Join(permissionHint(fmt.Errorf("tcpstats: no hook attached: %w", errors.Join(errs...))), t.Close())
	}
	// Loading decoded the kernel's BTF for relocations: about 10 MiB of
	// heap, garbage as soon as the programs are in the kernel. An idle agent
	// may not reach its next GC for a long time, and until then that memory
	// stays resident on every node (issue 17: idle anonymous RSS 21.7 → 17.6
	// MiB). Collect it and return it to the OS now, once, at start.
	debug.FreeOSMemory()
	return t, nil
}

func (t *Tracer) attach(spec *ebpf.CollectionSpec, hook string, kinds []string, maps map[string]*ebpf.Map) Attachment {
	var errs []error
	for _, kind := range kinds {
		var prefix string
		switch kind {
		case "tp_btf":
			prefix = "btf_"
		case "raw_tp":
			prefix = "raw_"
		default:
			errs = append(errs, fmt.Errorf("%s: unknown program kind %q", hook, kind))
			continue
		}
		for _, prog := range []string{prefix + hook, prefix + hook + "_noerr"} {
			if _, ok := spec.Programs[prog]; !ok {
				continue
			}
			one := spec.Copy()
			for name := range one.Programs {
				if name != prog {
					delete(one.Programs, name)
				}
			}
			coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: maps})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: load: %w", kind, prog, summarize(err)))
				continue
			}
			var l link.Link
			switch kind {
			case "tp_btf":
				l, err = link.AttachTracing(link.TracingOptions{Program: coll.Programs[prog]})
			case "raw_tp":
				l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: hook, Program: coll.Programs[prog]})
			}
			if err != nil {
				coll.Close()
				errs = append(errs, fmt.Errorf("%s/%s: attach: %w", kind, prog, err))
				continue
			}
			t.progs = append(t.progs, coll)
			t.links = append(t.links, l)
			return Attachment{Hook: hook, Kind: kind, Program: prog}
		}
	}
	return Attachment{Hook: hook, Err: errors.Join(errs...)}
}

// summarize shortens a verifier error to its last lines.
func summarize(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("verifier rejected the program: %-*v", verifierLogLines, ve)
	}
	return err
}

func permissionHint(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (the kernel receiver needs root, or CAP_BPF+CAP_PERFMON)", err)
	}
	return err
}

// Attachments reports, per hook, how it was attached or why not.
func (t *Tracer) Attachments() []Attachment {
	return append([]Attachment(nil), t.attached...)
}

// Close detaches every link and closes every program and map. It is safe to
// call more than once.
func (t *Tracer) Close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	for _, c := range t.progs {
		c.Close()
	}
	t.progs = nil
	if t.sockMem != nil {
		errs = append(errs, unix.Munmap(t.sockMem))
		t.sockMem = nil
	}
	if t.maps != nil {
		t.maps.Close()
		t.maps = nil
	}
	return errors.Join(errs...)
}

// ReadPeers calls fn for every peer aggregate. Keys that fail DecodePeer are
// skipped and counted in the returned bad count.
func (t *Tracer) ReadPeers(fn func(Peer, PeerStats)) (bad int, err error) {
	err = each(t.peers, "peers", func(k *RawPeerKey, v *RawPeerStats) {
		p, err := DecodePeer(*k)
		if err != nil {
			bad++
			return
		}
		fn(p, DecodeStats(*v))
	})
	return bad, err
}

// ReadStates counts the tracked sockets (the socks table) by (cgroup, netns,
// state) and calls fn for every non-zero count. Remembering which gauges to
// report as 0 once their sockets are gone is the caller's job. The table
// changes while it is read: a socket changing state is counted once, in
// either state; one being born or closing may be missed.
func (t *Tracer) ReadStates(fn func(StateKey, int64)) error {
	counts, err := t.countSocks()
	if err != nil {
		return err
	}
	for p, c := range counts {
		for s, n := range c {
			if n == 0 || State(s).String() == "" || State(s) == stateClosed {
				continue
			}
			fn(StateKey{CgroupID: p.cgroup, Netns: p.netns, State: State(s)}, n)
		}
	}
	return nil
}

// stateCounts are the open connections of one pair, indexed by state.
type stateCounts [len(stateNames)]int64

// countSocks reads the socks table (from its memory mapping, else entry by
// entry) and counts its sockets. No batch lookups for the second case: a
// kernel without BPF_F_MMAPABLE (before 5.5) has no batch operations either
// (5.6).
func (t *Tracer) countSocks() (map[statePair]*stateCounts, error) {
	counts := map[statePair]*stateCounts{}
	total := int(t.socks.MaxEntries())
	if t.sockMem != nil {
		// RawSockBucket has the C struct's layout (bpf2go, HostLayout) and
		// the table is little-endian like this host (bpfel); the mapping is
		// page-aligned. The programs write it while it is read: see
		// ReadStates for what a reader may see.
		table := unsafe.Slice((*RawSockBucket)(unsafe.Pointer(&t.sockMem[0])), total)
		for i := range table {
			countBucket(&table[i], counts)
		}
		return counts, nil
	}
	if err := each(t.socks, "the socket table", func(_ *uint32, b *RawSockBucket) { countBucket(b, counts) }); err != nil {
		return nil, err
	}
	return counts, nil
}

// countBucket adds the sockets of one bucket to counts. Free slots and
// slots being filled or freed (state 0) are skipped.
func countBucket(b *RawSockBucket, counts map[statePair]*stateCounts) {
	for i, sk := range b.Sk {
		info := &b.Info[i]
		if sk == 0 || info.State == 0 || int(info.State) >= len(stateNames) {
			continue
		}
		p := statePair{info.CgroupId, info.Netns}
		c := counts[p]
		if c == nil {
			c = &stateCounts{}
			counts[p] = c
		}
		c[info.State]++
	}
}

// Drops sums the per-CPU drop counters, and the attached programs'
// recursion misses (Missed).
func (t *Tracer) Drops() (Drops, error) {
	var d Drops
	for reason, p := range map[tcpstatsDropReason]*uint64{
		tcpstatsDropReasonDROP_PEER_MAP_FULL:    &d.PeerMapFull,
		tcpstatsDropReasonDROP_PEER_OVERFLOW:    &d.PeerOverflow,
		tcpstatsDropReasonDROP_SOCK_MAP_FULL:    &d.SockMapFull,
		tcpstatsDropReasonDROP_CGROUP_MAP_FULL:  &d.CgroupMapFull,
		tcpstatsDropReasonDROP_CGROUP_PATH_LOST: &d.CgroupPathLost,
	} {
		var perCPU []uint64
		if err := t.drops.Lookup(uint32(reason), &perCPU); err != nil {
			return Drops{}, fmt.Errorf("tcpstats: reading drops[%d]: %w", reason, err)
		}
		for _, v := range perCPU {
			*p += v
		}
	}
	for _, c := range t.progs {
		for _, p := range c.Programs {
			// An error means the kernel keeps no statistics for
			// programs (before 5.12): nothing to add.
			if st, err := p.Stats(); err == nil {
				d.Missed += st.RecursionMisses
			}
		}
	}
	return d, nil
}

// ReadNewCgroups calls fn with the id and path (relative to the cgroup v2
// root, as "/a/b") of every cgroup created since the last call, and forgets
// them. The programs record them from cgroup:cgroup_mkdir.
func (t *Tracer) ReadNewCgroups(fn func(id uint64, path string)) error {
	var ids []uint64
	err := each(t.newCgroups, "new cgroups", func(id *uint64, v *RawCgroupPath) {
		ids = append(ids, *id)
		if p := cgroupPath(*v); p != "" {
			fn(*id, p)
		}
	})
	if err != nil {
		return err
	}
	deleteKeys(t.newCgroups, ids)
	return nil
}

// ForgetCgroups deletes every aggregate of the cgroups ids (peers, their
// peer counts), so that the maps do not
// fill up with the cgroups of containers that are gone; the peers map is
// walked once for all of them. It returns the number of peer entries
// deleted. Events racing with the deletion may be lost; a later event of a
// cgroup simply starts new entries.
func (t *Tracer) ForgetCgroups(ids []uint64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	gone := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		gone[id] = struct{}{}
	}
	var peers []RawPeerKey
	err := each(t.peers, "peers", func(pk *RawPeerKey, _ *RawPeerStats) {
		if _, ok := gone[pk.CgroupId]; ok {
			peers = append(peers, *pk)
		}
	})
	if err != nil {
		return 0, err
	}
	n := deleteKeys(t.peers, peers)
	for id := range gone {
		_ = t.cgroupPeers.Delete(id)
	}
	return n, nil
}

// each calls fn on every entry of m, a map of K to V; what names the map in
// the error.
func each[K, V any](m *ebpf.Map, what string, fn func(k *K, v *V)) error {
	var (
		k K
		v V
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(&k, &v)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("tcpstats: iterating %s: %w", what, err)
	}
	return nil
}

// deleteKeys deletes keys from m and returns how many it deleted. Callers
// collect the keys during a walk (each) and delete them after it: deleting
// while iterating a hash map restarts the iteration.
func deleteKeys[K any](m *ebpf.Map, keys []K) int {
	n := 0
	for _, k := range keys {
		if m.Delete(k) == nil {
			n++
		}
	}
	return n
}
