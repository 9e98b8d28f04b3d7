// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate go run ./internal/gen

// Package dashboards defines Vigil's Grafana dashboards in Go and renders
// them to the JSON files next to this file (gateway-health.json,
// kernel-network.json, anomalies.json, service-overview.json,
// pod-health.json), which are committed and shipped by the Helm chart.
// Regenerate with `go generate ./dashboards/`; TestGeneratedUpToDate fails
// when the JSON is stale.
//
// The dashboards are built with the Grafana Foundation SDK
// (github.com/grafana/grafana-foundation-sdk/go v0.0.22, Apache-2.0), Grafana's
// dashboard model generated from its schemas (schemaVersion 42); model.go
// holds Vigil's conventions on top of it (datasource variables, layout, panel
// styles, and the Jaeger search query, which the SDK has no type for).
//
// Every query is written against what Vigil really emits; the e2e test
// test/e2e/dashboards_test.go runs each one against real Prometheus and Loki.
package dashboards // import "github.com/vigil-otel/vigil/dashboards"
