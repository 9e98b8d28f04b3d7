// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program quality runs the in-repo detection benchmark: the labelled
// scenario corpus (bench/detection/corpus) replayed through the real
// ewma_baseline connector, scored with the window score and the alert-level
// figures, printed as a Markdown table per scenario family.
//
//	go run ./bench/detection/cmd/quality [-map score|onset] [-rule JSON] [-connector JSON] [-by family|interval|family,interval] [-families a,b] [-series N] [-j N] [-misses]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/vigil-otel/vigil/bench/detection/corpus"
	"github.com/vigil-otel/vigil/bench/detection/evaluate"
	"github.com/vigil-otel/vigil/bench/detection/replay"
)

func main() {
	mapping := flag.String("map", string(evaluate.MapScore), "what the window score thresholds: score (the _score output) or onset (the connector's firing transitions)")
	rule := flag.String("rule", "", `extra rule keys as a JSON object, as a user writes them in YAML, e.g. '{"half_life":"24h"}'`)
	conn := flag.String("connector", "", `extra top-level connector keys as a JSON object`)
	workers := flag.Int("j", min(2, runtime.GOMAXPROCS(0)), "series replayed at once")
	series := flag.Int("series", 0, "replay only the first N series of each family (0: all)")
	families := flag.String("families", "", "comma-separated families to run (default: all): "+strings.Join(corpus.Families(), ","))
	by := flag.String("by", "family", "rows of the table: family, interval (sampling interval) or family,interval")
	misses := flag.Bool("misses", false, "after the table, list each series' missed windows and false alerts")
	flag.Parse()
	if err := run(*mapping, *rule, *conn, *workers, *series, *families, *by, *misses); err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}

func run(mapping, rule, conn string, workers, series int, families, by string, misses bool) error {
	group, ok := map[string]func(*corpus.Scenario) string{
		"family": evaluate.ByFamily, "interval": evaluate.ByInterval, "family,interval": evaluate.ByFamilyInterval,
	}[by]
	if !ok {
		return fmt.Errorf("-by %q: must be family, interval or family,interval", by)
	}
	var opts replay.Options
	if rule != "" {
		if err := json.Unmarshal([]byte(rule), &opts.Rule); err != nil {
			return fmt.Errorf("-rule: %w", err)
		}
	}
	if conn != "" {
		if err := json.Unmarshal([]byte(conn), &opts.Connector); err != nil {
			return fmt.Errorf("-connector: %w", err)
		}
	}
	scs := corpus.Generate()
	if series > 0 {
		scs = corpus.Subset(series)
	}
	if families != "" {
		want := strings.Split(families, ",")
		for _, f := range want {
			if !slices.Contains(corpus.Families(), f) {
				return fmt.Errorf("-families: unknown family %q", f)
			}
		}
		scs = slices.DeleteFunc(scs, func(s corpus.Scenario) bool { return !slices.Contains(want, s.Family) })
	}
	r, err := evaluate.EvaluateGrouped(context.Background(), scs, opts, evaluate.Mapping(mapping), workers, group)
	if err != nil {
		return err
	}
	r.WriteMarkdown(os.Stdout)
	if misses {
		fmt.Println()
		r.WriteMisses(os.Stdout)
	}
	return nil
}
