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
// max_idle_conns_per_host is set. net/http otherwise keeps 2
// (DefaultMaxIdleConnsPerHost): an exporter sending n > 2 requests at once
// had the other connections closed after every request and dialled again.
func AtLeast(cc confighttp.ClientConfig, n int) confighttp.ClientConfig {
	if ka := cc.Keepalive.Get(); ka != nil {
		if ka.MaxIdleConnsPerHost == 0 {
			k := *ka
			k.MaxIdleConnsPerHost = n
			cc.Keepalive = configoptional.Some(k)
		}
	} else if cc.MaxIdleConnsPerHost == 0 { //nolint:staticcheck // the flat field is what Unmarshal fills when Keepalive is unset (v0.162)
		cc.MaxIdleConnsPerHost = n //nolint:staticcheck // as above
	}
	return cc
}
