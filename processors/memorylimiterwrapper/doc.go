// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package memorylimiterwrapper is a wrapper of the collector core's
// `memory_limiter` processor (go.opentelemetry.io/collector/processor/
// memorylimiterprocessor), not a processor of its own: it registers the
// core's component type, its configuration type (an alias), defaults,
// validation and stability, and every processor it creates is the core's.
// What it adds are two gauges the core does not publish, the effective hard
// and soft limits in bytes; the dashboards draw the Go heap
// (otelcol_process_runtime_heap_alloc) against them, which is what the
// limiter compares.
//
// The limits are recomputed here (the core keeps them in an internal
// package), and the factory relies on an unexported interface of the
// collector's meter provider (see attributeDropper). upstream_test.go checks
// that the wrapper still matches the core it wraps: run it after every
// collector upgrade.
package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"
