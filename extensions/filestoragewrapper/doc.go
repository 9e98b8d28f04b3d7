// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package filestoragewrapper is a wrapper of contrib's `file_storage`
// extension (github.com/open-telemetry/opentelemetry-collector-contrib/
// extension/storage/filestorage), not an extension of its own: it registers
// contrib's component type, its configuration type (an alias), defaults,
// validation and stability, and the storage clients exporters get are
// contrib's. What it adds: a gauge of the bytes on disk of each file in
// the extension's directory, which is where exporters keep their persistent
// sending queues; a check of those files at start that moves a damaged one
// aside and keeps what reads (vet.go); and a guard that refuses new data
// while the file system is nearly full, so the queues can still drain and
// compact (guard.go). upstream_test.go checks that the wrapper still matches
// the extension it wraps: run it after every contrib upgrade.
package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"
