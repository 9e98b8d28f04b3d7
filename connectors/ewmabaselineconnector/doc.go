// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package ewmabaselineconnector implements the `ewma_baseline` connector:
// per-series exponentially weighted baselines, k·σ bands, anomaly scores,
// alert state and alert transitions as log records (and, optionally,
// Alertmanager v2 alerts).
//
// It is a connector (metrics → metrics and metrics → logs), not a processor.
// A processor can only emit the signal it receives, so alert records
// would need a second component that re-derives the transitions from the
// alert-state series and keeps its own per-series state. One connector keeps
// one state table, one configuration and one place that decides a
// transition. The metrics → metrics side emits only the derived series
// (baseline, bands, score, alert state); the raw metrics reach their
// exporters through the pipeline that feeds the connector, so nothing is
// cloned on the hot path. When the connector is used in both a metrics and a
// logs pipeline, the two instances the collector creates share one engine
// (kept on the factory, keyed by component ID) and only one of them consumes
// the input; see factory.go.
package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"
