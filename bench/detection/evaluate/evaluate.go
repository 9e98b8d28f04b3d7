// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package evaluate runs the in-repo detection benchmark: it replays the
// scenario corpus through the real connector (bench/detection/replay),
// scores the results with both scorers (bench/detection/score) and renders
// the per-family table in Markdown.
package evaluate // import "github.com/vigil-otel/vigil/bench/detection/evaluate"

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vigil-otel/vigil/bench/detection/corpus"
	"github.com/vigil-otel/vigil/bench/detection/replay"
	"github.com/vigil-otel/vigil/bench/detection/score"
)

// Mapping says which connector output the window score thresholds.
type Mapping string

const (
	// MapScore: the `_score` output of every point; the window score
	// chooses one threshold over the corpus.
	MapScore Mapping = "score"
	// MapOnset: the connector's own alerts: a detection at each firing
	// transition and nowhere else.
	MapOnset Mapping = "onset"
)

// OnsetThreshold is the window score's threshold with MapOnset: every firing
// transition (score 1) is a detection.
const OnsetThreshold = 0.5

// Run is the outcome of one benchmark run.
type Run struct {
	Options replay.Options
	Mapping Mapping
	// Families are the table's rows (scenario families, or other groups:
	// see EvaluateGrouped), in order of first appearance.
	Families []string
	// Per scenario, in corpus order.
	Scenarios []corpus.Scenario
	Results   []*replay.Result
	// Scored and Alerted are the scorers' inputs, per scenario.
	Scored  []score.Scored
	Alerted []score.Alerted
	// Window is the window score at its corpus-wide threshold.
	Window score.WindowResult
	// Alerts per family and in total.
	Alerts       score.AlertFigures
	AlertsByFam  map[string]score.AlertFigures
	Points       int
	ReplayTime   time.Duration
	CleanFamily  map[string]bool // rows without any window
	SeriesByFam  map[string]int
	WindowsByFam map[string]int
}

// Evaluate replays scenarios with opts on up to workers goroutines and
// scores them, with a row per scenario family.
func Evaluate(ctx context.Context, scenarios []corpus.Scenario, opts replay.Options, m Mapping, workers int) (*Run, error) {
	return EvaluateGrouped(ctx, scenarios, opts, m, workers, ByFamily)
}

// ByFamily groups the rows by scenario family.
func ByFamily(sc *corpus.Scenario) string { return sc.Family }

// ByInterval groups the rows by sampling interval.
func ByInterval(sc *corpus.Scenario) string { return fmtDuration(sc.Interval) }

// ByFamilyInterval has a row per family and sampling interval.
func ByFamilyInterval(sc *corpus.Scenario) string { return sc.Family + " " + fmtDuration(sc.Interval) }

// EvaluateGrouped is Evaluate with the table's rows given by group. A row
// whose series have no window at all counts as anomaly-free.
func EvaluateGrouped(ctx context.Context, scenarios []corpus.Scenario, opts replay.Options, m Mapping, workers int, group func(*corpus.Scenario) string) (*Run, error) {
	if m != MapScore && m != MapOnset {
		return nil, fmt.Errorf("evaluate: mapping %q: must be %s or %s", m, MapScore, MapOnset)
	}
	r := &Run{
		Options: opts, Mapping: m, Scenarios: scenarios,
		Results:     make([]*replay.Result, len(scenarios)),
		CleanFamily: map[string]bool{}, SeriesByFam: map[string]int{}, WindowsByFam: map[string]int{},
	}
	start := time.Now()
	if err := replayAll(ctx, scenarios, opts, max(1, workers), r.Results); err != nil {
		return nil, err
	}
	r.ReplayTime = time.Since(start)

	seen := map[string]bool{}
	for i := range scenarios {
		sc := &scenarios[i]
		g := group(sc)
		if !seen[g] {
			seen[g] = true
			r.Families = append(r.Families, g)
			r.CleanFamily[g] = true
		}
		if len(sc.Windows) > 0 {
			r.CleanFamily[g] = false
		}
		r.SeriesByFam[g]++
		r.WindowsByFam[g] += len(sc.Windows)
		r.Points += len(sc.Series.Points)
		wins := make([]score.Window, len(sc.Windows))
		for k, w := range sc.Windows {
			wins[k] = score.Window{Start: w.Start, End: w.End}
		}
		res := r.Results[i]
		r.Scored = append(r.Scored, scoredOf(g, res, wins, m))
		pts := sc.Series.Points
		r.Alerted = append(r.Alerted, score.Alerted{
			Group: g, Interval: sc.Interval, First: pts[0].T, Last: pts[len(pts)-1].T,
			Windows: wins, Firing: firingPeriods(res.Events),
		})
	}
	if m == MapOnset {
		// Scores are 0 or 1. Optimising would pick "no detection" (the null
		// detector's 0) whenever the alerts cost more than they earn, and
		// hide that; what counts is the score when every alert is a detection.
		r.Window = score.WindowScoreAt(r.Scored, score.Standard, OnsetThreshold)
	} else {
		r.Window = score.OptimiseWindowScore(r.Scored, score.Standard)
	}
	r.Alerts, r.AlertsByFam = score.Alerts(r.Alerted)
	return r, nil
}

func replayAll(ctx context.Context, scenarios []corpus.Scenario, opts replay.Options, workers int, out []*replay.Result) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				res, err := replay.Replay(ctx, scenarios[i].Series, opts)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("scenario %s: %w", scenarios[i].Series.Name, err)
					}
					mu.Unlock()
					continue
				}
				out[i] = res
			}
		})
	}
	for i := range scenarios {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// scoredOf is the window scorer's view of one replay.
func scoredOf(family string, res *replay.Result, wins []score.Window, m Mapping) score.Scored {
	s := score.Scored{Group: family, Windows: wins, T: make([]int64, len(res.Steps)), Score: make([]float64, len(res.Steps))}
	onsets := map[int64]bool{}
	if m == MapOnset {
		for _, t := range res.Firings() {
			onsets[t] = true
		}
	}
	for j, st := range res.Steps {
		s.T[j] = st.T
		switch {
		case m == MapOnset && onsets[st.T]:
			s.Score[j] = 1
		case m == MapOnset:
			s.Score[j] = 0
		case st.HasScore:
			s.Score[j] = st.Score
		default:
			s.Score[j] = math.NaN()
		}
	}
	return s
}

// firingPeriods turns transitions into firing periods: from each firing to
// the next resolved (MaxInt64 if still firing at the end).
func firingPeriods(evs []replay.Event) []score.Period {
	var ps []score.Period
	open := false
	for _, e := range evs {
		switch e.State {
		case "firing":
			if !open {
				ps = append(ps, score.Period{From: e.T, To: math.MaxInt64})
				open = true
			}
		case "resolved":
			if open {
				ps[len(ps)-1].To = e.T
				open = false
			}
		}
	}
	return ps
}
