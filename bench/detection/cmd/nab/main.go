// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program nab scores the ewma_baseline connector on the Numenta Anomaly
// Benchmark (NAB) with NAB's own scorer, on the four development categories
// only (realAWSCloudwatch, realKnownCause, artificialNoAnomaly,
// artificialWithAnomaly; no other category is ever read).
//
// It replays every series of those categories through the real connector
// (bench/detection/replay, a gauge rule with the connector's defaults unless
// -rule says otherwise), and through a plain EWMA z-score with a 1-day time
// constant for reference; writes NAB result files (timestamp, value,
// anomaly_score, label) for the detectors `vigil` and `plainEWMA` into a
// work directory that holds a restricted copy of the checkout (the four
// categories' data and labels, NAB's null detector and any -reference
// detectors' stored results); runs NAB's `run.py --optimize --score
// --normalize` there; and prints the standard-profile score per category and
// overall as a Markdown table.
//
// NAB is not part of this repository and nothing of it is committed: pass a
// checkout with -nab (scripts/nab-score.sh does, and installs NAB's Python
// dependencies from Debian).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-otel/vigil/bench/detection/replay"
)

// categories are NAB's development categories: the only ones this program
// reads (the issue forbids tuning on the others).
var categories = []string{"realAWSCloudwatch", "realKnownCause", "artificialNoAnomaly", "artificialWithAnomaly"}

const (
	detVigil = "vigil"
	// detPlain is the reference EWMA. NAB takes the detector name from the
	// file name up to the first '_', so names must not contain one.
	detPlain = "plainEWMA"
)

type options struct {
	nab        string
	work       string
	keep       bool
	mapping    string
	rule       string
	connector  string
	python     string
	references string
	verbose    bool
	quick      bool
}

func main() {
	var o options
	flag.StringVar(&o.nab, "nab", "", "path to a NAB checkout (github.com/numenta/NAB); required")
	flag.StringVar(&o.work, "work", "", "work directory for the restricted NAB copy and results (default: a new temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (always kept when -work is given)")
	flag.StringVar(&o.mapping, "map", mapRank, "how the connector's output becomes NAB's anomaly_score: "+mapRank+" (the _score output, ranked over the corpus) or "+mapOnset+" (1 at each firing transition, else 0)")
	flag.StringVar(&o.rule, "rule", "", `extra rule keys as a JSON object, as a user writes them in YAML, e.g. '{"half_life":"24h"}'`)
	flag.StringVar(&o.connector, "connector", "", `extra top-level connector keys as a JSON object, e.g. '{"idle_timeout":"2h"}'`)
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with pandas and simplejson, to run NAB's scorer")
	flag.StringVar(&o.references, "reference", "random", "comma-separated NAB detectors whose stored results are rescored on the same categories for comparison (e.g. random,windowedGaussian,numenta,twitterADVec); empty for none")
	flag.BoolVar(&o.verbose, "v", false, "show NAB's output")
	flag.BoolVar(&o.quick, "quick", false, "skip NAB's Python scorer: print only this repository's implementation of the same score (bench/detection/score), in seconds")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.nab == "" {
		return errors.New("-nab (path to a NAB checkout) is required")
	}
	if o.mapping != mapRank && o.mapping != mapOnset {
		return fmt.Errorf("-map %q: must be %s or %s", o.mapping, mapRank, mapOnset)
	}
	var opts replay.Options
	if err := decodeObject(o.rule, &opts.Rule); err != nil {
		return fmt.Errorf("-rule: %w", err)
	}
	if err := decodeObject(o.connector, &opts.Connector); err != nil {
		return fmt.Errorf("-connector: %w", err)
	}
	var refs []string
	for r := range strings.SplitSeq(o.references, ",") {
		if r = strings.TrimSpace(r); r != "" {
			if strings.Contains(r, "_") || r == detVigil || r == detPlain || r == "null" {
				return fmt.Errorf("-reference %q: not a stored NAB detector name usable here", r)
			}
			refs = append(refs, r)
		}
	}

	files, err := loadCorpus(o.nab)
	if err != nil {
		return err
	}
	start := time.Now()
	runs, err := detect(ctx, files, opts, o.mapping)
	if err != nil {
		return err
	}
	replayTime := time.Since(start)
	goRes := goScores(files, runs, o.mapping)
	if o.quick {
		printReport(out, o, opts, files, runs, nil, goRes, replayTime, 0)
		return nil
	}

	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("", "nab-vigil-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(work)
		}
	}
	if err := prepareWork(o.nab, work, files, refs); err != nil {
		return err
	}
	if err := writeResults(work, files, runs); err != nil {
		return err
	}
	detectors := append([]string{"null", detVigil, detPlain}, refs...)
	start = time.Now()
	// With -map onset the anomaly_score is 0 or 1, and NAB's optimiser may
	// pick "no detection at all" (a score of 0, the null detector's) when the
	// alerts cost more than they earn. What matters for alerts is the score
	// when every firing transition counts, so vigil is scored at 0.5.
	var fixed map[string]float64
	if o.mapping == mapOnset {
		fixed = map[string]float64{detVigil: 0.5}
	}
	overall, err := runNAB(ctx, o.python, work, detectors, fixed, o.verbose)
	if err != nil {
		return err
	}
	nabTime := time.Since(start)
	tab, err := tabulate(work, files, detectors[1:], overall)
	if err != nil {
		return err
	}
	printReport(out, o, opts, files, runs, tab, goRes, replayTime, nabTime)
	if o.keep || o.work != "" {
		fmt.Fprintf(out, "\nwork directory (NAB copy and result files): %s\n", work)
	}
	return nil
}

func decodeObject(s string, into *map[string]any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), into)
}
