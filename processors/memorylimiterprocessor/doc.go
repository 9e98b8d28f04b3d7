// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package memorylimiterprocessor provides the `memory_limiter` processor:
// the collector core's memory limiter (same configuration, defaults,
// validation and behaviour; the processors it creates are the core's) plus
// two gauges the core does not publish, the effective hard and soft limits in
// bytes. The dashboards draw the Go heap (otelcol_process_runtime_heap_alloc)
// against them, which is what the limiter compares.
package memorylimiterprocessor // import "github.com/vigil-otel/vigil/processors/memorylimiterprocessor"
