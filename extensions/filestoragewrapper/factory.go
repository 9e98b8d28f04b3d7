// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"context"
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/vigil-otel/vigil/extensions/filestoragewrapper/internal/metadata"
)

// NewFactory returns the factory of the `file_storage` extension.
func NewFactory() extension.Factory {
	contrib := filestorage.NewFactory()
	return extension.NewFactory(metadata.Type, contrib.CreateDefaultConfig,
		func(ctx context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
			ext, err := contrib.Create(ctx, set, cfg)
			if err != nil {
				return nil, err
			}
			st, ok := ext.(storage.Extension)
			if !ok {
				return nil, fmt.Errorf("BUG: contrib's file_storage extension is a %T, not a storage.Extension", ext)
			}
			return newSizedStorage(st, set.ID, cfg.(*Config), set.TelemetrySettings), nil
		},
		metadata.ExtensionStability)
}
