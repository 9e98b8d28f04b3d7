// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package queuekeeptest helps the tests and benchmarks of exporters with a
// persistent sending queue: it starts the storage (Vigil's file_storage
// extension, as the default configuration runs it).
package queuekeeptest // import "github.com/vigil-otel/vigil/internal/queuekeep/queuekeeptest"

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"

	"github.com/vigil-otel/vigil/extensions/filestoragewrapper"
)

// Host is a component.Host holding extensions (the storage).
type Host map[component.ID]component.Component

// GetExtensions returns the host's extensions.
func (h Host) GetExtensions() map[component.ID]component.Component { return h }

// StartFileStorage starts a file_storage/queue extension on dir (a new
// t.TempDir() if empty) and returns a host holding it and its ID. It stops
// when tb ends; components started later on the host must be shut down
// before it (register their cleanup after this call).
func StartFileStorage(tb testing.TB, dir string) (Host, component.ID) {
	tb.Helper()
	host, sid, _ := StartStoppableFileStorage(tb, dir)
	return host, sid
}

// StartStoppableFileStorage is StartFileStorage that also returns a function
// stopping the extension earlier (to open its directory again, as a
// restarted process would); stopping twice stops once.
func StartStoppableFileStorage(tb testing.TB, dir string) (Host, component.ID, func()) {
	tb.Helper()
	ctx := context.Background()
	if dir == "" {
		dir = tb.TempDir()
	}
	sf := filestoragewrapper.NewFactory()
	scfg := sf.CreateDefaultConfig().(*filestoragewrapper.Config)
	scfg.Directory = dir
	sid := component.MustNewIDWithName("file_storage", "queue")
	ext, err := sf.Create(ctx, extension.Settings{ID: sid, TelemetrySettings: componenttest.NewNopTelemetrySettings()}, scfg)
	require.NoError(tb, err)
	host := Host{sid: ext}
	require.NoError(tb, ext.Start(ctx, host))
	stop := sync.OnceFunc(func() { require.NoError(tb, ext.Shutdown(ctx)) })
	tb.Cleanup(stop)
	return host, sid, stop
}
