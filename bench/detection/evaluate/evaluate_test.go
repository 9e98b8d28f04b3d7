// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package evaluate

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-otel/vigil/bench/detection/corpus"
	"github.com/vigil-otel/vigil/bench/detection/replay"
	"github.com/vigil-otel/vigil/bench/detection/score"
)

// smokeScenarios are the hourly series of three families (a gauge with
// anomalies, a counter with anomalies and resets, anomaly-free noise):
// small enough for every CI run.
func smokeScenarios(t *testing.T) []corpus.Scenario {
	t.Helper()
	var out []corpus.Scenario
	for _, sc := range corpus.Generate() {
		if sc.Interval == time.Hour && slices.Contains([]string{"spike", "error_burst", "noise"}, sc.Family) {
			out = append(out, sc)
		}
	}
	require.Len(t, out, 4)
	return out
}

// TestHarnessInvariants checks the harness, not the detector's quality: a
// step per input point, transitions at input timestamps and in a valid
// order, the `_alert` output agreeing with them, the scorers seeing every
// window, the run being reproducible and the table naming every family.
func TestHarnessInvariants(t *testing.T) {
	t.Parallel()
	scs := smokeScenarios(t)
	for _, m := range []Mapping{MapScore, MapOnset} {
		r, err := Evaluate(t.Context(), scs, replay.Options{}, m, 2)
		require.NoError(t, err)
		windows := 0
		for i, sc := range scs {
			res := r.Results[i]
			require.Len(t, res.Steps, len(sc.Series.Points), sc.Series.Name)
			inputTS := map[int64]bool{}
			for j, p := range sc.Series.Points {
				assert.Equal(t, p.T, res.Steps[j].T)
				inputTS[p.T] = true
			}
			state := "ok"
			for _, e := range res.Events {
				assert.True(t, inputTS[e.T], "%s: transition at a time with no input point", sc.Series.Name)
				switch e.State {
				case "pending":
					assert.Equal(t, "ok", state)
				case "firing":
					assert.Contains(t, []string{"ok", "pending"}, state)
				case "resolved":
					assert.Equal(t, "firing", state)
				case "cancelled":
					assert.Equal(t, "pending", state)
				default:
					t.Errorf("%s: unknown transition %q", sc.Series.Name, e.State)
				}
				state = map[string]string{"pending": "pending", "firing": "firing", "resolved": "ok", "cancelled": "ok"}[e.State]
			}
			for _, st := range res.Steps {
				if !st.HasScore {
					continue
				}
				firing := false
				for _, p := range r.Alerted[i].Firing {
					firing = firing || (st.T >= p.From && st.T < p.To)
				}
				assert.Equal(t, firing, st.Firing, "%s at %d: _alert output vs transitions", sc.Series.Name, st.T)
			}
			windows += len(sc.Windows)
		}
		assert.Equal(t, windows, r.Alerts.Windows, "the alert figures see every window")
		assert.Equal(t, windows, r.Window.Total.Windows, "no window of these series lies in the probation")
		assert.LessOrEqual(t, r.Alerts.Alerted, r.Alerts.Windows)
		assert.LessOrEqual(t, r.Window.Total.Detected, r.Window.Total.Windows)
		assert.LessOrEqual(t, r.Window.Total.Normalised(score.Standard), 100.0)
		assert.LessOrEqual(t, r.Alerts.FalseAlerts, r.Alerts.Firings)

		var md bytes.Buffer
		r.WriteMarkdown(&md)
		for _, f := range []string{"spike", "error_burst", "noise", "**all**"} {
			assert.Contains(t, md.String(), "| "+f+" |")
		}

		again, err := Evaluate(t.Context(), scs, replay.Options{}, m, 1)
		require.NoError(t, err)
		assert.Equal(t, r.Results, again.Results, "a replay depends only on the data")
	}
}

func TestEvaluateRejectsUnknownMapping(t *testing.T) {
	t.Parallel()
	_, err := Evaluate(t.Context(), nil, replay.Options{}, "rank", 1)
	require.ErrorContains(t, err, `mapping "rank"`)
}
