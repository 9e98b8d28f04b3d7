// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"math"
	"time"
)

// plainEWMATimeConstant is the reference detector's time constant: one day,
// whatever the series' sampling interval (the issue's "plain EWMA z-score
// with a 1-day time constant").
const plainEWMATimeConstant = 24 * time.Hour

// plainEWMAScores is the reference detector of the NAB report, written here
// and not in the connector: an exponentially weighted mean and variance with
// a time constant tau (weight of the past e^(−Δt/τ)), and for each point
// the z-score |x − μ| / σ against the state before the point. No warm-up,
// no floor, no robustness, no alert state: the scores are ranked, so only
// their order matters. The first point scores 0 and seeds the mean; a zero σ
// scores 0 for x = μ and +Inf otherwise.
func plainEWMAScores(ts []int64, xs []float64, tau time.Duration) []float64 {
	scores := make([]float64, len(xs))
	if len(xs) == 0 {
		return scores
	}
	mean, vari := xs[0], 0.0
	for i := 1; i < len(xs); i++ {
		d := xs[i] - mean
		sigma := math.Sqrt(vari)
		switch {
		case sigma > 0:
			scores[i] = math.Abs(d) / sigma
		case d != 0:
			scores[i] = math.Inf(1)
		}
		alpha := -math.Expm1(-float64(ts[i]-ts[i-1]) / float64(tau))
		mean += alpha * d
		vari = (1 - alpha) * (vari + alpha*d*d)
	}
	return scores
}
