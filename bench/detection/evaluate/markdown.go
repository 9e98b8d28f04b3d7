// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package evaluate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/vigil-otel/vigil/bench/detection/replay"
	"github.com/vigil-otel/vigil/bench/detection/score"
)

// WriteMarkdown renders the per-family table, the totals and how to read
// them.
func (r *Run) WriteMarkdown(w io.Writer) {
	rg, _ := json.Marshal(r.Options.RuleConfig(replay.Gauge))
	rc, _ := json.Marshal(r.Options.RuleConfig(replay.Counter))
	fmt.Fprintf(w, "Rules: gauges %s; counters %s", rg, rc)
	if len(r.Options.Connector) > 0 {
		c, _ := json.Marshal(r.Options.Connector)
		fmt.Fprintf(w, "; connector %s", c)
	}
	fmt.Fprintln(w, ".")
	switch r.Mapping {
	case MapScore:
		fmt.Fprintf(w, "Window score over the `_score` output, one threshold for the whole corpus: %s.\n", fmtThreshold(r.Window.Threshold))
	case MapOnset:
		fmt.Fprintln(w, "Window score over the connector's alerts: a detection at each firing transition (all of them count).")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| row | series | series-days | windows | window score | recall | median delay | false alerts / 100 series-days |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	var anomalous, clean []string
	for _, f := range r.Families {
		r.row(w, f, []string{f})
		if r.CleanFamily[f] {
			clean = append(clean, f)
		} else {
			anomalous = append(anomalous, f)
		}
	}
	r.row(w, "**with anomalies**", anomalous)
	r.row(w, "**anomaly-free**", clean)
	r.row(w, "**all**", r.Families)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d series, %d points, replayed in %.1fs.\n", len(r.Scenarios), r.Points, r.ReplayTime.Seconds())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Window score: NAB standard profile (A_TP 1, A_FP 0.11, A_FN 1), null detector 0, perfect 100; for an")
	fmt.Fprintln(w, "anomaly-free family the detections over the threshold are shown instead (`n FP`). Recall: windows with")
	fmt.Fprintln(w, "a firing transition inside them or up to max(5m, 2 intervals) after. Delay: window start to that firing.")
	fmt.Fprintln(w, "False alerts: firing transitions outside every window and its tolerance (count in brackets).")
}

// row writes the figures of the families in fams under label.
func (r *Run) row(w io.Writer, label string, fams []string) {
	if len(fams) == 0 {
		return
	}
	var ws score.WindowScore
	var af score.AlertFigures
	series, windows := 0, 0
	for _, f := range fams {
		g := r.Window.ByGroup[f]
		ws.Raw += g.Raw
		ws.Windows += g.Windows
		ws.Detected += g.Detected
		ws.FalsePositives += g.FalsePositives
		af.Add(r.AlertsByFam[f])
		series += r.SeriesByFam[f]
		windows += r.WindowsByFam[f]
	}
	win := fmt.Sprintf("%d FP", ws.FalsePositives)
	if ws.Windows > 0 {
		win = fmt.Sprintf("%.1f", ws.Normalised(score.Standard))
	}
	recall := "–"
	if af.Windows > 0 {
		recall = fmt.Sprintf("%.0f%% (%d/%d)", 100*af.Recall(), af.Alerted, af.Windows)
	}
	delay := "–"
	if d, ok := af.MedianDelay(); ok {
		delay = fmtDuration(d)
	}
	fmt.Fprintf(w, "| %s | %d | %.0f | %d | %s | %s | %s | %.1f (%d) |\n",
		label, series, af.SeriesDays, windows, win, recall, delay, af.FalsePer100Days(), af.FalseAlerts)
}

func fmtThreshold(th float64) string {
	if math.IsInf(th, 1) {
		return "none (no detection beats the null detector)"
	}
	return fmt.Sprintf("%.4g", th)
}

// fmtDuration prints 90s as 1m30s and 2h0m0s as 2h.
func fmtDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
