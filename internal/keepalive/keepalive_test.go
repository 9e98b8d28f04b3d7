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
	cc := confighttp.NewDefaultClientConfig()
	if got := perHost(AtLeast(cc, 9)); got != 9 {
		t.Errorf("unset limit became %d, want 9", got)
	}
	if got := perHost(cc); got != 0 {
		t.Errorf("AtLeast changed its argument (%d)", got)
	}
	set := AtLeast(cc, 3)
	if got := perHost(AtLeast(set, 9)); got != 3 {
		t.Errorf("an explicit limit became %d, want 3 kept", got)
	}
}

func TestAtLeastKeepsKeepalivesDisabled(t *testing.T) {
	t.Parallel()
	cc := confighttp.NewDefaultClientConfig()
	cc.Keepalive = configoptional.None[confighttp.KeepaliveClientConfig]()
	if got := AtLeast(cc, 9); got.Keepalive.HasValue() {
		t.Errorf("keep-alives disabled by the user were turned on: %+v", got.Keepalive.Get())
	}
}

// perHost is the idle-connection limit per host ToClient will use.
func perHost(cc confighttp.ClientConfig) int {
	if ka := cc.Keepalive.Get(); ka != nil {
		return ka.MaxIdleConnsPerHost
	}
	return 0
}
