// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package memorylimiterwrapper

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEffectiveLimits(t *testing.T) {
	t.Parallel()
	const total = 10 * 1024 * mibBytes // 10 GiB
	tests := []struct {
		name       string
		cfg        Config
		hard, soft uint64
	}{
		{"mib", Config{MemoryLimitMiB: 2048, MemorySpikeLimitMiB: 512}, 2048 * mibBytes, 1536 * mibBytes},
		{"mib, spike defaults to 20%", Config{MemoryLimitMiB: 1000}, 1000 * mibBytes, 800 * mibBytes},
		{"mib wins over percentages", Config{MemoryLimitMiB: 100, MemorySpikeLimitMiB: 10, MemoryLimitPercentage: 80, MemorySpikePercentage: 20}, 100 * mibBytes, 90 * mibBytes},
		{"percentages", Config{MemoryLimitPercentage: 80, MemorySpikePercentage: 20}, total * 80 / 100, total*80/100 - total*20/100},
		{"percentage, spike defaults to 20% of the limit", Config{MemoryLimitPercentage: 50}, total / 2, total/2 - total/2/5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := effectiveLimits(&tt.cfg, func() (uint64, error) { return total, nil })
			require.NoError(t, err)
			assert.Equal(t, tt.hard, l.hard, "hard")
			assert.Equal(t, tt.soft, l.soft, "soft")
		})
	}
}

func TestEffectiveLimitsPercentageRounding(t *testing.T) {
	t.Parallel()
	// Integer arithmetic as in the core: pct*total/100, not total/100*pct.
	l, err := effectiveLimits(&Config{MemoryLimitPercentage: 33, MemorySpikePercentage: 7}, func() (uint64, error) { return 1001, nil })
	require.NoError(t, err)
	assert.Equal(t, uint64(330), l.hard)
	assert.Equal(t, uint64(330-70), l.soft)
}

func TestEffectiveLimitsTotalMemoryError(t *testing.T) {
	t.Parallel()
	boom := errors.New("no meminfo")
	_, err := effectiveLimits(&Config{MemoryLimitPercentage: 80}, func() (uint64, error) { return 0, boom })
	require.ErrorIs(t, err, boom)

	// limit_mib never asks for the total.
	_, err = effectiveLimits(&Config{MemoryLimitMiB: 10}, func() (uint64, error) { return 0, boom })
	require.NoError(t, err)
}
