// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package keepalive

import (
	"testing"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
)

func TestAtLeast(t *testing.T) {
	t.Parallel()
	withKeepalive := confighttp.NewDefaultClientConfig()
	withKeepalive.Keepalive = configoptional.Some(confighttp.NewDefaultKeepaliveClientConfig())
	flat := confighttp.NewDefaultClientConfig()
	flat.Keepalive = configoptional.None[confighttp.KeepaliveClientConfig]()
	for name, cc := range map[string]confighttp.ClientConfig{"keepalive": withKeepalive, "flat fields": flat} {
		if got := PerHost(AtLeast(cc, 9)); got != 9 {
			t.Errorf("%s: unset limit became %d, want 9", name, got)
		}
		if got := PerHost(cc); got != 0 {
			t.Errorf("%s: AtLeast changed its argument (%d)", name, got)
		}
		set := AtLeast(cc, 3)
		if got := PerHost(AtLeast(set, 9)); got != 3 {
			t.Errorf("%s: an explicit limit became %d, want 3 kept", name, got)
		}
	}
}

// PerHost is the idle-connection limit per host ToClient will use.
func PerHost(cc confighttp.ClientConfig) int {
	if ka := cc.Keepalive.Get(); ka != nil {
		return ka.MaxIdleConnsPerHost
	}
	return cc.MaxIdleConnsPerHost //nolint:staticcheck // the flat field
}
