// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
)

// Config is the core memory limiter's configuration, unchanged: the same
// keys, defaults and validation (`check_interval`, `limit_mib`,
// `spike_limit_mib`, `limit_percentage`, `spike_limit_percentage`, the GC
// intervals). An alias, so the core processor accepts it as its own.
type Config = memorylimiterprocessor.Config

var _ component.Config = (*Config)(nil)
