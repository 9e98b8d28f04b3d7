// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/internal/cgrouppath"
	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/cgroupfs"
	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadata"
)

// cgroupScraper reads the cgroup files on every scrape. The scraper
// controller calls scrape from one goroutine, so its buffers are reused
// without locking.
type cgroupScraper struct {
	cfg *Config
	set receiver.Settings
	mb  *metadata.MetricsBuilder
	tb  *metadata.TelemetryBuilder

	layout cgroupfs.Layout
	rd     *cgroupfs.Reader

	// entries holds this scrape's cgroups by key (the container id when
	// the path names one, so that v1 hierarchies join on it; the path
	// otherwise), in walk order in order. Both are reused across scrapes.
	entries map[string]*entry
	order   []*entry
	// firstSeen is the start time of each cgroup's cumulative series: when
	// the receiver first saw it. It holds only the last scrape's cgroups, so
	// it is bounded by max_cgroups.
	firstSeen map[string]pcommon.Timestamp

	// counts of the current scrape, added to the telemetry at its end.
	dropped, malformed, readErrors int64
}

// entry is one cgroup, joined across the hierarchies it appears in.
type entry struct {
	key   string
	path  string // relative to the hierarchy's root, "/"-rooted
	ident cgrouppath.Identity
	// Directories of the cgroup in each hierarchy ("" where it is absent).
	cpuDir, cpuacctDir, memoryDir, unifiedDir string
	id                                        uint64 // cgroup v2 id; 0 when unknown
}

func newCgroupScraper(cfg *Config, set receiver.Settings) *cgroupScraper {
	return &cgroupScraper{
		cfg:       cfg,
		set:       set,
		mb:        metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		rd:        cgroupfs.NewReader(),
		entries:   map[string]*entry{},
		firstSeen: map[string]pcommon.Timestamp{},
	}
}

// start detects the layout from mountinfo; without a cgroup hierarchy the
// receiver cannot work, so Start fails with the reason.
func (s *cgroupScraper) start(_ context.Context, _ component.Host) error {
	f, err := os.Open(s.cfg.MountinfoPath)
	if err != nil {
		return fmt.Errorf("cgroup receiver: reading mountinfo: %w", err)
	}
	mounts, err := cgroupfs.ParseMountinfo(f)
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("cgroup receiver: %s: %w", s.cfg.MountinfoPath, err)
	}
	s.layout, err = cgroupfs.DetectLayout(mounts, s.cfg.CgroupRoot)
	if err != nil {
		return fmt.Errorf("cgroup receiver: %w", err)
	}
	s.tb, err = metadata.NewTelemetryBuilder(s.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("cgroup receiver: telemetry: %w", err)
	}
	fields := []zap.Field{zap.Stringer("mode", s.layout.Mode)}
	for _, h := range []struct {
		name string
		h    *cgroupfs.Hierarchy
	}{{"unified", s.layout.Unified}, {"cpu", s.layout.CPU}, {"cpuacct", s.layout.CPUAcct}, {"memory", s.layout.Memory}} {
		if h.h != nil {
			fields = append(fields, zap.String(h.name, h.h.MountPoint))
		}
	}
	s.set.Logger.Info("cgroup layout detected", fields...)
	return nil
}

func (s *cgroupScraper) shutdown(context.Context) error {
	if s.tb != nil {
		s.tb.Shutdown()
	}
	return nil
}

// scrape walks the hierarchies, reads each cgroup's files and the node's
// pressure. Missing files (a cgroup removed meanwhile, a file this kernel
// does not have) leave their figures out silently; unreadable or malformed
// ones are counted in the self-telemetry, never logged per file.
func (s *cgroupScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	s.dropped, s.malformed, s.readErrors = 0, 0, 0
	if err := s.collect(); err != nil {
		return pmetric.NewMetrics(), err
	}
	now := pcommon.NewTimestampFromTime(time.Now())
	for _, e := range s.order {
		start, ok := s.firstSeen[e.key]
		if !ok {
			start = now
			s.firstSeen[e.key] = now
		}
		if s.layout.Mode == cgroupfs.ModeV2 {
			s.recordV2(now, e)
		} else {
			s.recordV1(now, e)
			s.recordHybridPressure(now, e)
		}
		s.mb.EmitForResource(metadata.WithResource(s.resource(e)), metadata.WithStartTimeOverride(start))
		if err := ctx.Err(); err != nil {
			// The scrape's timeout: drop what was built so far, so that
			// the next scrape does not carry it.
			_ = s.mb.Emit()
			return pmetric.NewMetrics(), err
		}
	}
	for k := range s.firstSeen {
		if _, ok := s.entries[k]; !ok {
			delete(s.firstSeen, k)
		}
	}
	if dir, ok := s.openDir(s.cfg.PressurePath); ok {
		s.recordPressure(now, dir, true, s.mb.RecordSystemPressureStallTimeDataPoint)
		dir.Close()
	}
	md := s.mb.Emit()
	if s.tb != nil {
		s.tb.ReceiverCgroupDroppedCgroups.Add(ctx, s.dropped)
		s.tb.ReceiverCgroupMalformedFiles.Add(ctx, s.malformed)
		s.tb.ReceiverCgroupReadErrors.Add(ctx, s.readErrors)
	}
	return md, nil
}

func (s *cgroupScraper) resource(e *entry) pcommon.Resource {
	rb := s.mb.NewResourceBuilder()
	rb.SetVigilCgroupPath(e.path)
	if e.id != 0 {
		rb.SetVigilCgroupID(int64(e.id))
	}
	if e.ident.ContainerID != "" {
		rb.SetContainerID(e.ident.ContainerID)
	}
	if e.ident.PodUID != "" {
		rb.SetK8sPodUID(e.ident.PodUID)
	}
	return rb.Emit()
}

// collect fills entries and order with this scrape's cgroups.
func (s *cgroupScraper) collect() error {
	clear(s.entries)
	s.order = s.order[:0]
	l := s.layout
	if l.Mode == cgroupfs.ModeV2 {
		return s.walk(l.Unified, func(e *entry, dir string) { e.unifiedDir = dir })
	}
	// v1: each controller's hierarchy is walked and joined on the entry's
	// key; co-mounted controllers (cpu,cpuacct) are one walk.
	type source struct {
		h   *cgroupfs.Hierarchy
		set []func(*entry, string)
	}
	var sources []*source
	add := func(h *cgroupfs.Hierarchy, set func(*entry, string)) {
		if h == nil {
			return
		}
		for _, src := range sources {
			if src.h.MountPoint == h.MountPoint {
				src.set = append(src.set, set)
				return
			}
		}
		sources = append(sources, &source{h: h, set: []func(*entry, string){set}})
	}
	add(l.Memory, func(e *entry, dir string) { setOnce(&e.memoryDir, dir) })
	add(l.CPU, func(e *entry, dir string) { setOnce(&e.cpuDir, dir) })
	add(l.CPUAcct, func(e *entry, dir string) { setOnce(&e.cpuacctDir, dir) })
	var errs []error
	for _, src := range sources {
		err := s.walk(src.h, func(e *entry, dir string) {
			for _, set := range src.set {
				set(e, dir)
			}
		})
		errs = append(errs, err)
	}
	if l.Unified != nil {
		for _, e := range s.order {
			s.joinUnified(e)
		}
	}
	// One missing hierarchy (e.g. memory unmounted) must not hide the
	// others; fail only when none could be walked.
	if len(s.order) == 0 {
		return errors.Join(errs...)
	}
	return nil
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// joinUnified finds a v1 cgroup's directory in the hybrid cgroup2
// hierarchy (systemd and the kubelet create the same path in every
// hierarchy): it gives the cgroup's pressure files and its v2 id.
func (s *cgroupScraper) joinUnified(e *entry) {
	dir := filepath.Join(s.layout.Unified.MountPoint, filepath.FromSlash(e.path))
	if ino, ok := cgroupfs.Inode(dir); ok {
		e.unifiedDir, e.id = dir, ino
	}
}

// walk visits the cgroups of one hierarchy and calls set for each one the
// scope keeps, creating its entry (up to max_cgroups) on first sight. A
// container's cgroup is not descended into: it aggregates its children,
// and they would carry the same container id.
func (s *cgroupScraper) walk(h *cgroupfs.Hierarchy, set func(e *entry, dir string)) error {
	scope := s.cfg.Scope
	v2 := s.layout.Mode == cgroupfs.ModeV2
	err := filepath.WalkDir(h.MountPoint, func(dir string, d fs.DirEntry, err error) error {
		if err != nil {
			// The hierarchy's root is unreadable: report it. A cgroup
			// removed during the walk: skip it.
			if dir == h.MountPoint {
				return err
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() || dir == h.MountPoint {
			return nil
		}
		// The path relative to the mount point, as the kernel receiver
		// reports it (not prefixed with the mount's root: inside a cgroup
		// namespace that root can be "/../..").
		p := "/" + filepath.ToSlash(strings.TrimPrefix(dir, h.MountPoint+string(filepath.Separator)))
		ident := cgrouppath.Parse(p)
		keep := scope == ScopeAll ||
			ident.ContainerID != "" ||
			(scope == ScopePods && ident.PodUID != "")
		if !keep {
			return nil
		}
		key := p
		if ident.ContainerID != "" {
			key = "c:" + ident.ContainerID
		}
		e, ok := s.entries[key]
		if !ok {
			if len(s.order) >= s.cfg.MaxCgroups {
				s.dropped++
				return skipIfContainer(ident)
			}
			e = &entry{key: key, path: p, ident: ident}
			if v2 {
				if info, err := d.Info(); err == nil {
					e.id, _ = cgroupfs.InodeOf(info)
				}
			}
			s.entries[key] = e
			s.order = append(s.order, e)
		}
		set(e, dir)
		return skipIfContainer(ident)
	})
	if err != nil {
		return fmt.Errorf("walking %s: %w", h.MountPoint, err)
	}
	return nil
}

func skipIfContainer(id cgrouppath.Identity) error {
	if id.ContainerID != "" {
		return fs.SkipDir
	}
	return nil
}

// openDir opens a cgroup directory; false when there is none (path empty:
// the cgroup is not in that hierarchy), when it is gone (not counted) or
// cannot be opened (counted).
func (s *cgroupScraper) openDir(path string) (cgroupfs.Dir, bool) {
	if path == "" {
		return cgroupfs.Dir{}, false
	}
	d, err := s.rd.OpenDir(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.readErrors++
		}
		return d, false
	}
	return d, true
}

// read returns a file's content, or nil when it does not exist or cannot
// be read (counted).
func (s *cgroupScraper) read(d cgroupfs.Dir, name string) []byte {
	b, err := s.rd.Read(d, name)
	switch {
	case err == nil:
		return b
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, cgroupfs.ErrMalformed):
		s.malformed++
	default:
		s.readErrors++
	}
	return nil
}

func (s *cgroupScraper) readUint(d cgroupfs.Dir, name string) (uint64, bool) {
	b := s.read(d, name)
	if b == nil {
		return 0, false
	}
	v, err := cgroupfs.ParseUint(b)
	if err != nil {
		s.malformed++
		return 0, false
	}
	return v, true
}

// readKeyed parses a flat-keyed file; the figures of a malformed file are
// all left out, not only those of its bad lines, so that a scrape never
// reports half of a file.
func (s *cgroupScraper) readKeyed(d cgroupfs.Dir, name string, fn func(key []byte, v uint64)) {
	b := s.read(d, name)
	if b == nil {
		return
	}
	if err := cgroupfs.ParseFlatKeyed(b, func([]byte, uint64) {}); err != nil {
		s.malformed++
		return
	}
	_ = cgroupfs.ParseFlatKeyed(b, fn)
}

func (s *cgroupScraper) recordV2(now pcommon.Timestamp, e *entry) {
	dir, ok := s.openDir(e.unifiedDir)
	if !ok {
		return
	}
	defer dir.Close()
	s.recordPressure(now, dir, false, s.mb.RecordCgroupPressureStallTimeDataPoint)
	s.readKeyed(dir, "cpu.stat", func(k []byte, v uint64) {
		switch string(k) {
		case "usage_usec":
			s.mb.RecordCgroupCPUTimeDataPoint(now, float64(v)/1e6)
		case "nr_periods":
			s.mb.RecordCgroupCPUPeriodsDataPoint(now, toInt64(v))
		case "nr_throttled":
			s.mb.RecordCgroupCPUThrottledPeriodsDataPoint(now, toInt64(v))
		case "throttled_usec":
			s.mb.RecordCgroupCPUThrottledTimeDataPoint(now, float64(v)/1e6)
		}
	})
	if v, ok := s.readUint(dir, "memory.current"); ok {
		s.mb.RecordCgroupMemoryUsageDataPoint(now, toInt64(v))
	}
	if v, ok := s.readUint(dir, "memory.peak"); ok {
		s.mb.RecordCgroupMemoryPeakDataPoint(now, toInt64(v))
	}
	s.readKeyed(dir, "memory.events", func(k []byte, v uint64) {
		if ev, ok := metadata.MapAttributeCgroupMemoryEvent[string(k)]; ok {
			s.mb.RecordCgroupMemoryEventsDataPoint(now, toInt64(v), ev)
		}
	})
}

func (s *cgroupScraper) recordV1(now pcommon.Timestamp, e *entry) {
	if dir, ok := s.openDir(e.cpuDir); ok {
		defer dir.Close()
		s.readKeyed(dir, "cpu.stat", func(k []byte, v uint64) {
			switch string(k) {
			case "nr_periods":
				s.mb.RecordCgroupCPUPeriodsDataPoint(now, toInt64(v))
			case "nr_throttled":
				s.mb.RecordCgroupCPUThrottledPeriodsDataPoint(now, toInt64(v))
			case "throttled_time": // nanoseconds
				s.mb.RecordCgroupCPUThrottledTimeDataPoint(now, float64(v)/1e9)
			}
		})
	}
	if dir, ok := s.openDir(e.cpuacctDir); ok {
		defer dir.Close()
		if v, ok := s.readUint(dir, "cpuacct.usage"); ok { // nanoseconds
			s.mb.RecordCgroupCPUTimeDataPoint(now, float64(v)/1e9)
		}
	}
	if dir, ok := s.openDir(e.memoryDir); ok {
		defer dir.Close()
		if v, ok := s.readUint(dir, "memory.usage_in_bytes"); ok {
			s.mb.RecordCgroupMemoryUsageDataPoint(now, toInt64(v))
		}
		if v, ok := s.readUint(dir, "memory.max_usage_in_bytes"); ok {
			s.mb.RecordCgroupMemoryPeakDataPoint(now, toInt64(v))
		}
		// oom_kill is in memory.oom_control since Linux 4.13.
		s.readKeyed(dir, "memory.oom_control", func(k []byte, v uint64) {
			if string(k) == "oom_kill" {
				s.mb.RecordCgroupMemoryEventsDataPoint(now, toInt64(v), metadata.AttributeCgroupMemoryEventOomKill)
			}
		})
	}
}

var pressureFiles = []struct {
	cgroupFile, procFile string
	res                  metadata.AttributePsiResource
}{
	{"cpu.pressure", "cpu", metadata.AttributePsiResourceCPU},
	{"memory.pressure", "memory", metadata.AttributePsiResourceMemory},
	{"io.pressure", "io", metadata.AttributePsiResourceIo},
}

// recordHybridPressure reads a v1 cgroup's pressure from its directory in
// the hybrid cgroup2 hierarchy, when it has one.
func (s *cgroupScraper) recordHybridPressure(now pcommon.Timestamp, e *entry) {
	if dir, ok := s.openDir(e.unifiedDir); ok {
		s.recordPressure(now, dir, false, s.mb.RecordCgroupPressureStallTimeDataPoint)
		dir.Close()
	}
}

// recordPressure reads the three pressure files of a cgroup v2 directory,
// or the node's (/proc/pressure, where the files are named cpu, memory, io).
func (s *cgroupScraper) recordPressure(now pcommon.Timestamp, dir cgroupfs.Dir, node bool, record func(pcommon.Timestamp, float64, metadata.AttributePsiResource, metadata.AttributePsiStall)) {
	for _, f := range pressureFiles {
		name := f.cgroupFile
		if node {
			name = f.procFile
		}
		b := s.read(dir, name)
		if b == nil {
			continue
		}
		p, err := cgroupfs.ParsePressure(b)
		if err != nil {
			s.malformed++
			continue
		}
		if p.HasSome {
			record(now, float64(p.SomeTotal)/1e6, f.res, metadata.AttributePsiStallSome)
		}
		if p.HasFull {
			record(now, float64(p.FullTotal)/1e6, f.res, metadata.AttributePsiStallFull)
		}
	}
}

// toInt64 clamps a kernel counter to the int64 the data model holds.
func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
