// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/internal/metadata"
)

// The reject logger's sampler (448 KiB of counters) is built only when Loki
// first refuses entries, not with the exporter.
func TestRejectLoggerBuiltOnFirstUse(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	assert.Nil(t, e.rejectLog.sampled, "no sampler before a refusal")
	l := e.rejectLog.logger()
	require.NotNil(t, l)
	assert.Same(t, l, e.rejectLog.sampled)
	assert.Same(t, l, e.rejectLog.logger(), "one sampler per exporter")
}
