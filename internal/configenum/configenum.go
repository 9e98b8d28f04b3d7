// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package configenum reads the enum-like strings of component configs: a
// typed string whose UnmarshalText accepts its listed values only, as the
// collector's `EncodingType` does (otlphttpexporter/config.go).
package configenum // import "github.com/vigil-otel/vigil/internal/configenum"

import (
	"fmt"
	"slices"
)

// Set stores text in *dst when it is one of allowed. Otherwise it leaves *dst
// alone and returns `invalid <key> "<text>": <rule>`, where rule lists the
// allowed values for the user (e.g. "must be v1 or v2").
func Set[T ~string](dst *T, text []byte, key, rule string, allowed ...T) error {
	if v := T(text); slices.Contains(allowed, v) {
		*dst = v
		return nil
	}
	return fmt.Errorf("invalid %s %q: %s", key, string(text), rule)
}
