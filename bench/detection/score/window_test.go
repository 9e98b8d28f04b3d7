// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package score

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// series100 is 100 points at t = 0..99 with one window over points 50-59
// (probation: the first 15 points), scoring 1 at the given points, else 0.
func series100(group string, detections ...int) Scored {
	s := Scored{Group: group, T: make([]int64, 100), Score: make([]float64, 100), Windows: []Window{{50, 59}}}
	for i := range s.T {
		s.T[i] = int64(i)
	}
	for _, d := range detections {
		s.Score[d] = 1
	}
	return s
}

func TestWindowScoreHandMade(t *testing.T) {
	t.Parallel()
	// Unweighted reward at the window's last point (y = −0.1), scaled so the
	// first point earns exactly A_TP: (2/(1+e^−0.5) − 1) / (2/(1+e^−5) − 1).
	lastPoint := (2/(1+math.Exp(-0.5)) - 1) / (2/(1+math.Exp(-5)) - 1)
	// Cost of a detection one point after a 10-point window: y = 1/9.
	justAfter := 0.11 * (2/(1+math.Exp(5.0/9)) - 1)
	tests := []struct {
		name       string
		detections []int
		threshold  float64
		raw        float64
		norm       float64
		detected   int
		fps        int
	}{
		{"first point of the window", []int{50}, 1, 1, 100, 1, 0},
		{"last point of the window", []int{59}, 1, lastPoint, 100 * (lastPoint + 1) / 2, 1, 0},
		{"only the first detection in a window counts", []int{52, 50, 58}, 1, 1, 100, 1, 0},
		{"nothing detected", nil, 1, -1, 0, 0, 0},
		{"false positive before the window", []int{20}, 1, -1.11, 100 * (-0.11) / 2, 0, 1},
		{"false positive just after the window", []int{50, 60}, 1, 1 + justAfter, 100 * (2 + justAfter) / 2, 1, 1},
		{"false positive long after the window", []int{50, 95}, 1, 1 - 0.11, 100 * 1.89 / 2, 1, 1},
		{"probation is not scored", []int{10, 50}, 1, 1, 100, 1, 0},
		{"every point a detection", allPoints(), 0, 0, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := series100("g", tt.detections...)
			if tt.name == "every point a detection" {
				// 85 scored points: 10 in the window (first one rewarded 1),
				// 40 after it at costs from justAfter to −0.11, 35 before it
				// at −0.11 each: computed independently below.
				raw := 1.0
				for i := 15; i < 100; i++ {
					switch {
					case i < 50:
						raw -= 0.11
					case i > 59:
						y := float64(i-59) / 9
						if y > 3 {
							raw -= 0.11
						} else {
							raw += 0.11 * (2/(1+math.Exp(5*y)) - 1)
						}
					}
				}
				tt.raw, tt.norm, tt.fps = raw, 100*(raw+1)/2, 75
			}
			res := WindowScoreAt([]Scored{s}, Standard, tt.threshold)
			assert.InDelta(t, tt.raw, res.Total.Raw, 1e-9)
			assert.InDelta(t, tt.norm, res.Total.Normalised(Standard), 1e-9)
			assert.Equal(t, 1, res.Total.Windows)
			assert.Equal(t, tt.detected, res.Total.Detected)
			assert.Equal(t, tt.fps, res.Total.FalsePositives)
		})
	}
}

func allPoints() []int {
	var d []int
	for i := range 100 {
		d = append(d, i)
	}
	return d
}

func TestOptimiseWindowScorePicksOneGlobalThreshold(t *testing.T) {
	t.Parallel()
	// Series a: its window's first point scores 5. Series b (no window): one
	// point scores 6. Thresholds: > 6 misses a (−1); 6 adds b's false
	// positive (−1.11); 5 detects a too (1 − 0.11 = 0.89): the best.
	a := series100("a")
	a.Score[50] = 5
	b := series100("b")
	b.Windows = nil
	b.Score[70] = 6
	res := OptimiseWindowScore([]Scored{a, b}, Standard)
	assert.InDelta(t, 5.0, res.Threshold, 0)
	assert.InDelta(t, 0.89, res.Total.Raw, 1e-9)
	assert.InDelta(t, 100*1.89/2, res.Total.Normalised(Standard), 1e-9)
	assert.Equal(t, 1, res.ByGroup["a"].Detected)
	assert.Equal(t, 1, res.ByGroup["b"].FalsePositives)
	assert.True(t, math.IsNaN(res.ByGroup["b"].Normalised(Standard)), "no windows: no normalised score")

	// If b's false positive scored above a's detection in a way that costs
	// more than it earns, no detection at all is chosen: raise the FP cost.
	heavy := Profile{TP: 1, FP: 3, FN: 1}
	res = OptimiseWindowScore([]Scored{a, b}, heavy)
	assert.True(t, math.IsInf(res.Threshold, 1))
	assert.InDelta(t, -1.0, res.Total.Raw, 1e-9)
}

func TestOptimiseWindowScoreTiesAndNaN(t *testing.T) {
	t.Parallel()
	s := series100("g")
	for i := range s.Score {
		s.Score[i] = math.NaN() // no score: never a detection
	}
	s.Score[55] = 2
	s.Score[56] = 2 // a tie: both become detections at once
	res := OptimiseWindowScore([]Scored{s}, Standard)
	require.InDelta(t, 2.0, res.Threshold, 0)
	assert.Equal(t, 1, res.Total.Detected)
	assert.Equal(t, 0, res.Total.FalsePositives)
	// Reward of point 55 (y = −0.5).
	want := (2/(1+math.Exp(-2.5)) - 1) / (2/(1+math.Exp(-5)) - 1)
	assert.InDelta(t, want, res.Total.Raw, 1e-9)
}

func TestWindowInProbationIsNotScored(t *testing.T) {
	t.Parallel()
	s := series100("g", 5)
	s.Windows = []Window{{2, 8}} // entirely within the first 15 points
	res := WindowScoreAt([]Scored{s}, Standard, 1)
	assert.Equal(t, 0, res.Total.Windows)
	assert.Equal(t, 0, res.Total.FalsePositives)
}
