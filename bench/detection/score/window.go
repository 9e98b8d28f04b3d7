// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package score holds the two scorers of the detection benchmark:
//
//   - a window score in the style of the Numenta Anomaly Benchmark's
//     standard profile (Lavin and Ahmad, 2015), our own implementation: each
//     labelled window earns a reward for its first detection, more the
//     earlier it comes, or costs A_FN when missed; each detection outside
//     the windows costs up to A_FP; the total is normalised so that the null
//     detector (never detects) scores 0 and the perfect one (detects every
//     window at its first point, nothing else) 100; one detection threshold
//     is chosen for the whole corpus, the one that maximises the total;
//   - alert-level figures from a detector's own alert state: recall of the
//     windows, detection delay and false alerts per series-day.
package score // import "github.com/vigil-otel/vigil/bench/detection/score"

import (
	"math"
	"slices"
	"sort"
)

// Window is a labelled anomaly window, [Start, End] inclusive (unix ns).
type Window struct {
	Start, End int64
}

// Profile holds the window score's weights.
type Profile struct {
	// TP is the reward of a detection at a window's first point (A_TP).
	TP float64
	// FP is the largest cost of a detection outside every window (A_FP).
	FP float64
	// FN is the cost of a missed window (A_FN).
	FN float64
}

// Standard is NAB's standard profile.
var Standard = Profile{TP: 1, FP: 0.11, FN: 1}

// Probation is the share of each series' points (at most maxProbation of
// them) that are not scored, as in NAB: a detector needs some data first.
const (
	Probation    = 0.15
	maxProbation = 750
)

// Scored is one series as the window score sees it.
type Scored struct {
	// Group is the family or category the series is reported under.
	Group string
	// T are the points' timestamps, increasing.
	T []int64
	// Score is the detector's anomaly score per point (any scale, larger is
	// more anomalous; NaN: no score, never a detection).
	Score []float64
	// Windows are the labelled windows, in time order, not overlapping.
	Windows []Window
}

// WindowScore is the window score of a set of series at one threshold.
type WindowScore struct {
	// Raw is Σ window rewards (or −A_FN when missed) + Σ false-positive costs.
	Raw float64
	// Windows counts the scored windows (those with a point after probation).
	Windows int
	// Detected counts the windows with a detection.
	Detected int
	// FalsePositives counts detections outside every window.
	FalsePositives int
}

// Null is the null detector's raw score: every window missed.
func (w WindowScore) Null(p Profile) float64 { return -p.FN * float64(w.Windows) }

// Perfect is the perfect detector's raw score.
func (w WindowScore) Perfect(p Profile) float64 { return p.TP * float64(w.Windows) }

// Normalised is 100·(Raw − Null)/(Perfect − Null); NaN without windows.
func (w WindowScore) Normalised(p Profile) float64 {
	if w.Windows == 0 {
		return math.NaN()
	}
	return 100 * (w.Raw - w.Null(p)) / (w.Perfect(p) - w.Null(p))
}

// WindowResult is the window score of a corpus at its chosen threshold.
type WindowResult struct {
	// Threshold: a point is a detection when its score is ≥ Threshold
	// (+Inf: nothing is a detection).
	Threshold float64
	Total     WindowScore
	ByGroup   map[string]WindowScore
}

// scaledSigmoid is the reward curve over a position y relative to a window:
// y = −1 at the window's first point, 0 just after its last, > 0 after it
// (in window widths). 2·σ(−5y) − 1, and −1 from y > 3 on.
func scaledSigmoid(y float64) float64 {
	if y > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// maxReward is scaledSigmoid(−1), the unweighted reward at a window's first point.
var maxReward = scaledSigmoid(-1)

// candidate is one scorable point: what making it a detection is worth.
type candidate struct {
	score  float64
	window int     // global window index, -1 outside every window
	value  float64 // reward if in a window, else (negative) cost
	group  int
}

// prepared holds the candidates of a corpus and its windows.
type prepared struct {
	cands  []candidate
	groups []string
	winGrp []int // group of each window
}

func prepare(series []Scored, p Profile) *prepared {
	pr := &prepared{}
	groupIdx := map[string]int{}
	for _, s := range series {
		g, ok := groupIdx[s.Group]
		if !ok {
			g = len(pr.groups)
			groupIdx[s.Group] = g
			pr.groups = append(pr.groups, s.Group)
		}
		n := len(s.T)
		prob := min(int(math.Floor(Probation*float64(n))), maxProbation)
		// Index range [first, last] of each window's points.
		type span struct{ first, last, id int }
		spans := make([]span, len(s.Windows))
		for w, win := range s.Windows {
			first := sort.Search(n, func(i int) bool { return s.T[i] >= win.Start })
			last := sort.Search(n, func(i int) bool { return s.T[i] > win.End }) - 1
			spans[w] = span{first, last, -1}
			// A window counts if it has a point after probation.
			if last >= first && last >= prob {
				spans[w].id = len(pr.winGrp)
				pr.winGrp = append(pr.winGrp, g)
			}
		}
		w := 0         // next window
		prevEnd := -1  // index of the previous window's last point
		prevWidth := 0 // its width in points
		for i := range n {
			for w < len(spans) && spans[w].last < i {
				if spans[w].last >= spans[w].first {
					prevEnd, prevWidth = spans[w].last, spans[w].last-spans[w].first+1
				}
				w++
			}
			in := w < len(spans) && i >= spans[w].first && i <= spans[w].last
			if i < prob || math.IsNaN(s.Score[i]) {
				continue
			}
			c := candidate{score: s.Score[i], window: -1, group: g}
			switch {
			case in && spans[w].id >= 0:
				width := float64(spans[w].last - spans[w].first + 1)
				y := -float64(spans[w].last-i+1) / width
				c.window, c.value = spans[w].id, p.TP*scaledSigmoid(y)/maxReward
			case prevEnd < 0:
				c.value = -p.FP
			default:
				// After a window: the cost grows from ~0 just after it to
				// A_FP a few window widths later.
				c.value = p.FP * scaledSigmoid(float64(i-prevEnd)/float64(max(1, prevWidth-1)))
			}
			pr.cands = append(pr.cands, c)
		}
	}
	return pr
}

// OptimiseWindowScore chooses the threshold that maximises the corpus'
// total raw score (trying every distinct score, and "no detection") and
// returns the score at it, in total and per group. On a tie the higher
// threshold wins (fewer detections).
func OptimiseWindowScore(series []Scored, p Profile) WindowResult {
	pr := prepare(series, p)
	slices.SortStableFunc(pr.cands, func(a, b candidate) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	best := make([]float64, len(pr.winGrp))
	for i := range best {
		best[i] = -p.FN
	}
	total := -p.FN * float64(len(best))
	bestTotal, bestTh := total, math.Inf(1)
	for i := 0; i < len(pr.cands); {
		th := pr.cands[i].score
		for ; i < len(pr.cands) && pr.cands[i].score == th; i++ {
			c := pr.cands[i]
			if c.window < 0 {
				total += c.value
			} else if c.value > best[c.window] {
				total += c.value - best[c.window]
				best[c.window] = c.value
			}
		}
		if total > bestTotal+1e-12 {
			bestTotal, bestTh = total, th
		}
	}
	return windowScoreAt(pr, p, bestTh)
}

// WindowScoreAt scores the corpus at a given threshold.
func WindowScoreAt(series []Scored, p Profile, threshold float64) WindowResult {
	return windowScoreAt(prepare(series, p), p, threshold)
}

func windowScoreAt(pr *prepared, p Profile, th float64) WindowResult {
	best := make([]float64, len(pr.winGrp))
	hit := make([]bool, len(pr.winGrp))
	groups := make([]WindowScore, len(pr.groups))
	for _, c := range pr.cands {
		if !(c.score >= th) {
			continue
		}
		if c.window < 0 {
			groups[c.group].Raw += c.value
			groups[c.group].FalsePositives++
			continue
		}
		if !hit[c.window] || c.value > best[c.window] {
			best[c.window] = c.value
			hit[c.window] = true
		}
	}
	for w, g := range pr.winGrp {
		groups[g].Windows++
		if hit[w] {
			groups[g].Detected++
			groups[g].Raw += best[w]
		} else {
			groups[g].Raw -= p.FN
		}
	}
	res := WindowResult{Threshold: th, ByGroup: map[string]WindowScore{}}
	for g, name := range pr.groups {
		ws := groups[g]
		res.ByGroup[name] = ws
		res.Total.Raw += ws.Raw
		res.Total.Windows += ws.Windows
		res.Total.Detected += ws.Detected
		res.Total.FalsePositives += ws.FalsePositives
	}
	return res
}
