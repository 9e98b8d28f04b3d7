// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package keepalive sizes an HTTP client's idle connection pool for
// exporters that send on several connections at once.
package keepalive // import "github.com/vigil-otel/vigil/internal/keepalive"

import (
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
)

// AtLeast returns cc keeping n idle connections per host unless
// keepalive::max_idle_conns_per_host is set. net/http otherwise keeps 2
// (DefaultMaxIdleConnsPerHost): an exporter sending n > 2 requests at once
// had the other connections closed after every request and dialled again.
//
// Since confighttp v1.71.0 the `keepalive` section is the only place for the
// limit (the flat max_idle_conns_per_host field of v0.162 is gone). With the
// section disabled (keepalive: enabled: false) ToClient turns keep-alives off,
// so there is no pool to size and cc is returned unchanged.
func AtLeast(cc confighttp.ClientConfig, n int) confighttp.ClientConfig {
	if ka := cc.Keepalive.Get(); ka != nil && ka.MaxIdleConnsPerHost == 0 {
		k := *ka
		k.MaxIdleConnsPerHost = n
		cc.Keepalive = configoptional.Some(k)
	}
	return cc
}
