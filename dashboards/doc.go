// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go run ./internal/gen

// Package dashboards defines Vigil's Grafana dashboards in Go and renders
// them to the JSON files next to this file (gateway-health.json,
// kernel-network.json, anomalies.json, service-overview.json), which are
// committed and shipped by the Helm chart. Regenerate with `go generate
// ./dashboards/`; TestGeneratedUpToDate fails when the JSON is stale.
//
// The Grafana Foundation SDK (github.com/grafana/grafana-foundation-sdk/go)
// is the library for this, but the module proxy here serves no version of
// it, so the few parts of the dashboard model Vigil uses are written out
// below; the JSON follows Grafana's dashboard schema (schemaVersion 39,
// Grafana >= 10).
//
// Every query is written against what Vigil really emits; the e2e test
// test/e2e/dashboards_test.go runs each one against real Prometheus and Loki.
package dashboards // import "github.com/vigil-otel/vigil/dashboards"
