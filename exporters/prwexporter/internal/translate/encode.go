// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"fmt"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// EncodeV1 builds the remote-write 1.0 WriteRequest for a shard.
func EncodeV1(sh *Shard, sendMetadata bool) *prompb.WriteRequest {
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(sh.Series))}
	var seen map[string]struct{}
	for _, s := range sh.Series {
		ts := prompb.TimeSeries{Labels: s.Labels, Exemplars: s.Exemplars, Histograms: s.Histograms}
		if len(s.Samples) > 0 {
			ts.Samples = make([]prompb.Sample, len(s.Samples))
			for i, x := range s.Samples {
				ts.Samples[i] = prompb.Sample{Value: x.Value, Timestamp: x.Timestamp}
			}
		}
		req.Timeseries = append(req.Timeseries, ts)
		if sendMetadata && s.Meta != nil {
			if seen == nil {
				seen = map[string]struct{}{}
			}
			if _, ok := seen[s.Meta.Family]; !ok {
				seen[s.Meta.Family] = struct{}{}
				req.Metadata = append(req.Metadata, prompb.MetricMetadata{
					Type:             prompb.FromMetadataType(s.Meta.Type),
					MetricFamilyName: s.Meta.Family,
					Help:             s.Meta.Help,
					Unit:             s.Meta.Unit,
				})
			}
		}
	}
	return req
}

// EncodeV2 builds the remote-write 2.0 Request for a shard: strings go into
// the symbol table (symbol 0 is always ""), every series carries its
// metadata, and samples carry their start timestamp.
func EncodeV2(sh *Shard) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{Timeseries: make([]writev2.TimeSeries, 0, len(sh.Series))}
	for _, s := range sh.Series {
		ts := writev2.TimeSeries{LabelsRefs: make([]uint32, 0, 2*len(s.Labels))}
		for _, l := range s.Labels {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		if len(s.Samples) > 0 {
			ts.Samples = make([]writev2.Sample, len(s.Samples))
			for i, x := range s.Samples {
				ts.Samples[i] = writev2.Sample{Value: x.Value, Timestamp: x.Timestamp, StartTimestamp: x.Start}
			}
		}
		for i, h := range s.Histograms {
			ts.Histograms = append(ts.Histograms, histogramV2(h, s.HistStarts[i]))
		}
		for _, e := range s.Exemplars {
			ex := writev2.Exemplar{Value: e.Value, Timestamp: e.Timestamp, LabelsRefs: make([]uint32, 0, 2*len(e.Labels))}
			for _, l := range e.Labels {
				ex.LabelsRefs = append(ex.LabelsRefs, st.Symbolize(l.Name), st.Symbolize(l.Value))
			}
			ts.Exemplars = append(ts.Exemplars, ex)
		}
		if s.Meta != nil {
			ts.Metadata = writev2.Metadata{
				Type:    writev2.FromMetadataType(s.Meta.Type),
				HelpRef: st.Symbolize(s.Meta.Help),
				UnitRef: st.Symbolize(s.Meta.Unit),
			}
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	return req
}

func histogramV2(h prompb.Histogram, start int64) writev2.Histogram {
	out := writev2.Histogram{
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		NegativeDeltas: h.NegativeDeltas,
		PositiveDeltas: h.PositiveDeltas,
		Timestamp:      h.Timestamp,
		StartTimestamp: start,
	}
	if c, ok := h.Count.(*prompb.Histogram_CountInt); ok {
		out.Count = &writev2.Histogram_CountInt{CountInt: c.CountInt}
	}
	if z, ok := h.ZeroCount.(*prompb.Histogram_ZeroCountInt); ok {
		out.ZeroCount = &writev2.Histogram_ZeroCountInt{ZeroCountInt: z.ZeroCountInt}
	}
	for _, s := range h.NegativeSpans {
		out.NegativeSpans = append(out.NegativeSpans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	for _, s := range h.PositiveSpans {
		out.PositiveSpans = append(out.PositiveSpans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	return out
}

// Marshal encodes a 1.0 or 2.0 request and compresses it with snappy block
// compression, reusing buf for the protobuf bytes when it is large enough.
func Marshal(v1 *prompb.WriteRequest, v2 *writev2.Request, buf []byte) (body, pbBuf []byte, err error) {
	var pb []byte
	switch {
	case v1 != nil:
		n := v1.Size()
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		m, err := v1.MarshalToSizedBuffer(buf[:n])
		if err != nil {
			return nil, buf, fmt.Errorf("marshal remote-write 1.0 request: %w", err)
		}
		pb = buf[n-m : n]
	case v2 != nil:
		pb, err = v2.OptimizedMarshal(buf)
		if err != nil {
			return nil, buf, fmt.Errorf("marshal remote-write 2.0 request: %w", err)
		}
		buf = pb
	default:
		return nil, buf, fmt.Errorf("BUG: Marshal called without a request")
	}
	return snappy.Encode(nil, pb), buf, nil
}
