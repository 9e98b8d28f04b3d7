// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"

	"github.com/vigil-otel/vigil/internal/configtest"
)

// TestDefaultListenersLoopback resolves the embedded default configuration
// as vigil does (no VIGIL_* variables set) and checks that every address it
// listens on is a loopback address, and that no debug extension (pprof,
// zpages) is enabled: a node agent must open nothing to the network unless
// its operator says so.
func TestDefaultListenersLoopback(t *testing.T) {
	for _, kv := range []string{
		"VIGIL_OTLP_GRPC_ENDPOINT", "VIGIL_OTLP_HTTP_ENDPOINT", "VIGIL_HEALTH_ENDPOINT",
		"VIGIL_TELEMETRY_HOST", "VIGIL_TELEMETRY_PORT",
	} {
		t.Setenv(kv, "") // restored after the test
		require.NoError(t, os.Unsetenv(kv))
	}
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs: []string{defaultConfigURI},
		ProviderFactories: []confmap.ProviderFactory{
			newDefaultConfigProviderFactory(defaultConfig),
			envprovider.NewFactory(),
		},
		DefaultScheme: "env",
	})
	require.NoError(t, err)
	conf, err := resolver.Resolve(context.Background())
	require.NoError(t, err)
	cfg := conf.ToStringMap()

	var listeners []string
	for _, section := range []string{"receivers", "extensions"} {
		comps, _ := cfg[section].(map[string]any)
		for id, c := range comps {
			collectEndpoints(section+"::"+id, c, &listeners, t)
		}
	}
	// The self-telemetry Prometheus endpoint: host and port.
	readers := configtest.Dig(cfg, "service", "telemetry", "metrics", "readers")
	list, _ := readers.([]any)
	for _, r := range list {
		if p, ok := configtest.Dig(r, "pull", "exporter", "prometheus").(map[string]any); ok {
			host, _ := p["host"].(string)
			port := p["port"]
			checkLoopback(t, "service::telemetry prometheus reader", net.JoinHostPort(host, toString(port)))
			listeners = append(listeners, "telemetry")
		}
	}
	require.NotEmpty(t, listeners, "found no listener at all: the walk is broken")
	t.Logf("listeners checked: %s", strings.Join(listeners, ", "))

	exts, _ := configtest.Dig(cfg, "service", "extensions").([]any)
	for _, e := range exts {
		name, _ := e.(string)
		typ, _, _ := strings.Cut(name, "/")
		if typ == "pprof" || typ == "zpages" {
			t.Errorf("debug extension %q is enabled by default", name)
		}
	}
}

// collectEndpoints checks every `endpoint` key at any depth under a
// component's config.
func collectEndpoints(path string, v any, out *[]string, t *testing.T) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, sub := range m {
		p := path + "::" + k
		if k == "endpoint" {
			s, _ := sub.(string)
			checkLoopback(t, p, s)
			*out = append(*out, p)
			continue
		}
		collectEndpoints(p, sub, out, t)
	}
}

func checkLoopback(t *testing.T, where, addr string) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: %q is not host:port: %v", where, addr, err)
		return
	}
	if host == "localhost" {
		return
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		t.Errorf("%s listens on %q: the default must be a loopback address", where, addr)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	default:
		return ""
	}
}
