// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package score

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestAlertsHandMade(t *testing.T) {
	t.Parallel()
	h := int64(time.Hour)
	m := int64(time.Minute)
	day := int64(24 * time.Hour)
	w1 := Window{Start: 10 * h, End: 11 * h}
	w2 := Window{Start: 20 * h, End: 20*h + 10*m}
	w3 := Window{Start: 30 * h, End: 31 * h}
	w4 := Window{Start: 40 * h, End: 41 * h}
	s := Alerted{
		Group: "g", Interval: time.Minute, First: 0, Last: 2 * day,
		Windows: []Window{w1, w2, w3, w4},
		Firing: []Period{
			{From: 2 * h, To: 3 * h},                 // false alert
			{From: 10*h + 30*m, To: 12 * h},          // w1, 30 min late
			{From: w2.End + 4*m, To: w2.End + 20*m},  // w2, within the 5 min tolerance
			{From: w3.End + 6*m, To: w3.End + 20*m},  // too late for w3: false alert
			{From: w4.Start - h, To: w4.Start + 2*h}, // already firing at w4: not a detection of w4, and a false alert
		},
	}
	total, by := Alerts([]Alerted{s})
	assert.Equal(t, 4, total.Windows)
	assert.Equal(t, 2, total.Alerted)
	assert.InDelta(t, 0.5, total.Recall(), 1e-12)
	assert.Equal(t, []time.Duration{30 * time.Minute, 14 * time.Minute}, total.Delays)
	md, ok := total.MedianDelay()
	assert.True(t, ok)
	assert.Equal(t, 14*time.Minute, md)
	assert.Equal(t, 3, total.FalseAlerts)
	assert.Equal(t, 5, total.Firings)
	assert.InDelta(t, 2.0, total.SeriesDays, 1e-12)
	assert.InDelta(t, 150.0, total.FalsePer100Days(), 1e-9)
	assert.Equal(t, total, by["g"])
}

func TestAlertsToleranceFollowsInterval(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 5*time.Minute, Tolerance(10*time.Second))
	assert.Equal(t, 2*time.Hour, Tolerance(time.Hour))
	// Hourly data: a firing 90 minutes after the window still counts.
	h := int64(time.Hour)
	s := Alerted{Interval: time.Hour, Last: 10 * h, Windows: []Window{{2 * h, 3 * h}},
		Firing: []Period{{From: 3*h + 90*int64(time.Minute), To: math.MaxInt64}}}
	total, _ := Alerts([]Alerted{s})
	assert.Equal(t, 1, total.Alerted)
	assert.Equal(t, 0, total.FalseAlerts)
}

func TestAlertsNoWindowsNoAlerts(t *testing.T) {
	t.Parallel()
	total, _ := Alerts([]Alerted{{Interval: time.Minute, Last: int64(24 * time.Hour)}})
	assert.True(t, math.IsNaN(total.Recall()))
	_, ok := total.MedianDelay()
	assert.False(t, ok)
	assert.InDelta(t, 0.0, total.FalsePer100Days(), 0)
}
