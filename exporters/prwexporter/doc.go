// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package prwexporter exports metrics to Prometheus remote-write 1.0 and 2.0
// receivers. Series are sharded by identity so that concurrent sends and
// retries never reorder the samples of one series.
package prwexporter // import "github.com/vigil-otel/vigil/exporters/prwexporter"
