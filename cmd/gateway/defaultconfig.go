// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/confmap"
)

const (
	defaultConfigScheme = "vigil"
	// defaultConfigURI names the embedded default configuration.
	defaultConfigURI = defaultConfigScheme + ":default"
)

// defaultConfigProvider serves the embedded default configuration under
// "vigil:default". It exists so that the default goes through the same
// resolver as any file: ${env:...} references in it are expanded, and
// `vigil validate` checks it like any other config.
type defaultConfigProvider struct{ yaml string }

func newDefaultConfigProviderFactory(yaml string) confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider {
		return &defaultConfigProvider{yaml: yaml}
	})
}

func (p *defaultConfigProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	if uri != defaultConfigURI {
		return nil, fmt.Errorf("unknown config %q: the only config of scheme %q is %q", uri, defaultConfigScheme, defaultConfigURI)
	}
	return confmap.NewRetrievedFromYAML([]byte(p.yaml))
}

func (*defaultConfigProvider) Scheme() string { return defaultConfigScheme }

func (*defaultConfigProvider) Shutdown(context.Context) error { return nil }
