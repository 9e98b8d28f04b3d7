// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package jaegerexporter exports traces to a Jaeger collector over the gRPC
// api_v2 protocol (jaeger.api_v2.CollectorService/PostSpans).
package jaegerexporter // import "github.com/vigil-otel/vigil/exporters/jaegerexporter"
