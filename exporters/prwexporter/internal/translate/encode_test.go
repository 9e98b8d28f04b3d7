// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// prompbV1 is the straightforward encoding MarshalV1 replaces: every series
// as a prompb.TimeSeries, marshalled by prompb's generated code.
func prompbV1(sh *Shard, sendMetadata bool) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for _, s := range sh.Series {
		ts := prompb.TimeSeries{Labels: s.Labels(), Exemplars: s.Exemplars(), Histograms: s.Histograms()}
		for _, x := range s.Samples {
			ts.Samples = append(ts.Samples, prompb.Sample{Value: x.Value, Timestamp: x.Timestamp})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	if sendMetadata {
		req.Metadata = v1Metadata(sh)
	}
	return req
}

// prompbV2 is the straightforward encoding MarshalV2 replaces.
func prompbV2(sh *Shard) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for _, s := range sh.Series {
		var ts writev2.TimeSeries
		for _, l := range s.Labels() {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		for _, x := range s.Samples {
			ts.Samples = append(ts.Samples, writev2.Sample{Value: x.Value, Timestamp: x.Timestamp, StartTimestamp: x.Start})
		}
		for i, h := range s.Histograms() {
			ts.Histograms = append(ts.Histograms, histogramV2(h, s.HistStarts()[i]))
		}
		for _, e := range s.Exemplars() {
			ex := writev2.Exemplar{Value: e.Value, Timestamp: e.Timestamp}
			for _, l := range e.Labels {
				ex.LabelsRefs = append(ex.LabelsRefs, st.Symbolize(l.Name), st.Symbolize(l.Value))
			}
			ts.Exemplars = append(ts.Exemplars, ex)
		}
		if s.Meta != nil {
			ts.Metadata = writev2.Metadata{Type: writev2.FromMetadataType(s.Meta.Type), HelpRef: st.Symbolize(s.Meta.Help), UnitRef: st.Symbolize(s.Meta.Unit)}
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	return req
}

func TestMarshalV2MatchesPrompb(t *testing.T) {
	t.Parallel()
	var bufs Buffers // reused on purpose: a stale symbol table would show
	for _, sh := range append(New(Settings{Shards: 3, TargetInfo: true}).Translate(benchMetrics()).Shards, sampleShard(t), labelOrderShard(t)) {
		body, err := MarshalV2(sh, &bufs)
		require.NoError(t, err)
		got, err := snappy.Decode(nil, body)
		require.NoError(t, err)
		want, err := prompbV2(sh).Marshal()
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "MarshalV2 differs from writev2's encoding of the same series")
	}
}

// labelOrderShard holds series whose labels MarshalV1 cannot copy from
// their data point's encoding as they are: a label sorting before __name__,
// data point attributes named le and quantile (replaced by the bucket's and
// quantile's own), and histograms of no attributes at all.
func labelOrderShard(t *testing.T) *Shard {
	t.Helper()
	md := pmetric.NewMetrics()
	h := cumulativeHistogram(md, "dur", "s")
	h.ExplicitBounds().FromRaw([]float64{0.5, 1})
	h.BucketCounts().FromRaw([]uint64{1, 2, 3})
	h.SetCount(6)
	h.SetSum(4)
	h.Attributes().PutStr("A", "upper")
	h.Attributes().PutStr("le", "attr")
	h.Attributes().PutStr("zz", "z")
	h2 := cumulativeHistogram(md, "bare", "")
	h2.ExplicitBounds().FromRaw([]float64{1})
	h2.BucketCounts().FromRaw([]uint64{1, 1})
	h2.SetCount(2)
	m := newMetric(md, "rpc", "ms")
	sp := m.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetTimestamp(ts0)
	sp.SetCount(3)
	sp.SetSum(7)
	sp.Attributes().PutStr("B", "b")
	sp.Attributes().PutStr("quantile", "attr")
	q := sp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.5)
	q.SetValue(2)
	tr := New(Settings{Shards: 1, TargetInfo: true, ScopeLabels: true, ExternalLabels: map[string]string{"cluster": "c", "Z": "ext"}})
	return tr.Translate(md).Shards[0]
}

func TestMarshalV1MatchesPrompb(t *testing.T) {
	t.Parallel()
	for _, sh := range append(New(Settings{Shards: 3, TargetInfo: true}).Translate(benchMetrics()).Shards, sampleShard(t), labelOrderShard(t)) {
		body, err := MarshalV1(sh, true, &Buffers{})
		require.NoError(t, err)
		got, err := snappy.Decode(nil, body)
		require.NoError(t, err)
		want, err := prompbV1(sh, true).Marshal()
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "MarshalV1 differs from prompb's encoding of the same series")
	}
}

func TestMarshalV1ReusesBuffer(t *testing.T) {
	t.Parallel()
	sh := sampleShard(t)
	var bufs Buffers
	body1, err := MarshalV1(sh, false, &bufs)
	require.NoError(t, err)
	pb, sn := &bufs.pb[:1][0], &bufs.snappy[:1][0]
	body2, err := MarshalV1(sh, false, &bufs)
	require.NoError(t, err)
	require.Same(t, pb, &bufs.pb[:1][0], "the protobuf buffer is reused")
	require.Same(t, sn, &bufs.snappy[:1][0], "the snappy buffer is reused")
	require.Equal(t, body1, body2)
	require.NotSame(t, &body1[0], &body2[0], "bodies do not share the reused memory")
}

// unmarshalBody decompresses a request body (snappy) and decodes it into a
// new T, failing the test on an error; what names the protocol.
func unmarshalBody[T any, PT interface {
	*T
	Unmarshal([]byte) error
}](t *testing.T, what string, body []byte) *T {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("%s snappy: %v", what, err)
	}
	msg := PT(new(T))
	if err := msg.Unmarshal(raw); err != nil {
		t.Fatalf("%s round trip: %v", what, err)
	}
	return msg
}

// checkV1 asserts that a decoded 1.0 request holds exactly the shard's
// series, labels and samples (bit for bit: NaN, staleness and -0 included).
func checkV1(t *testing.T, sh *Shard, got *prompb.WriteRequest) {
	t.Helper()
	if len(got.Timeseries) != len(sh.Series) {
		t.Fatalf("v1: %d series decoded, %d in the shard", len(got.Timeseries), len(sh.Series))
	}
	for i, s := range sh.Series {
		ts := got.Timeseries[i]
		want := s.Labels()
		if !slices.EqualFunc(ts.Labels, want, func(a, b prompb.Label) bool { return a.Name == b.Name && a.Value == b.Value }) {
			t.Fatalf("v1 series %d: labels %v, want %v", i, ts.Labels, want)
		}
		if len(ts.Samples) != len(s.Samples) || len(ts.Histograms) != len(s.Histograms()) || len(ts.Exemplars) != len(s.Exemplars()) {
			t.Fatalf("v1 series %d: %d/%d/%d samples/histograms/exemplars, want %d/%d/%d", i,
				len(ts.Samples), len(ts.Histograms), len(ts.Exemplars), len(s.Samples), len(s.Histograms()), len(s.Exemplars()))
		}
		for j, x := range s.Samples {
			if math.Float64bits(ts.Samples[j].Value) != math.Float64bits(x.Value) || ts.Samples[j].Timestamp != x.Timestamp {
				t.Fatalf("v1 series %d sample %d: %v@%d, want %v@%d", i, j, ts.Samples[j].Value, ts.Samples[j].Timestamp, x.Value, x.Timestamp)
			}
		}
	}
}

// checkV2 is checkV1 for a decoded 2.0 request.
func checkV2(t *testing.T, sh *Shard, got *writev2.Request) {
	t.Helper()
	if len(got.Timeseries) != len(sh.Series) {
		t.Fatalf("v2: %d series decoded, %d in the shard", len(got.Timeseries), len(sh.Series))
	}
	for i, s := range sh.Series {
		ts := got.Timeseries[i]
		want := s.Labels()
		if len(ts.LabelsRefs) != 2*len(want) {
			t.Fatalf("v2 series %d: %d label refs, want %d", i, len(ts.LabelsRefs), 2*len(want))
		}
		for j, l := range want {
			n, v := ts.LabelsRefs[2*j], ts.LabelsRefs[2*j+1]
			if int(max(n, v)) >= len(got.Symbols) || got.Symbols[n] != l.Name || got.Symbols[v] != l.Value {
				t.Fatalf("v2 series %d label %d: refs %d/%d, want %s=%q", i, j, n, v, l.Name, l.Value)
			}
		}
		if len(ts.Samples) != len(s.Samples) || len(ts.Histograms) != len(s.Histograms()) || len(ts.Exemplars) != len(s.Exemplars()) {
			t.Fatalf("v2 series %d: wrong number of samples, histograms or exemplars", i)
		}
		for j, x := range s.Samples {
			y := ts.Samples[j]
			if math.Float64bits(y.Value) != math.Float64bits(x.Value) || y.Timestamp != x.Timestamp || y.StartTimestamp != x.Start {
				t.Fatalf("v2 series %d sample %d: %+v, want %+v", i, j, y, x)
			}
		}
	}
}

// TestSeriesHashIsLabelsHash checks that the hash a series is indexed by is
// the hash of all its labels however it was computed (labelBytes for the
// derived series of a data point, a labelCursor when an attribute is
// replaced): two series with the same labels must meet in the index.
func TestSeriesHashIsLabelsHash(t *testing.T) {
	t.Parallel()
	for _, sh := range append(New(Settings{Shards: 3, TargetInfo: true}).Translate(benchMetrics()).Shards, sampleShard(t), labelOrderShard(t)) {
		for _, s := range sh.Series {
			require.Equal(t, hashLabels(appendLabels(nil, s.cursor())), s.hash, "%v", s.Labels())
		}
	}
}
