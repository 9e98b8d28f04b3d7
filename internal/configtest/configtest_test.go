// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package configtest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
)

type testConfig struct {
	Name  string `mapstructure:"name"`
	Limit int    `mapstructure:"limit"`
}

func (c *testConfig) Validate() error {
	var errs []error
	if c.Limit < 1 {
		errs = append(errs, errors.New("`limit` must be at least 1"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("`name` must be set"))
	}
	return errors.Join(errs...)
}

func newTestConfig() component.Config { return &testConfig{Limit: 1} }

func TestLoad(t *testing.T) {
	t.Parallel()
	cfg := &testConfig{}
	Load(t, "config.yaml", "thing/custom", cfg)
	assert.Equal(t, &testConfig{Name: "custom", Limit: 5}, cfg)

	whole := &testConfig{}
	require.NoError(t, Unmarshal(t, "bad_both.yaml", "", whole))
	assert.Equal(t, &testConfig{Limit: 0}, whole)
}

func TestUnmarshalUnknownKey(t *testing.T) {
	t.Parallel()
	err := Unmarshal(t, "bad_key.yaml", "", &testConfig{})
	assert.ErrorContains(t, err, "has invalid keys: limt")
}

func TestRunBad(t *testing.T) {
	t.Parallel()
	RunBad(t, newTestConfig, []Bad{
		{File: "bad_key.yaml", Unmarshal: "has invalid keys: limt"},
		{File: "config.yaml", ID: "thing/unnamed", Validate: "`name` must be set"},
		{File: "bad_both.yaml", ValidateContains: []string{"`limit` must be at least 1", "`name` must be set"}},
	})
}

func TestDig(t *testing.T) {
	t.Parallel()
	tree := map[string]any{"service": map[string]any{"extensions": []any{"health_check"}, "name": "vigil"}}
	assert.Equal(t, []any{"health_check"}, Dig(tree, "service", "extensions"))
	assert.Equal(t, "vigil", Dig(tree, "service", "name"))
	assert.Equal(t, tree, Dig(tree))
	assert.Nil(t, Dig(tree, "service", "missing"))
	assert.Nil(t, Dig(tree, "service", "name", "deeper"), "a string on the way")
	assert.Nil(t, Dig(nil, "service"))
}
