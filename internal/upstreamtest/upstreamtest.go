// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package upstreamtest checks that a wrapper of an upstream component (the
// packages under processors/ and extensions/) still presents the upstream
// component unchanged: the same type, default configuration, and result
// of unmarshalling and validating a configuration. The wrappers' tests run
// it against the upstream modules in go.mod, so an upgrade that changes
// what a wrapper re-exports fails there rather than in a running gateway.
package upstreamtest // import "github.com/vigil-otel/vigil/internal/upstreamtest"

import (
	"fmt"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// AssertSameFactory checks that the wrapper's factory has the upstream
// factory's type and default configuration.
func AssertSameFactory(t assert.TestingT, upstream, wrapper component.Factory) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	assert.Equal(t, upstream.Type(), wrapper.Type(), "component type")
	assert.Equal(t, upstream.CreateDefaultConfig(), wrapper.CreateDefaultConfig(), "default configuration")
}

// Config is a configuration, as YAML would give it, and whether upstream
// accepts it.
type Config struct {
	Name  string
	Conf  map[string]any
	Valid bool
}

// AssertSameValidation checks that ValidationDifferences finds none.
func AssertSameValidation(t assert.TestingT, upstream, wrapper component.Factory, configs []Config) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	assert.Empty(t, ValidationDifferences(upstream, wrapper, configs))
}

// ValidationDifferences unmarshals and validates each configuration into
// the default configuration of each factory, as the collector does, and
// describes every configuration that upstream and the wrapper do not
// handle alike (one accepts it and the other not, or their messages
// differ), and every one whose validity upstream does not agree with.
func ValidationDifferences(upstream, wrapper component.Factory, configs []Config) []string {
	var diffs []string
	for _, c := range configs {
		upstreamErr := loadAndValidate(upstream.CreateDefaultConfig(), c.Conf)
		wrapperErr := loadAndValidate(wrapper.CreateDefaultConfig(), c.Conf)
		switch {
		case (upstreamErr == nil) != c.Valid:
			diffs = append(diffs, fmt.Sprintf("%s: upstream says %v, the case expects valid=%v", c.Name, upstreamErr, c.Valid))
		case upstreamErr == nil && wrapperErr == nil:
		case upstreamErr == nil || wrapperErr == nil || upstreamErr.Error() != wrapperErr.Error():
			diffs = append(diffs, fmt.Sprintf("%s: upstream says %v, the wrapper %v", c.Name, upstreamErr, wrapperErr))
		}
	}
	return diffs
}

func loadAndValidate(cfg component.Config, conf map[string]any) error {
	if err := confmap.NewFromStringMap(conf).Unmarshal(cfg); err != nil {
		return err
	}
	return confmap.Validate(cfg)
}
