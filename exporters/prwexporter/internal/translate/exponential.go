// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Native histogram schemas Prometheus accepts: an OTLP scale above the
// maximum is reduced to it by merging buckets, one below the minimum cannot
// be represented.
const (
	nativeHistogramMaxScale = 8
	nativeHistogramMinScale = -4
)

// exponentialHistogram translates an exponential histogram data point into
// one native histogram sample of the family's series, with its exemplars.
func (e *pointEmitter) exponentialHistogram(p pmetric.ExponentialHistogramDataPoint) {
	ts, ok := e.timestamp(p.Timestamp(), KindHistogram, 1)
	if !ok {
		return
	}
	h, ok := nativeHistogram(p, ts)
	if !ok {
		e.res.drop(KindHistogram, ReasonUnsupportedScale, 1)
		return
	}
	s, ok := e.series(e.dp.name, label{}, ts, KindHistogram)
	if !ok {
		return
	}
	e.seen(ts)
	r := s.rareData()
	r.histograms = append(r.histograms, h)
	r.histStarts = append(r.histStarts, msOf(p.StartTimestamp()))
	e.sh.est += histogramSize(&h)
	e.addExemplars(s, e.t.exemplars(e.res, p.Exemplars()))
}

// nativeHistogram converts an OTLP exponential histogram data point. Scales
// above 8 are reduced to 8 by merging buckets; scales below -4 cannot be
// represented and are rejected.
func nativeHistogram(p pmetric.ExponentialHistogramDataPoint, ts int64) (prompb.Histogram, bool) {
	scale := p.Scale()
	if scale < nativeHistogramMinScale {
		return prompb.Histogram{}, false
	}
	shift := int32(0)
	if scale > nativeHistogramMaxScale {
		shift = scale - nativeHistogramMaxScale
		scale = nativeHistogramMaxScale
	}
	h := prompb.Histogram{
		Count:         &prompb.Histogram_CountInt{CountInt: p.Count()},
		Sum:           p.Sum(),
		Schema:        scale,
		ZeroThreshold: p.ZeroThreshold(),
		ZeroCount:     &prompb.Histogram_ZeroCountInt{ZeroCountInt: p.ZeroCount()},
		Timestamp:     ts,
	}
	h.PositiveSpans, h.PositiveDeltas = bucketsToDeltas(p.Positive(), shift)
	h.NegativeSpans, h.NegativeDeltas = bucketsToDeltas(p.Negative(), shift)
	if p.Flags().NoRecordedValue() {
		h.Sum = staleNaN
		h.Count = &prompb.Histogram_CountInt{}
		h.ZeroCount = &prompb.Histogram_ZeroCountInt{}
		h.PositiveSpans, h.PositiveDeltas, h.NegativeSpans, h.NegativeDeltas = nil, nil, nil, nil
	}
	return h, true
}

// bucketsToDeltas converts OTLP buckets (bucket i covers (base^i, base^(i+1)])
// into Prometheus spans and delta-encoded counts (bucket i covers
// (base^(i-1), base^i]), merging 2^shift neighbours when downscaling. Runs of
// empty buckets longer than two start a new span, as Prometheus does.
func bucketsToDeltas(b pmetric.ExponentialHistogramDataPointBuckets, shift int32) ([]prompb.BucketSpan, []int64) {
	counts := b.BucketCounts()
	if counts.Len() == 0 {
		return nil, nil
	}
	// merged (index, count) pairs in increasing index order
	type bucket struct {
		idx   int64
		count uint64
	}
	var stack [32]bucket // most histograms have fewer buckets: no allocation
	merged := stack[:0]
	if counts.Len() > len(stack) {
		merged = make([]bucket, 0, counts.Len())
	}
	for i := 0; i < counts.Len(); i++ {
		c := counts.At(i)
		if c == 0 {
			continue
		}
		idx := (int64(b.Offset()) + int64(i)) >> shift // arithmetic shift: floor division
		if n := len(merged); n > 0 && merged[n-1].idx == idx {
			merged[n-1].count += c
			continue
		}
		merged = append(merged, bucket{idx: idx, count: c})
	}
	if len(merged) == 0 {
		return nil, nil
	}
	// Sized first: one allocation each instead of growing them.
	nSpans, nDeltas := 1, 1
	for i := 1; i < len(merged); i++ {
		if gap := merged[i].idx - merged[i-1].idx - 1; gap > 2 {
			nSpans++
		} else {
			nDeltas += int(gap)
		}
		nDeltas++
	}
	spans := make([]prompb.BucketSpan, 0, nSpans)
	deltas := make([]int64, 0, nDeltas)
	var prevCount int64
	prevIdx := int64(0)
	for i, bk := range merged {
		promIdx := bk.idx + 1
		gap := promIdx - prevIdx - 1
		switch {
		case i == 0:
			spans = append(spans, prompb.BucketSpan{Offset: int32(promIdx), Length: 1})
		case gap > 2:
			spans = append(spans, prompb.BucketSpan{Offset: int32(gap), Length: 1})
		default:
			for range gap { // short gaps are filled with empty buckets
				deltas = append(deltas, -prevCount)
				prevCount = 0
				spans[len(spans)-1].Length++
			}
			spans[len(spans)-1].Length++
		}
		deltas = append(deltas, int64(bk.count)-prevCount)
		prevCount = int64(bk.count)
		prevIdx = promIdx
	}
	return spans, deltas
}
