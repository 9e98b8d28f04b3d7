// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// sweepInterval is how often the background loop evicts idle series,
// re-sends firing alerts and checks whether a periodic save is due. It is
// the smallest of those periods, capped to keep the loop cheap and timely.
func (e *engine) sweepInterval() time.Duration {
	d := min(e.cfg.PersistInterval, e.cfg.IdleTimeout/4)
	if e.am != nil {
		d = min(d, e.am.cfg.ResendInterval/4)
	}
	return max(min(d, time.Minute), 100*time.Millisecond)
}

// start runs once per engine, on the first instance's Start.
func (e *engine) start(ctx context.Context, host component.Host) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if e.started {
		return nil
	}
	if e.cfg.Alertmanager.HasValue() {
		am, err := newAMClient(ctx, e.cfg.Alertmanager.Get(), host, e.set, e.tb)
		if err != nil {
			return err
		}
		e.am = am
	}
	if e.cfg.Storage != nil {
		ext, ok := host.GetExtensions()[*e.cfg.Storage]
		if !ok {
			return fmt.Errorf("`storage`: extension %q not found", e.cfg.Storage.String())
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf("`storage`: extension %q is not a storage extension", e.cfg.Storage.String())
		}
		client, err := se.GetClient(ctx, component.KindConnector, e.id, "")
		if err != nil {
			return fmt.Errorf("`storage`: getting a client from %q: %w", e.cfg.Storage.String(), err)
		}
		e.store = client
		if err := e.load(ctx); err != nil {
			// A damaged state costs a re-warm-up, not the pipeline.
			e.tb.ConnectorEwmaBaselineStatePersistErrors.Add(ctx, 1)
			e.logger().Warn("ewma_baseline: could not restore baseline state; starting empty", zap.Error(err))
		}
	}
	if e.am != nil {
		e.am.start()
	}
	e.stopCh = make(chan struct{})
	e.lastSave = e.now()
	e.started = true
	interval := e.sweepInterval()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-e.stopCh:
				return
			case <-t.C:
				e.sweep()
			}
		}
	}()
	return nil
}

func (e *engine) sweep() {
	ctx := context.Background()
	if n := e.evictIdle(); n > 0 {
		e.tb.ConnectorEwmaBaselineEvictedSeries.Add(ctx, int64(n))
		e.reportTracked()
	}
	e.resendFiring()
	if e.store != nil && e.now().Sub(e.lastSave) >= e.cfg.PersistInterval {
		e.lastSave = e.now()
		if err := e.save(ctx); err != nil {
			e.tb.ConnectorEwmaBaselineStatePersistErrors.Add(ctx, 1)
			e.logger().Warn("ewma_baseline: saving baseline state failed", zap.Error(err))
		}
	}
}

func (e *engine) load(ctx context.Context) error {
	data, err := e.store.Get(ctx, stateKey)
	if err != nil || data == nil {
		e.logger().Debug("ewma_baseline: no saved baseline state", zap.Error(err))
		return err
	}
	e.mu.Lock()
	n, err := e.decodeState(data)
	e.mu.Unlock()
	e.reportTracked()
	e.logger().Info("ewma_baseline: restored baseline state", zap.Int("series", n))
	return err
}

func (e *engine) save(ctx context.Context) error {
	e.mu.Lock()
	data := e.encodeState()
	e.mu.Unlock()
	e.logger().Debug("ewma_baseline: saving baseline state", zap.Int("bytes", len(data)))
	return e.store.Set(ctx, stateKey, data)
}

// shutdownInstance releases one instance; the last one stops the engine:
// background loop, final save, Alertmanager flush, storage client.
func (e *engine) shutdownInstance(ctx context.Context) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	e.instances--
	if e.instances > 0 {
		return nil
	}
	if e.release != nil {
		e.release()
	}
	var errs []error
	if e.started {
		close(e.stopCh)
		e.wg.Wait()
		if e.am != nil {
			e.am.shutdown(ctx)
		}
		if e.store != nil {
			if err := e.save(ctx); err != nil {
				e.tb.ConnectorEwmaBaselineStatePersistErrors.Add(ctx, 1)
				errs = append(errs, fmt.Errorf("ewma_baseline: saving state: %w", err))
			}
			if err := e.store.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("ewma_baseline: closing storage client: %w", err))
			}
		}
		e.started = false
	}
	e.tb.Shutdown()
	return errors.Join(errs...)
}

// reportTracked moves the series_tracked up-down counter to the table size.
func (e *engine) reportTracked() {
	e.mu.Lock()
	n := int64(e.index.len())
	d := n - e.trackedReported
	e.trackedReported = n
	e.mu.Unlock()
	if d != 0 {
		e.tb.ConnectorEwmaBaselineTrackedSeries.Add(context.Background(), d)
	}
}
