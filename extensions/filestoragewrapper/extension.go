// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/extensions/filestoragewrapper/internal/metadata"
)

// maxFiles bounds the files observed per collection. A file_storage
// directory holds one file per component using it (and bbolt's compaction
// temporaries), so this is far above what a configuration produces; beyond
// it the rest is left out and logged once.
const maxFiles = 1024

// sizedStorage is contrib's storage extension (GetClient and all: it is
// embedded) that also reports the size of the files in its directory.
type sizedStorage struct {
	storage.Extension
	directory string
	id        attribute.KeyValue // the extension attribute
	telemetry component.TelemetrySettings

	mu      sync.Mutex
	builder *metadata.TelemetryBuilder

	// Log a failing read or a truncated listing once, not at every
	// collection.
	readErrLogged, truncLogged atomic.Bool

	guard      spaceGuard
	vetTimeout time.Duration // bbolt's lock timeout, contrib's `timeout`
}

var _ storage.Extension = (*sizedStorage)(nil)

func newSizedStorage(ext storage.Extension, id component.ID, cfg *Config, set component.TelemetrySettings) *sizedStorage {
	return &sizedStorage{
		Extension:  ext,
		directory:  cfg.Directory,
		id:         attribute.String("extension", id.String()),
		telemetry:  set,
		guard:      spaceGuard{reserve: reserveFor(cfg)},
		vetTimeout: cfg.Timeout,
	}
}

// Start registers the telemetry, vets the storage files already in the
// directory (vet.go), then starts contrib's extension.
func (s *sizedStorage) Start(ctx context.Context, host component.Host) error {
	tb, err := metadata.NewTelemetryBuilder(s.telemetry)
	if err == nil {
		err = tb.RegisterExtensionFileStorageFileSizeCallback(s.observe)
	}
	if err != nil {
		// The telemetry is an addition; the storage itself works without it.
		s.telemetry.Logger.Warn("file_storage: cannot register the file size gauge", zap.Error(err))
		if tb != nil {
			tb.Shutdown()
		}
		tb = nil
	}
	s.mu.Lock()
	s.builder = tb
	s.mu.Unlock()
	s.vetDirectory(ctx, tb)
	return s.Extension.Start(ctx, host)
}

// vetDirectory checks every storage file in the directory before any
// component opens one; a damaged file is moved aside and what can be read
// of it is kept (vet.go). It never fails the start: a file it cannot vet
// is left to contrib, which reports its own error.
func (s *sizedStorage) vetDirectory(ctx context.Context, tb *metadata.TelemetryBuilder) {
	files, err := componentFiles(s.directory)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.telemetry.Logger.Warn("file_storage: cannot list the directory to check its files", zap.String("directory", s.directory), zap.Error(err))
		}
		return
	}
	timeout := s.vetTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	for _, f := range files {
		res, err := vetFile(f, timeout)
		if res.damage != nil {
			attrs := metricAttrs(s.id, attribute.String("file", filepath.Base(f)))
			if tb != nil {
				tb.ExtensionFileStorageDamagedFiles.Add(ctx, 1, attrs)
				tb.ExtensionFileStorageSalvagedEntries.Add(ctx, int64(res.salvaged), attrs)
			}
			s.telemetry.Logger.Error("file_storage: damaged storage file moved aside; what could be read was kept",
				zap.String("file", f), zap.String("moved_to", res.movedTo), zap.NamedError("damage", res.damage),
				zap.Int("salvaged_entries", res.salvaged), zap.Bool("entries_lost", res.lost), zap.Error(err))
			continue
		}
		if err != nil {
			s.telemetry.Logger.Warn("file_storage: cannot check storage file", zap.String("file", f), zap.Error(err))
		}
	}
}

// GetClient returns contrib's client for the component, guarded against a
// full file system (guard.go), laying large values out in their own bbolt
// leaves (client.go).
func (s *sizedStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	if s.guard.reserve != 0 {
		c = &guardedClient{Client: c, s: s}
	}
	return newLayoutClient(c), nil
}

func metricAttrs(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(kvs...)
}

// Shutdown unregisters the gauge, then shuts contrib's extension down.
func (s *sizedStorage) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.builder != nil {
		s.builder.Shutdown()
		s.builder = nil
	}
	s.mu.Unlock()
	return s.Extension.Shutdown(ctx)
}

// observe reports the size of each regular file directly in the
// directory, at collection time. Subdirectories are not entered, symlinks
// not followed; a file removed between listing and stat is skipped.
func (s *sizedStorage) observe(_ context.Context, o metric.Int64Observer) error {
	dir, err := os.Open(s.directory)
	if err != nil {
		s.logReadError(err)
		return nil
	}
	defer dir.Close()
	// At most maxFiles entries; io.EOF means an empty directory.
	entries, err := dir.ReadDir(maxFiles)
	if err != nil && !errors.Is(err, io.EOF) {
		s.logReadError(err)
	}
	if len(entries) == maxFiles && !s.truncLogged.Swap(true) {
		s.telemetry.Logger.Warn("file_storage: directory has more files than the size gauge reports",
			zap.String("directory", s.directory), zap.Int("reported", maxFiles))
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		o.Observe(info.Size(), metric.WithAttributes(s.id, attribute.String("file", e.Name())))
	}
	return nil
}

func (s *sizedStorage) logReadError(err error) {
	if !s.readErrLogged.Swap(true) {
		s.telemetry.Logger.Warn("file_storage: cannot list the directory for the size gauge", zap.String("directory", s.directory), zap.Error(err))
	}
}
