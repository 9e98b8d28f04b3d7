// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"

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
}

var _ storage.Extension = (*sizedStorage)(nil)

func newSizedStorage(ext storage.Extension, id component.ID, directory string, set component.TelemetrySettings) *sizedStorage {
	return &sizedStorage{Extension: ext, directory: directory, id: attribute.String("extension", id.String()), telemetry: set}
}

// Start starts contrib's extension, then registers the size gauge.
func (s *sizedStorage) Start(ctx context.Context, host component.Host) error {
	if err := s.Extension.Start(ctx, host); err != nil {
		return err
	}
	tb, err := metadata.NewTelemetryBuilder(s.telemetry)
	if err == nil {
		err = tb.RegisterExtensionFileStorageFileSizeCallback(s.observe)
	}
	if err != nil {
		// The gauge is an addition; the storage itself works without it.
		s.telemetry.Logger.Warn("file_storage: cannot register the file size gauge", zap.Error(err))
		if tb != nil {
			tb.Shutdown()
		}
		return nil
	}
	s.mu.Lock()
	s.builder = tb
	s.mu.Unlock()
	return nil
}

// GetClient returns contrib's client for the component, laying large values
// out in their own bbolt leaves (see layoutClient).
func (s *sizedStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, err
	}
	return newLayoutClient(c), nil
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
