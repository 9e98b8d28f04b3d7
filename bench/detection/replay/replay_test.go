// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package replay

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixNano()

// noisyGauge is n points every step of N(100, 1) noise, with the points in
// spike set to 100+height.
func noisyGauge(n int, step time.Duration, spike map[int]bool, height float64) Series {
	rng := rand.New(rand.NewPCG(1, 2))
	s := Series{Name: "g", Kind: Gauge}
	for i := range n {
		v := 100 + rng.NormFloat64()
		if spike[i] {
			v = 100 + height
		}
		s.Points = append(s.Points, Point{T: t0 + int64(i)*int64(step), V: v})
	}
	return s
}

func TestReplayGaugeSpikeFiresAndResolves(t *testing.T) {
	t.Parallel()
	spike := map[int]bool{}
	for i := 200; i < 210; i++ {
		spike[i] = true
	}
	s := noisyGauge(300, 10*time.Second, spike, 1000)
	// The series is 50 minutes long: without seasonality (whose warm-up is
	// one period) and without immediate_score, to pin `for`.
	res, err := Replay(t.Context(), s, Options{Rule: map[string]any{"seasonality": map[string]any{"enabled": false}, "immediate_score": 0}})
	require.NoError(t, err)
	require.Len(t, res.Steps, len(s.Points))

	assert.False(t, res.Steps[0].HasScore, "the first point only seeds the baseline")
	for i, st := range res.Steps {
		assert.Equal(t, s.Points[i].T, st.T)
		if i > 0 {
			assert.True(t, st.HasScore, "point %d has a score", i)
		}
	}
	assert.Greater(t, res.Steps[200].Score, 50.0, "the spike's first point scores far above k")

	// Transitions: pending at the spike's start, firing once `for` (1m by
	// default: 6 points) has passed, resolved after it.
	require.NotEmpty(t, res.Events)
	assert.Equal(t, "pending", res.Events[0].State)
	assert.Equal(t, s.Points[200].T, res.Events[0].T)
	firings := res.Firings()
	require.Len(t, firings, 1)
	assert.Equal(t, s.Points[206].T, firings[0])
	assert.Equal(t, "resolved", res.Events[len(res.Events)-1].State)

	// The `_alert` output agrees with the transitions.
	for i, st := range res.Steps {
		want := st.T >= firings[0] && st.T < res.Events[len(res.Events)-1].T
		assert.Equal(t, want, st.Firing, "point %d firing", i)
	}
}

func TestReplayRuleOverride(t *testing.T) {
	t.Parallel()
	s := noisyGauge(100, time.Minute, map[int]bool{80: true}, 1000)
	res, err := Replay(t.Context(), s, Options{Rule: map[string]any{"for": "0s", "seasonality": map[string]any{"enabled": false}}})
	require.NoError(t, err)
	require.NotEmpty(t, res.Events)
	assert.Equal(t, "firing", res.Events[0].State, "for: 0 fires on the first anomalous sample")
	assert.Equal(t, s.Points[80].T, res.Events[0].T)
}

func TestReplayCounterRateAndReset(t *testing.T) {
	t.Parallel()
	s := Series{Name: "c", Kind: Counter}
	total := 0.0
	for i := range 60 {
		if i == 30 {
			total = 0 // process restart: the counter starts over
		}
		total += 10
		start := t0
		if i >= 30 {
			start = t0 + 30*int64(time.Minute)
		}
		s.Points = append(s.Points, Point{T: t0 + int64(i)*int64(time.Minute), V: total, Start: start})
	}
	res, err := Replay(t.Context(), s, Options{})
	require.NoError(t, err)
	assert.False(t, res.Steps[0].HasScore, "a counter's first point has no rate")
	assert.False(t, res.Steps[1].HasScore, "the second point seeds the rate baseline")
	assert.True(t, res.Steps[2].HasScore)
	assert.False(t, res.Steps[30].HasScore, "the reset interval is skipped")
	assert.True(t, res.Steps[32].HasScore)
	assert.Empty(t, res.Events, "a constant rate never alerts")
}

func TestReplayRefusesUnorderedPoints(t *testing.T) {
	t.Parallel()
	s := Series{Name: "bad", Points: []Point{{T: 2, V: 1}, {T: 2, V: 1}}}
	_, err := Replay(t.Context(), s, Options{})
	require.ErrorContains(t, err, "is not after point 0")
}

func TestReplayInvalidOption(t *testing.T) {
	t.Parallel()
	_, err := Replay(t.Context(), noisyGauge(3, time.Second, nil, 0), Options{Rule: map[string]any{"k": -1}})
	require.ErrorContains(t, err, "`k` (-1) must be a finite number greater than 0")
}
