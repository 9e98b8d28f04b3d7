// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package corpus

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-otel/vigil/bench/detection/replay"
)

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := Generate(), Generate()
	require.Len(t, b, len(a))
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("scenario %s differs between two runs", a[i].Series.Name)
		}
	}
}

func TestCorpusInvariants(t *testing.T) {
	t.Parallel()
	scs := Generate()
	names := map[string]bool{}
	cleanDays := 0.0
	minI, maxI := time.Duration(1<<62), time.Duration(0)
	for _, sc := range scs {
		require.False(t, names[sc.Series.Name], "duplicate name %s", sc.Series.Name)
		names[sc.Series.Name] = true
		p := sc.Series.Points
		require.NotEmpty(t, p, sc.Series.Name)
		for i := 1; i < len(p); i++ {
			if p[i].T <= p[i-1].T {
				t.Fatalf("%s: point %d not after the previous one", sc.Series.Name, i)
			}
		}
		for i, w := range sc.Windows {
			assert.Less(t, w.Start, w.End, sc.Series.Name)
			assert.GreaterOrEqual(t, w.Start, p[0].T, sc.Series.Name)
			assert.LessOrEqual(t, w.Start, p[len(p)-1].T, "%s: window %d starts after the data", sc.Series.Name, i)
			if i > 0 {
				assert.Greater(t, w.Start, sc.Windows[i-1].End, "%s: windows overlap", sc.Series.Name)
			}
		}
		if sc.Series.Kind == replay.Counter {
			for i := 1; i < len(p); i++ {
				if p[i].Start == p[i-1].Start && p[i].V < p[i-1].V {
					t.Errorf("%s: point %d: a counter only drops at a reset", sc.Series.Name, i)
				}
			}
		}
		if len(sc.Windows) == 0 {
			cleanDays += sc.Days()
		}
		minI, maxI = min(minI, sc.Interval), max(maxI, sc.Interval)
	}
	assert.GreaterOrEqual(t, cleanDays, 100.0, "enough anomaly-free series-days to measure 1 false alert per 100")
	assert.Equal(t, 10*time.Second, minI)
	assert.Equal(t, time.Hour, maxI)
	t.Logf("%d series, %.0f anomaly-free series-days", len(scs), cleanDays)
}
