// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"math"
	"slices"
	"sort"

	"github.com/vigil-otel/vigil/bench/detection/replay"
)

// How the connector's output becomes NAB's anomaly_score in [0, 1].
const (
	// mapRank: the `_score` output, replaced by its rank over every scored
	// point of the corpus: (1 + number of scores strictly below it) / N.
	// Monotone and shared by all files, so NAB's threshold sweep (which
	// tries every distinct value) sees exactly the order of the raw scores,
	// whatever their scale; ties stay ties. Points without a score (the
	// seeding point) get 0.
	mapRank = "rank"
	// mapOnset: the connector's own alerts: 1 at each firing transition
	// (the point whose sample made the alert fire), 0 everywhere else. NAB
	// then scores the alerts an on-call engineer would have been paged by.
	mapOnset = "onset"
)

// fileRun is what the detectors said about one NAB file.
type fileRun struct {
	vigil    []float64 // NAB anomaly_score per point
	plain    []float64
	pending  int // pending transitions of the connector
	firing   int // firing transitions
	firingIn int // firing transitions inside a labelled window
	winsHit  int // labelled windows with at least one firing transition inside
	dropped  int // rows not replayed: timestamp not after the previous row's
}

func detect(ctx context.Context, files []*nabFile, opts replay.Options, mapping string) ([]*fileRun, error) {
	runs := make([]*fileRun, len(files))
	raw := make([][]float64, len(files))
	plain := make([][]float64, len(files))
	for i, f := range files {
		// A few NAB files repeat a timestamp. The connector would skip
		// such a point (duplicate_timestamp) and the replay refuses it, so
		// it is left out of the replay and gets no score.
		fr := &fileRun{}
		s := replay.Series{Name: f.rel, Kind: replay.Gauge}
		var rows []int // file row of each replayed point
		for j := range f.ts {
			if len(rows) > 0 && f.ts[j] <= f.ts[rows[len(rows)-1]] {
				fr.dropped++
				continue
			}
			rows = append(rows, j)
			s.Points = append(s.Points, replay.Point{T: f.ts[j], V: f.values[j]})
		}
		res, err := replay.Replay(ctx, s, opts)
		if err != nil {
			return nil, err
		}
		raw[i] = make([]float64, len(f.ts))
		for j := range raw[i] {
			raw[i][j] = math.NaN()
		}
		for k, st := range res.Steps {
			if st.HasScore && !math.IsNaN(st.Score) {
				raw[i][rows[k]] = st.Score
			}
		}
		onsets := map[int64]bool{}
		for _, ev := range res.Events {
			switch ev.State {
			case "pending":
				fr.pending++
			case "firing":
				fr.firing++
				onsets[ev.T] = true
				if f.inWindow(ev.T) {
					fr.firingIn++
				}
			}
		}
		for _, w := range f.windows {
			for t := range onsets {
				if t >= w[0] && t <= w[1] {
					fr.winsHit++
					break
				}
			}
		}
		if mapping == mapOnset {
			fr.vigil = make([]float64, len(f.ts))
			for j, t := range f.ts {
				if onsets[t] {
					fr.vigil[j] = 1
				}
			}
		}
		plain[i] = plainEWMAScores(f.ts, f.values, plainEWMATimeConstant)
		runs[i] = fr
	}
	if mapping == mapRank {
		ranked := rankScores(raw)
		for i := range runs {
			runs[i].vigil = ranked[i]
		}
	}
	ranked := rankScores(plain)
	for i := range runs {
		runs[i].plain = ranked[i]
	}
	return runs, nil
}

// rankScores maps every non-NaN score to (1 + number of scores strictly
// below it) / N over all files together, N the number of non-NaN scores;
// NaN (no score) maps to 0.
func rankScores(files [][]float64) [][]float64 {
	var all []float64
	for _, f := range files {
		for _, s := range f {
			if !math.IsNaN(s) {
				all = append(all, s)
			}
		}
	}
	slices.Sort(all)
	n := float64(len(all))
	out := make([][]float64, len(files))
	for i, f := range files {
		out[i] = make([]float64, len(f))
		for j, s := range f {
			if math.IsNaN(s) {
				continue
			}
			below := sort.SearchFloat64s(all, s) // first index with all[k] >= s
			out[i][j] = float64(below+1) / n
		}
	}
	return out
}
