// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package strictconfig

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
)

type level string

func (l *level) UnmarshalText(b []byte) error { *l = level(b); return nil }

type inner struct {
	Size int `mapstructure:"size"`
}

type testConfig struct {
	Client   confighttp.ClientConfig         `mapstructure:",squash"`
	Format   level                           `mapstructure:"format"`
	Interval time.Duration                   `mapstructure:"interval"`
	Labels   map[string]string               `mapstructure:"labels"`
	Nested   map[string]inner                `mapstructure:"nested"`
	Block    inner                           `mapstructure:"block"`
	Ptr      *inner                          `mapstructure:"ptr"`
	Opt      configoptional.Optional[inner]  `mapstructure:"opt"`
	List     []inner                         `mapstructure:"list"`
	Any      any                             `mapstructure:"any"`
	Skipped  string                          `mapstructure:"-"`
	OptPtr   configoptional.Optional[*inner] `mapstructure:"opt_ptr"`
}

func (c *testConfig) Unmarshal(conf *confmap.Conf) error { return Unmarshal(conf, c) }

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want []string
	}{
		{"all known", map[string]any{
			"endpoint": "http://x", "format": "json", "interval": "1s",
			"labels":  map[string]any{"a": "b"},
			"nested":  map[string]any{"x": map[string]any{"size": 1}},
			"block":   map[string]any{"size": 2},
			"ptr":     map[string]any{"size": 3},
			"opt":     map[string]any{"enabled": true, "size": 4},
			"opt_ptr": map[string]any{"size": 5},
			"list":    []any{map[string]any{"sise": 1}}, // lists are the decoder's to judge
			"any":     map[string]any{"whatever": 1},
			"tls":     map[string]any{"insecure": true},
			"headers": map[string]any{"X-A": "b"},
		}, nil},
		{"top level typo", map[string]any{"formatt": "json"}, []string{"formatt"}},
		{"squashed struct's nested typo", map[string]any{"tls": map[string]any{"insecure_skip_verfy": true}}, []string{"tls::insecure_skip_verfy"}},
		{"nested typo", map[string]any{"block": map[string]any{"sise": 1}}, []string{"block::sise"}},
		{"typo under a map value", map[string]any{"nested": map[string]any{"x": map[string]any{"sise": 1}}}, []string{"nested::x::sise"}},
		{"typo inside an optional", map[string]any{"opt": map[string]any{"sise": 1}}, []string{"opt::sise"}},
		{"typo inside an optional pointer", map[string]any{"opt_ptr": map[string]any{"sise": 1}}, []string{"opt_ptr::sise"}},
		{"skipped field is not a key", map[string]any{"-": "x", "skipped": "y"}, []string{"-", "skipped"}},
		{"several, sorted, once each", map[string]any{"zz": 1, "aa": map[string]any{"b": 1, "c": 2}}, []string{"aa", "zz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnknownKeys(confmap.NewFromStringMap(tt.in), reflect.TypeFor[*testConfig]())
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUnmarshalThroughDecoder(t *testing.T) {
	var cfg testConfig
	err := confmap.NewFromStringMap(map[string]any{"formatt": "json", "tls": map[string]any{"insecure_skip_verfy": true}}).Unmarshal(&cfg)
	require.Error(t, err)
	assert.ErrorContains(t, err, "has invalid keys: formatt, tls::insecure_skip_verfy")

	cfg = testConfig{}
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"format": "json", "endpoint": "http://x", "block": map[string]any{"size": 2}}).Unmarshal(&cfg))
	assert.Equal(t, level("json"), cfg.Format)
	assert.Equal(t, "http://x", cfg.Client.Endpoint)
	assert.Equal(t, 2, cfg.Block.Size)
}
