// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadata"
)

func TestFactory(t *testing.T) {
	t.Parallel()
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.MetricsStability, f.MetricsStability())
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
}

// TestReceiverDeliversFixtureScrape runs the receiver through the scraper
// controller on the v2 fixture tree: the scrape it makes right after Start
// (initial_delay 0) reaches the next consumer.
func TestReceiverDeliversFixtureScrape(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, "v2")
	cfg.Controller.InitialDelay = 0
	cfg.Controller.CollectionInterval = time.Hour
	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) > 0 }, 10*time.Second, 10*time.Millisecond)
	md := sink.AllMetrics()[0]
	// three containers and the node.
	assert.Equal(t, 4, md.ResourceMetrics().Len())
}

func TestReceiverStartFailsWithoutHierarchy(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = "/nonexistent"
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = r.Start(context.Background(), componenttest.NewNopHost())
	require.EqualError(t, err, "cgroup receiver: no cgroup v2 hierarchy and no v1 cpu, cpuacct or memory hierarchy is mounted at or under /nonexistent")
	require.NoError(t, r.Shutdown(context.Background()))
}
