// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/internal/cgrouppath"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

// This file decides which resource a group of kernel aggregates is. The
// identity is (cgroup id, netns inode), and both are resource attributes
// (vigil.cgroup.id, vigil.netns.inode), so two cgroups whose paths are
// unknown are still two resources. The path, container and pod come from
// the cgroup id: learned when the cgroup was created (cgroup:cgroup_mkdir,
// recorded by the kernel side), else from walks of the hierarchy.

// resourceKey identifies one resource: a (cgroup, network namespace) pair.
type resourceKey struct {
	cgroup uint64
	netns  uint32
}

// cgroupBook is the receiver's memory of the cgroups in the kernel maps.
type cgroupBook struct {
	// paths holds the resolved path of each cgroup id in the kernel maps,
	// kept until the id is forgotten, so that a cgroup keeps its path (and
	// its series their identity) after its directory is gone. Bounded by
	// the cgroups in the kernel maps.
	paths map[uint64]string
	// gone holds the cgroup ids no longer in the hierarchy (or never
	// found), with the time they were first missed; bounded likewise.
	gone map[uint64]time.Time
	// unresolved remembers the cgroup ids already counted as unresolved, so
	// that receiver_kernel_unresolved_cgroups counts ids, not collections.
	unresolved map[uint64]struct{}
}

func newCgroupBook() cgroupBook {
	return cgroupBook{paths: map[uint64]string{}, gone: map[uint64]time.Time{}, unresolved: map[uint64]struct{}{}}
}

// learnNewCgroups hands the paths of the cgroups created since the last
// collection, as the kernel recorded them, to the resolver.
func (r *kernelReceiver) learnNewCgroups(ctx context.Context) {
	if r.resolver == nil {
		return
	}
	lost := 0
	err := r.tracer.ReadNewCgroups(func(id uint64, path string) {
		if !r.resolver.Learn(id, path) {
			lost++
		}
	})
	if err != nil {
		r.set.Logger.Error("reading new cgroups", zap.Error(err))
	}
	r.tb.ReceiverKernelLostCgroupPaths.Add(ctx, int64(lost))
}

// resource builds the resource of a (cgroup, netns) group: its identity,
// and the cgroup path and the container and pod parsed from it when the
// path is known.
func (r *kernelReceiver) resource(ctx context.Context, k resourceKey) pcommon.Resource {
	rb := r.mb.NewResourceBuilder()
	rb.SetVigilNetnsInode(int64(k.netns))
	rb.SetVigilCgroupID(int64(k.cgroup))
	if k.cgroup == 0 || r.resolver == nil {
		return rb.Emit()
	}
	b := &r.cgroups
	path, ok := b.paths[k.cgroup]
	if !ok {
		if path, ok = r.resolver.Lookup(k.cgroup); ok {
			b.paths[k.cgroup] = path
		}
	}
	if ok && r.resolver.Exists(k.cgroup, path) {
		delete(b.gone, k.cgroup)
	} else if _, missed := b.gone[k.cgroup]; !missed {
		b.gone[k.cgroup] = time.Now()
	}
	if !ok {
		if _, seen := b.unresolved[k.cgroup]; !seen {
			if len(b.unresolved) < r.cfg.MaxCgroupPaths {
				b.unresolved[k.cgroup] = struct{}{}
			}
			r.tb.ReceiverKernelUnresolvedCgroups.Add(ctx, 1)
		}
		return rb.Emit()
	}
	rb.SetVigilCgroupPath(path)
	id := cgrouppath.Parse(path)
	if id.ContainerID != "" {
		rb.SetContainerID(id.ContainerID)
	}
	if id.PodUID != "" {
		rb.SetK8sPodUID(id.PodUID)
	}
	return rb.Emit()
}

// forgetGoneCgroups deletes the kernel aggregates of cgroups that have been
// gone from the hierarchy for goneGrace: their containers are gone, and
// their entries would otherwise fill the bounded maps for good. Their
// series end (this collection still reported them). A cgroup with a known
// path is gone when its directory is; one never resolved must also be
// missing from a walk made after it was first missed. Nothing is forgotten
// while the path index is truncated, since a missing id may then just be
// unindexed.
func (r *kernelReceiver) forgetGoneCgroups(ctx context.Context) {
	if r.resolver == nil || r.resolver.Truncated() {
		return
	}
	b := &r.cgroups
	lastWalk := r.resolver.LastWalk()
	var ids []uint64
	for id, since := range b.gone {
		_, resolved := b.paths[id]
		if time.Since(since) >= r.goneGrace && (resolved || lastWalk.After(since)) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	// One walk of the kernel's peers map for all of them.
	if _, err := r.tracer.ForgetCgroups(ids); err != nil {
		r.set.Logger.Error("deleting the kernel aggregates of removed cgroups", zap.Uint64s("cgroup_ids", ids), zap.Error(err))
		return
	}
	r.tb.ReceiverKernelForgottenCgroups.Add(ctx, int64(len(ids)))
	forgotten := make(map[uint64]struct{}, len(ids))
	for _, id := range ids {
		forgotten[id] = struct{}{}
		delete(b.gone, id)
		delete(b.unresolved, id)
		delete(b.paths, id)
	}
	r.resolver.Forget(ids)
	r.states.forget(forgotten)
}

// resourceFilter applies the mdatagen resource attribute filters
// (metrics_include / metrics_exclude) the way the generated MetricsBuilder
// does, for resources the builder never sees: those with histograms only.
type resourceFilter struct {
	include, exclude map[string]filter.Filter
}

func newResourceFilter(rac metadata.ResourceAttributesConfig) resourceFilter {
	f := resourceFilter{include: map[string]filter.Filter{}, exclude: map[string]filter.Filter{}}
	for name, c := range map[string]metadata.ResourceAttributeConfig{
		"container.id":      rac.ContainerID,
		"k8s.pod.uid":       rac.K8sPodUID,
		"vigil.cgroup.id":   rac.VigilCgroupID,
		"vigil.cgroup.path": rac.VigilCgroupPath,
		"vigil.netns.inode": rac.VigilNetnsInode,
	} {
		if c.MetricsInclude != nil {
			f.include[name] = filter.CreateFilter(c.MetricsInclude)
		}
		if c.MetricsExclude != nil {
			f.exclude[name] = filter.CreateFilter(c.MetricsExclude)
		}
	}
	return f
}

// matches reports whether metrics of res are kept.
func (f resourceFilter) matches(res pcommon.Resource) bool {
	for attr, flt := range f.include {
		if v, ok := res.Attributes().Get(attr); ok && !flt.Matches(v.AsString()) {
			return false
		}
	}
	for attr, flt := range f.exclude {
		if v, ok := res.Attributes().Get(attr); ok && flt.Matches(v.AsString()) {
			return false
		}
	}
	return true
}
