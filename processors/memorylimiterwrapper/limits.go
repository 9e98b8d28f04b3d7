// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper // import "github.com/vigil-otel/vigil/processors/memorylimiterwrapper"

const mibBytes = 1024 * 1024

// limits are the memory limiter's effective thresholds in bytes of Go heap
// (runtime.MemStats.Alloc, which the limiter compares against them).
type limits struct {
	hard uint64 // limit: above it the limiter forces a GC and refuses data
	soft uint64 // hard - spike: above it the limiter refuses data
}

// effectiveLimits computes the thresholds the core memory limiter of
// collector v0.165.0 derives from cfg (internal/memorylimiter
// getMemUsageChecker, newFixedMemUsageChecker, newPercentageMemUsageChecker):
//   - limit_mib set: hard = limit_mib MiB, spike = spike_limit_mib MiB; the
//     percentages are ignored.
//   - otherwise hard = limit_percentage % and spike = spike_limit_percentage %
//     of the total memory (integer division, as the core does).
//   - a spike of 0 means 20 % of the hard limit.
//
// totalMemory is only called in the percentage case.
func effectiveLimits(cfg *Config, totalMemory func() (uint64, error)) (limits, error) {
	var hard, spike uint64
	if cfg.MemoryLimitMiB != 0 {
		hard = uint64(cfg.MemoryLimitMiB) * mibBytes
		spike = uint64(cfg.MemorySpikeLimitMiB) * mibBytes
	} else {
		total, err := totalMemory()
		if err != nil {
			return limits{}, err
		}
		hard = uint64(cfg.MemoryLimitPercentage) * total / 100
		spike = uint64(cfg.MemorySpikePercentage) * total / 100
	}
	if spike == 0 {
		spike = hard / 5
	}
	// Validate keeps spike below the limit; guard anyway so a gauge never
	// wraps around.
	if spike > hard {
		spike = hard
	}
	return limits{hard: hard, soft: hard - spike}, nil
}
