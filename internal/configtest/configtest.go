// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package configtest reads a component's testdata configuration the way the
// collector does (section, unmarshal, validate), so that every component's
// config tests say only what they expect.
package configtest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// Unmarshal reads testdata/<file>, takes its section id (the whole file when id
// is ""), and unmarshals it into cfg. The test fails when the file cannot be
// read or has no such section; the unmarshal error is returned, so that tests
// of misspelt keys can assert on it.
func Unmarshal(t testing.TB, file, id string, cfg component.Config) error {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	if id != "" {
		require.Truef(t, cm.IsSet(id), "%s has no section %q", file, id)
		cm, err = cm.Sub(id)
		require.NoError(t, err)
	}
	return cm.Unmarshal(cfg)
}

// Load is Unmarshal followed by the collector's validation of the whole
// configuration tree; the test fails on either error.
func Load(t testing.TB, file, id string, cfg component.Config) {
	t.Helper()
	require.NoError(t, Unmarshal(t, file, id, cfg))
	require.NoError(t, confmap.Validate(cfg))
}

// Bad is a configuration that must be refused, and how.
type Bad struct {
	File string
	ID   string // section of File; "" for the whole file
	// Unmarshal is a substring of the unmarshal error (unknown keys, enum
	// values). When it is set, nothing is validated.
	Unmarshal string
	// Validate is the exact error of the collector's validation.
	Validate string
	// ValidateContains are substrings of it, for joined errors whose order
	// is not the point of the test.
	ValidateContains []string
}

// RunBad checks each case in a parallel subtest named after its file, on a
// fresh configuration from newConfig (usually the factory's default).
func RunBad(t *testing.T, newConfig func() component.Config, cases []Bad) {
	t.Helper()
	for _, tc := range cases {
		name := tc.File
		if tc.ID != "" {
			name += "/" + tc.ID
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := newConfig()
			err := Unmarshal(t, tc.File, tc.ID, cfg)
			if tc.Unmarshal != "" {
				assert.ErrorContains(t, err, tc.Unmarshal)
				return
			}
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			require.Error(t, err, "the configuration must be refused")
			if tc.Validate != "" {
				assert.EqualError(t, err, tc.Validate)
			}
			for _, s := range tc.ValidateContains {
				assert.ErrorContains(t, err, s)
			}
		})
	}
}

// Dig returns the value under keys in a decoded YAML or JSON tree (nested
// map[string]any), or nil when a key is missing or a value on the way is not
// a map. For tests of whole configs: the default config, the chart's.
func Dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
