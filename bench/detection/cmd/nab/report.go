// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-otel/vigil/bench/detection/replay"
	"github.com/vigil-otel/vigil/bench/detection/score"
)

// catScore is one detector's NAB result on one category, at the threshold
// NAB optimised over the four categories together.
type catScore struct {
	raw        float64 // sum of the files' standard-profile scores
	tp, fp, fn int     // NAB's counts of detections (rows over the threshold)
}

type table struct {
	detectors []string
	overall   map[string]float64             // NAB's normalised score
	byCat     map[string]map[string]catScore // detector → category
	null      map[string]catScore
	windows   map[string]int // labelled windows per category
}

// tabulate reads NAB's per-file standard-profile scores and sums them per
// category.
func tabulate(work string, files []*nabFile, detectors []string, overall map[string]float64) (*table, error) {
	t := &table{detectors: detectors, overall: overall, byCat: map[string]map[string]catScore{},
		windows: map[string]int{}}
	for _, f := range files {
		t.windows[f.category] += len(f.windows)
	}
	var err error
	if t.null, err = readScores(work, "null"); err != nil {
		return nil, err
	}
	for _, d := range detectors {
		if t.byCat[d], err = readScores(work, d); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func readScores(work, det string) (map[string]catScore, error) {
	fh, err := os.Open(filepath.Join(work, "results", det, det+"_standard_scores.csv"))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s_standard_scores.csv is empty", det)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"File", "Score", "TP", "FP", "FN"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("%s_standard_scores.csv: no column %q", det, h)
		}
	}
	out := map[string]catScore{}
	for _, r := range rows[1:] {
		file := r[col["File"]]
		cat, _, ok := strings.Cut(file, "/")
		if !ok {
			continue // the Totals row
		}
		s, err := strconv.ParseFloat(r[col["Score"]], 64)
		if err != nil {
			return nil, fmt.Errorf("%s_standard_scores.csv: %s: %w", det, file, err)
		}
		c := out[cat]
		c.raw += s
		c.tp += atoi(r[col["TP"]])
		c.fp += atoi(r[col["FP"]])
		c.fn += atoi(r[col["FN"]])
		out[cat] = c
	}
	return out, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// normalised is NAB's normalisation applied to one category: 100·(raw −
// null) / (perfect − null), perfect being one fully rewarded detection per
// window. Not defined for a category without windows.
func (t *table) normalised(det, cat string) (float64, bool) {
	perfect := float64(t.windows[cat])
	null := t.null[cat].raw
	if t.windows[cat] == 0 || perfect == null {
		return 0, false
	}
	return 100 * (t.byCat[det][cat].raw - null) / (perfect - null), true
}

// goScores scores the same anomaly_score files with bench/detection/score
// (the same rules as NAB's scorer, in Go): per detector, one threshold over
// the four categories, or 0.5 for vigil with -map onset.
func goScores(files []*nabFile, runs []*fileRun, mapping string) map[string]score.WindowResult {
	out := map[string]score.WindowResult{}
	for _, det := range []string{detVigil, detPlain} {
		var ss []score.Scored
		for i, f := range files {
			s := score.Scored{Group: f.category, T: f.ts, Score: runs[i].plain}
			if det == detVigil {
				s.Score = runs[i].vigil
			}
			for _, w := range f.windows {
				s.Windows = append(s.Windows, score.Window{Start: w[0], End: w[1]})
			}
			ss = append(ss, s)
		}
		if det == detVigil && mapping == mapOnset {
			out[det] = score.WindowScoreAt(ss, score.Standard, 0.5)
		} else {
			out[det] = score.OptimiseWindowScore(ss, score.Standard)
		}
	}
	return out
}

func printReport(out io.Writer, o options, opts replay.Options, files []*nabFile, runs []*fileRun, t *table, goRes map[string]score.WindowResult, replayTime, nabTime time.Duration) {
	rule, _ := json.Marshal(opts.RuleConfig(replay.Gauge))
	fmt.Fprintf(out, "NAB standard profile, development categories only, one threshold per detector over all four (NAB's --optimize).\n")
	fmt.Fprintf(out, "vigil = the ewma_baseline connector, rule %s", rule)
	if len(opts.Connector) > 0 {
		c, _ := json.Marshal(opts.Connector)
		fmt.Fprintf(out, ", connector %s", c)
	}
	fmt.Fprintln(out)
	switch o.mapping {
	case mapRank:
		fmt.Fprintln(out, "anomaly_score mapping (-map rank): the _score output ranked over the corpus (order-preserving; no score = 0).")
	case mapOnset:
		fmt.Fprintln(out, "anomaly_score mapping (-map onset): 1 at each firing transition of the connector's alert, 0 elsewhere;")
		fmt.Fprintln(out, "vigil is scored at threshold 0.5 (every firing transition is a detection), not at an optimised one.")
	}
	fmt.Fprintln(out, "plainEWMA = EWMA z-score with a 1-day time constant (reference, in the runner), ranked the same way.")
	fmt.Fprintln(out)
	header := func(title string) {
		fmt.Fprintf(out, "| %s |", title)
		for _, c := range categories {
			if c == "artificialNoAnomaly" {
				fmt.Fprintf(out, " %s (FP rows) |", c)
			} else {
				fmt.Fprintf(out, " %s |", c)
			}
		}
		fmt.Fprintln(out, " overall |")
		fmt.Fprint(out, "|---|")
		for range categories {
			fmt.Fprint(out, "---:|")
		}
		fmt.Fprintln(out, "---:|")
	}
	if t != nil {
		header("detector (NAB's scorer)")
		for _, d := range t.detectors {
			fmt.Fprintf(out, "| %s |", d)
			for _, c := range categories {
				if v, ok := t.normalised(d, c); ok {
					fmt.Fprintf(out, " %.1f |", v)
				} else {
					fmt.Fprintf(out, " %d |", t.byCat[d][c].fp)
				}
			}
			fmt.Fprintf(out, " **%.1f** |\n", t.overall[d])
		}
		fmt.Fprintln(out)
		fmt.Fprintln(out, "Per category the files' NAB scores are summed at the overall threshold and normalised like NAB's total")
		fmt.Fprintln(out, "(null detector = 0, one perfect detection per window = 100); a category without windows shows the rows")
		fmt.Fprintln(out, "over the threshold (false positives) instead. Overall: NAB's own normalised figure.")
		fmt.Fprintln(out)
	}
	header("detector (bench/detection/score)")
	for _, d := range []string{detVigil, detPlain} {
		r := goRes[d]
		fmt.Fprintf(out, "| %s |", d)
		for _, c := range categories {
			g := r.ByGroup[c]
			if g.Windows > 0 {
				fmt.Fprintf(out, " %.1f |", g.Normalised(score.Standard))
			} else {
				fmt.Fprintf(out, " %d |", g.FalsePositives)
			}
		}
		fmt.Fprintf(out, " **%.1f** |\n", r.Total.Normalised(score.Standard))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "The same files scored by this repository's implementation of NAB's rules (fast; -quick skips NAB's scorer).")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Connector alerts (its own alert state, independent of the mapping):")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| category | series | points | windows | windows with a firing alert | firing transitions | of which outside windows | pending transitions |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|")
	var tot [7]int
	for _, c := range categories {
		var series, points, windows, hit, firing, in, pending int
		for i, f := range files {
			if f.category == c {
				series++
				points += len(f.ts)
				windows += len(f.windows)
				hit += runs[i].winsHit
				firing += runs[i].firing
				in += runs[i].firingIn
				pending += runs[i].pending
			}
		}
		row := [7]int{series, points, windows, hit, firing, firing - in, pending}
		for k := range row {
			tot[k] += row[k]
		}
		fmt.Fprintf(out, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", c, row[0], row[1], row[2], row[3], row[4], row[5], row[6])
	}
	fmt.Fprintf(out, "| total | %d | %d | %d | %d | %d | %d | %d |\n", tot[0], tot[1], tot[2], tot[3], tot[4], tot[5], tot[6])
	dropped := 0
	for _, r := range runs {
		dropped += r.dropped
	}
	fmt.Fprintf(out, "\n%d rows repeat an earlier timestamp: not replayed (the connector skips them as duplicate_timestamp), anomaly_score 0.\n", dropped)
	fmt.Fprintf(out, "replay %.1fs", replayTime.Seconds())
	if t != nil {
		fmt.Fprintf(out, ", NAB scorer %.1fs", nabTime.Seconds())
	}
	fmt.Fprintln(out)
}
