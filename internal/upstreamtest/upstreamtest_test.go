// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package upstreamtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// limitConfig stands for a component's configuration; msg is its
// validation message (a wrapper that validates on its own would say
// something else).
type limitConfig struct {
	Limit int    `mapstructure:"limit"`
	msg   string `mapstructure:"-"`
}

func (c *limitConfig) Validate() error {
	if c.Limit < 0 {
		return errors.New(c.msg)
	}
	return nil
}

func newConfig(limit int, msg string) func() component.Config {
	return func() component.Config { return &limitConfig{Limit: limit, msg: msg} }
}

func newFactory(typ string, cfg func() component.Config) extension.Factory {
	return extension.NewFactory(component.MustNewType(typ), cfg,
		func(context.Context, extension.Settings, component.Config) (extension.Extension, error) {
			return nil, nil
		},
		component.StabilityLevelBeta)
}

// recorder is an assert.TestingT that records failures.
type recorder struct{ errs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const upstreamMsg = "'limit' must not be negative"

var (
	upstream = newFactory("x", newConfig(1, upstreamMsg))
	configs  = []Config{
		{Name: "valid", Conf: map[string]any{"limit": 3}, Valid: true},
		{Name: "negative", Conf: map[string]any{"limit": -1}},
		{Name: "unknown key", Conf: map[string]any{"limt": 3}},
	}
)

func TestSameWrapperPasses(t *testing.T) {
	t.Parallel()
	same := newFactory("x", newConfig(1, upstreamMsg))
	AssertSameFactory(t, upstream, same)
	AssertSameValidation(t, upstream, same, configs)
}

func TestDifferentFactoryFails(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]extension.Factory{
		"other type":    newFactory("y", newConfig(1, upstreamMsg)),
		"other default": newFactory("x", newConfig(2, upstreamMsg)),
	} {
		var r recorder
		AssertSameFactory(&r, upstream, f)
		assert.Len(t, r.errs, 1, name)
	}
}

func TestValidationDifferences(t *testing.T) {
	t.Parallel()
	other := newFactory("x", newConfig(1, "limit is negative"))
	assert.Equal(t, []string{"negative: upstream says 'limit' must not be negative, the wrapper limit is negative"},
		ValidationDifferences(upstream, other, configs))
	wrongCase := []Config{{Name: "wrong", Conf: map[string]any{"limit": -1}, Valid: true}}
	assert.Equal(t, []string{"wrong: upstream says 'limit' must not be negative, the case expects valid=true"},
		ValidationDifferences(upstream, upstream, wrongCase))
}
