// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package filestorage provides the `file_storage` extension: contrib's
// file storage extension (same configuration, validation and storage
// clients; the extension doing the work is contrib's) plus a gauge of the
// bytes on disk of each file in its directory, which is where exporters
// keep their persistent sending queues.
package filestorage // import "github.com/vigil-otel/vigil/extensions/filestorage"
