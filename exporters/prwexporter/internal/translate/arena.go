// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

// arena hands out the series, label slices and samples of one Translate call
// from a few large chunks. A batch becomes thousands of series, and giving
// each its own allocations made the garbage collector the largest cost of
// the exporter (BenchmarkTranslateEncode: 16.7 allocs and 3.0 µs per data
// point before, see the README for after). Slices handed out have their
// capacity clipped, so an append to one never writes into its neighbour.
type arena struct {
	chunk   int
	labels  []label
	dps     []dpLabels
	series  []Series
	samples []Sample
	// hashed is seriesKey.hash's scratch: the labels of the data point
	// being translated (one at a time).
	hashed labelBytes
}

func newArena(expectedSeries int) *arena {
	return &arena{chunk: min(max(expectedSeries, 16), 1024)}
}

func (a *arena) copyLabels(src []label) []label {
	if cap(a.labels)-len(a.labels) < len(src) {
		a.labels = make([]label, 0, max(8*a.chunk, len(src)))
	}
	n := len(a.labels)
	a.labels = append(a.labels, src...)
	return a.labels[n:len(a.labels):len(a.labels)]
}

// newLabels stores a data point's labels.
func (a *arena) newLabels(src []label, group uint64, size int) *dpLabels {
	if len(a.dps) == cap(a.dps) {
		a.dps = make([]dpLabels, 0, a.chunk)
	}
	a.dps = append(a.dps, dpLabels{labels: a.copyLabels(src), group: group, size: size})
	return &a.dps[len(a.dps)-1]
}

func (a *arena) newSeries() *Series {
	if len(a.series) == cap(a.series) {
		a.series = make([]Series, 0, a.chunk)
	}
	a.series = a.series[:len(a.series)+1]
	return &a.series[len(a.series)-1]
}

// addSample appends x to s.Samples; the first sample of a series comes from
// the arena, later ones (rare: one series twice in a batch) from append.
func (a *arena) addSample(s *Series, x Sample) {
	if s.Samples != nil {
		s.Samples = append(s.Samples, x)
		return
	}
	if len(a.samples) == cap(a.samples) {
		a.samples = make([]Sample, 0, a.chunk)
	}
	n := len(a.samples)
	a.samples = append(a.samples, x)
	s.Samples = a.samples[n : n+1 : n+1]
}
