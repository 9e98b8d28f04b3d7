// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/cgroups"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

const (
	// cgroupRefresh is the minimum time between two walks of the cgroup
	// hierarchy triggered by unknown cgroup ids: a socket of a cgroup that
	// is already gone must not make every collection walk the tree.
	cgroupRefresh = 5 * time.Second
	// cgroupGoneGrace is how long a cgroup id must stay unknown, across
	// walks, before its kernel aggregates are deleted.
	cgroupGoneGrace = time.Minute
)

// tracer is the part of *tcpstats.Tracer the receiver uses.
type tracer interface {
	Attachments() []tcpstats.Attachment
	ReadPeers(func(tcpstats.Peer, tcpstats.PeerStats)) (int, error)
	ReadStates(func(tcpstats.StateKey, int64)) error
	Drops() (tcpstats.Drops, error)
	ReadNewCgroups(func(id uint64, path string)) error
	ForgetCgroups([]uint64) (int, error)
	Close() error
}

type kernelReceiver struct {
	cfg      *Config
	set      receiver.Settings
	next     consumer.Metrics
	obsrecv  *receiverhelper.ObsReport
	tb       *metadata.TelemetryBuilder
	mb       *metadata.MetricsBuilder
	start    pcommon.Timestamp
	load     func(tcpstats.Config) (tracer, error)
	resolver *cgroups.Resolver
	// refresh and goneGrace are cgroupRefresh and cgroupGoneGrace (tests
	// shorten them).
	refresh, goneGrace time.Duration

	tracer    tracer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	prevDrops tcpstats.Drops
	// states remembers which connection-state gauges to report as 0 once
	// their sockets are gone (states.go).
	states *stateMemory
	// cgroups is the resource identity bookkeeping (resource.go).
	cgroups cgroupBook
	// keep applies the mdatagen resource filters to resources that only
	// have histograms (resource.go).
	keep resourceFilter
}

func newKernelReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) (*kernelReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "ebpf",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("receiverhelper.NewObsReport: %w", err)
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("metadata.NewTelemetryBuilder: %w", err)
	}
	return &kernelReceiver{
		cfg:       cfg,
		set:       set,
		next:      next,
		obsrecv:   obsrecv,
		tb:        tb,
		load:      func(c tcpstats.Config) (tracer, error) { return tcpstats.Load(c) },
		states:    newStateMemory(cfg.MaxStateEntries),
		cgroups:   newCgroupBook(),
		keep:      newResourceFilter(cfg.MetricsBuilderConfig.ResourceAttributes),
		refresh:   cgroupRefresh,
		goneGrace: cgroupGoneGrace,
	}, nil
}

// Start loads and attaches the eBPF programs synchronously and starts the
// collection loop. Without `degrade`, any load or attach failure fails Start.
func (r *kernelReceiver) Start(_ context.Context, host component.Host) error {
	r.start = pcommon.NewTimestampFromTime(time.Now())
	r.mb = metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set, metadata.WithStartTime(r.start))

	t, err := r.load(r.cfg.tracerConfig())
	if err == nil {
		r.tracer = t
		err = attachError(t.Attachments())
	}
	if err != nil {
		err = fmt.Errorf("kernel receiver: %w", err)
		if !r.cfg.Degrade {
			return errors.Join(err, r.Shutdown(context.Background()))
		}
		// Logged once, here; the status tells the health check and the
		// rest of the gateway keeps running.
		r.set.Logger.Warn("kernel receiver degraded (degrade: true)", zap.Error(err))
		componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
		if r.tracer == nil {
			return nil
		}
	}
	var attached []string
	for _, a := range r.tracer.Attachments() {
		if a.Err == nil {
			attached = append(attached, a.Program)
		}
	}
	r.set.Logger.Info("kernel hooks attached", zap.Strings("hooks", attached))

	root := r.cfg.CgroupRoot
	if root == "" {
		if root, err = cgroups.FindCgroup2Mount(); err != nil {
			// Not fatal: metrics keep flowing, attributed to cgroup ids only.
			r.set.Logger.Warn("no cgroup v2 hierarchy: container attribution disabled", zap.Error(err))
		}
	}
	if root != "" {
		// A learned path stays past its cgroup's removal for as long as the
		// cgroup's aggregates can still be reported.
		r.resolver = cgroups.NewResolver(root, r.cfg.MaxCgroupPaths, r.refresh, r.goneGrace+2*r.cfg.CollectionInterval)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() { r.loop(ctx) })
	return nil
}

func attachError(as []tcpstats.Attachment) error {
	var errs []error
	for _, a := range as {
		if a.Err != nil {
			errs = append(errs, fmt.Errorf("hook %s not attached: %w", a.Hook, a.Err))
		}
	}
	return errors.Join(errs...)
}

// Shutdown stops the loop, detaches every link and closes every map. It is
// safe without Start and honours ctx while waiting for the loop.
func (r *kernelReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("kernel receiver: waiting for the collection loop: %w", ctx.Err())
	}
	if r.tracer != nil {
		err = errors.Join(err, r.tracer.Close())
		r.tracer = nil
	}
	r.tb.Shutdown()
	return err
}

func (r *kernelReceiver) loop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.CollectionInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.collectAndSend(ctx)
		}
	}
}

func (r *kernelReceiver) collectAndSend(ctx context.Context) {
	md, err := r.collect(ctx)
	if err != nil {
		// A map read failing is a kernel-side fault worth a log line per
		// collection interval, not per data point.
		r.set.Logger.Error("reading kernel maps", zap.Error(err))
		return
	}
	if md.DataPointCount() == 0 {
		return
	}
	opCtx := r.obsrecv.StartMetricsOp(ctx)
	err = r.next.ConsumeMetrics(opCtx, md)
	r.obsrecv.EndMetricsOp(opCtx, metadata.Type.String(), md.DataPointCount(), err)
}
