// SPDX-License-Identifier: Apache-2.0

//go:build linux

package tcpstats

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Tracer owns the loaded maps, programs and links. Close releases all of them.
type Tracer struct {
	maps     *ebpf.Collection
	progs    []*ebpf.Collection
	links    []link.Link
	attached []Attachment

	peers       *ebpf.Map
	cgroupPeers *ebpf.Map
	connStates  *ebpf.Map
	drops       *ebpf.Map
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
	for name, size := range map[string]uint32{
		tcpstatsMapPeers:       cfg.MaxPeers,
		tcpstatsMapCgroupPeers: cfg.MaxCgroups,
		tcpstatsMapSocks:       cfg.MaxSockets,
		tcpstatsMapConnStates:  cfg.MaxStates,
	} {
		spec.Maps[name].MaxEntries = size
	}
	if err := spec.Variables[tcpstatsVarMaxPeersPerCgroup].Set(cfg.MaxPeersPerCgroup); err != nil {
		return nil, fmt.Errorf("tcpstats: setting max_peers_per_cgroup: %w", err)
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
	t.connStates = t.maps.Maps[tcpstatsMapConnStates]
	t.drops = t.maps.Maps[tcpstatsMapDrops]
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
	if t.maps != nil {
		t.maps.Close()
		t.maps = nil
	}
	return errors.Join(errs...)
}

// ReadPeers calls fn for every peer aggregate. Keys that fail DecodePeer are
// skipped and counted in the returned bad count.
func (t *Tracer) ReadPeers(fn func(Peer, PeerStats)) (bad int, err error) {
	var (
		k RawPeerKey
		v RawPeerStats
	)
	it := t.peers.Iterate()
	for it.Next(&k, &v) {
		p, err := DecodePeer(k)
		if err != nil {
			bad++
			continue
		}
		fn(p, DecodeStats(v))
	}
	if err := it.Err(); err != nil {
		return bad, fmt.Errorf("tcpstats: iterating peers: %w", err)
	}
	return bad, nil
}

// ReadStates calls fn for every named state of every (cgroup, netns)
// the kernel has counted connections for, zeros included.
func (t *Tracer) ReadStates(fn func(StateKey, int64)) error {
	var (
		k      RawStateKey
		perCPU []RawStateCounts
	)
	it := t.connStates.Iterate()
	for it.Next(&k, &perCPU) {
		var sum [len(RawStateCounts{}.Count)]int64
		for _, v := range perCPU {
			for s, n := range v.Count {
				sum[s] += n
			}
		}
		for s, n := range sum {
			if State(s).String() == "" || State(s) == stateClosed {
				continue
			}
			fn(StateKey{CgroupID: k.CgroupId, Netns: k.Netns, State: State(s)}, n)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("tcpstats: iterating connection states: %w", err)
	}
	return nil
}

// Drops sums the per-CPU drop counters.
func (t *Tracer) Drops() (Drops, error) {
	var d Drops
	dst := []*uint64{&d.PeerMapFull, &d.PeerOverflow, &d.SockMapFull, &d.StateMapFull, &d.CgroupMapFull}
	for i, p := range dst {
		var perCPU []uint64
		if err := t.drops.Lookup(uint32(i), &perCPU); err != nil {
			return Drops{}, fmt.Errorf("tcpstats: reading drops[%d]: %w", i, err)
		}
		for _, v := range perCPU {
			*p += v
		}
	}
	return d, nil
}

// ForgetCgroup deletes every aggregate of cgroup id (peers, its peer count,
// connection states), so that the maps do not fill up with the cgroups of
// containers that are gone. It returns the number of peer entries deleted.
// Events racing with the deletion may be lost; a later event of the cgroup
// simply starts new entries.
func (t *Tracer) ForgetCgroup(id uint64) (int, error) {
	var (
		pk     RawPeerKey
		pv     RawPeerStats
		sk     RawStateKey
		perCPU []RawStateCounts
		peers  []RawPeerKey
		states []RawStateKey
	)
	it := t.peers.Iterate()
	for it.Next(&pk, &pv) {
		if pk.CgroupId == id {
			peers = append(peers, pk)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("tcpstats: iterating peers: %w", err)
	}
	sit := t.connStates.Iterate()
	for sit.Next(&sk, &perCPU) {
		if sk.CgroupId == id {
			states = append(states, sk)
		}
	}
	if err := sit.Err(); err != nil {
		return 0, fmt.Errorf("tcpstats: iterating connection states: %w", err)
	}
	n := 0
	for _, k := range peers {
		if err := t.peers.Delete(k); err == nil {
			n++
		}
	}
	for _, k := range states {
		_ = t.connStates.Delete(k)
	}
	_ = t.cgroupPeers.Delete(id)
	return n, nil
}
