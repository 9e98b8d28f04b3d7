// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package lokiexporter sends logs to Loki's push API (/loki/api/v1/push) as a
// snappy-compressed protobuf PushRequest. Which resource and log-record
// attributes become index labels is chosen by configuration; trace context and
// selected attributes travel as structured metadata; each stream is kept in
// order across batches and retries.
package lokiexporter // import "github.com/vigil-otel/vigil/exporters/lokiexporter"
