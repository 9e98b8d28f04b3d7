// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package score

import (
	"math"
	"slices"
	"time"
)

// Alerted is one series as the alert-level figures see it: its alert's
// firing periods, from the detector's own alert state.
type Alerted struct {
	// Group is the family or category the series is reported under.
	Group string
	// Interval is the series' nominal sampling interval (for the tolerance).
	Interval time.Duration
	// First and Last are the series' first and last timestamps (unix ns).
	First, Last int64
	// Windows are the labelled windows, in time order.
	Windows []Window
	// Firing are the firing periods in time order: From is a firing
	// transition, To the resolution (math.MaxInt64 if still firing at the end).
	Firing []Period
}

// Period is a span of time, [From, To).
type Period struct {
	From, To int64
}

// Tolerance is how long after a window's end a firing transition still
// counts for that window: max(5 minutes, 2 sampling intervals). An alert
// confirmed over a few samples (`for`) fires a little after a short spike
// has ended, and still points at it.
func Tolerance(interval time.Duration) time.Duration {
	return max(5*time.Minute, 2*interval)
}

// AlertFigures are the alert-level figures of a set of series.
type AlertFigures struct {
	// Windows and Alerted: labelled windows, and those with a firing
	// transition in [Start, End + tolerance]. An alert that was already
	// firing when the window started (a false alert that had not resolved)
	// does not count: it did not detect this anomaly.
	Windows, Alerted int
	// Delays of the alerted windows: from the window's start to the first
	// firing transition in it, in window order.
	Delays []time.Duration
	// FalseAlerts counts firing transitions outside every window (and its
	// tolerance).
	FalseAlerts int
	// Firings counts all firing transitions.
	Firings int
	// SeriesDays is Σ (Last − First) in days.
	SeriesDays float64
}

// Recall is Alerted / Windows (NaN without windows).
func (a AlertFigures) Recall() float64 {
	if a.Windows == 0 {
		return math.NaN()
	}
	return float64(a.Alerted) / float64(a.Windows)
}

// FalsePer100Days is false alerts per 100 series-days.
func (a AlertFigures) FalsePer100Days() float64 {
	if a.SeriesDays == 0 {
		return math.NaN()
	}
	return 100 * float64(a.FalseAlerts) / a.SeriesDays
}

// MedianDelay is the median of Delays (the lower middle for an even count),
// and false when no window was alerted.
func (a AlertFigures) MedianDelay() (time.Duration, bool) {
	if len(a.Delays) == 0 {
		return 0, false
	}
	d := slices.Clone(a.Delays)
	slices.Sort(d)
	return d[(len(d)-1)/2], true
}

// Add adds b's counts and delays to a.
func (a *AlertFigures) Add(b AlertFigures) {
	a.Windows += b.Windows
	a.Alerted += b.Alerted
	a.Delays = append(a.Delays, b.Delays...)
	a.FalseAlerts += b.FalseAlerts
	a.Firings += b.Firings
	a.SeriesDays += b.SeriesDays
}

// Alerts computes the alert-level figures per group and in total.
func Alerts(series []Alerted) (total AlertFigures, byGroup map[string]AlertFigures) {
	byGroup = map[string]AlertFigures{}
	for _, s := range series {
		f := alertsOf(s)
		g := byGroup[s.Group]
		g.Add(f)
		byGroup[s.Group] = g
		total.Add(f)
	}
	return total, byGroup
}

func alertsOf(s Alerted) AlertFigures {
	tol := int64(Tolerance(s.Interval))
	f := AlertFigures{
		Windows:    len(s.Windows),
		Firings:    len(s.Firing),
		SeriesDays: float64(s.Last-s.First) / float64(24*time.Hour),
	}
	for _, w := range s.Windows {
		if p, ok := s.FirstAlert(w, tol); ok {
			f.Alerted++
			f.Delays = append(f.Delays, time.Duration(p.From-w.Start))
		}
	}
	for _, p := range s.Firing {
		if s.FalseAlert(p, tol) {
			f.FalseAlerts++
		}
	}
	return f
}

// FirstAlert returns the first firing transition in [w.Start, w.End+tol]
// (tol in ns, see Tolerance): the one that alerted window w.
func (s Alerted) FirstAlert(w Window, tol int64) (Period, bool) {
	for _, p := range s.Firing {
		if inWindow(p, w, tol) {
			return p, true
		}
	}
	return Period{}, false
}

// FalseAlert reports whether firing transition p alerted no window.
func (s Alerted) FalseAlert(p Period, tol int64) bool {
	for _, w := range s.Windows {
		if inWindow(p, w, tol) {
			return false
		}
	}
	return true
}

func inWindow(p Period, w Window, tol int64) bool { return p.From >= w.Start && p.From <= w.End+tol }
