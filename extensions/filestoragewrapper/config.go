// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
)

// Config is contrib's file storage configuration, unchanged: the same keys
// (`directory`, `create_directory`, `timeout`, `compaction`, `fsync`, ...),
// defaults and validation. An alias, so contrib's extension accepts it.
type Config = filestorage.Config

var _ component.Config = (*Config)(nil)
