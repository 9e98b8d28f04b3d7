// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package evaluate

import (
	"fmt"
	"io"
	"time"

	"github.com/vigil-otel/vigil/bench/detection/score"
)

// WriteMisses lists, per series, the labelled windows that no firing
// transition alerted (by the alert figures' rule) and the false alerts,
// with times relative to the series' first point, so a change's effect on
// single windows can be followed.
func (r *Run) WriteMisses(w io.Writer) {
	for i, a := range r.Alerted {
		tol := int64(score.Tolerance(a.Interval))
		rel := func(t int64) time.Duration { return time.Duration(t - a.First).Round(time.Second) }
		var lines []string
		for k, win := range a.Windows {
			if _, hit := a.FirstAlert(win, tol); !hit {
				lines = append(lines, fmt.Sprintf("  missed window %d: %v … %v", k, rel(win.Start), rel(win.End)))
			}
		}
		for _, p := range a.Firing {
			if a.FalseAlert(p, tol) {
				lines = append(lines, fmt.Sprintf("  false alert at %v", rel(p.From)))
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintln(w, r.Scenarios[i].Series.Name)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}
