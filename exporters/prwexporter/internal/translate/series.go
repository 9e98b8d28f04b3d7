// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// Metadata describes a metric family.
type Metadata struct {
	Family string
	Type   model.MetricType
	Help   string
	Unit   string

	// Names of the series derived from a histogram or summary family, built
	// once per metric rather than once per data point.
	bucket, sum, count string
	// The le label values of the last explicit bounds seen in this family:
	// the data points of one histogram almost always share their bounds.
	bounds    []float64
	boundStrs []string
	// openMetricsFloats: see Settings.OpenMetricsFloats.
	openMetricsFloats bool
}

// Sample is a float sample with its start ("created") timestamp, both in ms.
type Sample struct {
	Value     float64
	Timestamp int64
	Start     int64
}

// Series is one Prometheus series with everything sent for it in a request.
//
// Its labels are not stored as one list: the series derived from one data
// point (the buckets, _sum and _count of a histogram) share the data point's
// labels and differ only in __name__ and one le or quantile label. Keeping
// them apart saves a copy of every label per derived series, which was most
// of the exporter's memory traffic; Labels and labelCursor put them together.
type Series struct {
	base  *dpLabels // the data point's labels
	name  string    // this series' __name__
	extra label     // le or quantile; Name is "" when there is none

	Samples []Sample
	Meta    *Metadata
	hash    uint64
	next    *Series // next series of the shard with the same hash
	rare    *rareData
}

// dpLabels are the labels of one data point, shared by the series derived
// from it. The series of one data point, and of every data point with the
// same labels, form a group: group is the hash of the labels, by which
// Translate shards, Chunks cuts and Filter selects.
type dpLabels struct {
	labels []label // sorted by name, with __name__
	group  uint64
	size   int // estimated encoded size of labels (baseSize)
}

// rareData is what few series have; apart, it keeps Series small.
type rareData struct {
	histograms []prompb.Histogram // native histograms (1.0 representation)
	histStarts []int64            // start timestamp (ms) of each histogram
	exemplars  []prompb.Exemplar
}

// Histograms returns the series' native histograms (1.0 representation).
func (s *Series) Histograms() []prompb.Histogram {
	if s.rare == nil {
		return nil
	}
	return s.rare.histograms
}

// HistStarts returns the start timestamp (ms) of each histogram.
func (s *Series) HistStarts() []int64 {
	if s.rare == nil {
		return nil
	}
	return s.rare.histStarts
}

// Exemplars returns the series' exemplars.
func (s *Series) Exemplars() []prompb.Exemplar {
	if s.rare == nil {
		return nil
	}
	return s.rare.exemplars
}

func (s *Series) rareData() *rareData {
	if s.rare == nil {
		s.rare = &rareData{}
	}
	return s.rare
}

// Labels returns the series' labels sorted by name. It allocates; the
// encoders use a labelCursor.
func (s *Series) Labels() []prompb.Label {
	lbls := appendLabels(nil, s.cursor())
	out := make([]prompb.Label, len(lbls))
	for i, l := range lbls {
		out[i] = prompb.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

func (s *Series) cursor() labelCursor { return newCursor(s.base.labels, s.name, s.extra) }

// Shard is the part of a request that goes to one sender.
type Shard struct {
	Series []*Series
	index  map[uint64]*Series
	arena  *arena
	// est is an upper bound of the shard's encoded size (1.0 or 2.0,
	// before compression), summed as series and samples are added.
	est int
}

// Counts returns the number of samples, histograms and exemplars in the shard.
func (s *Shard) Counts() (samples, histograms, exemplars int) {
	for _, ts := range s.Series {
		samples += len(ts.Samples)
		histograms += len(ts.Histograms())
		exemplars += len(ts.Exemplars())
	}
	return
}

// seriesKey names a series the way Series stores it. base may be scratch
// memory: kept points at the arena copy of it, made when the first series of
// the data point is created and shared by the others.
type seriesKey struct {
	base  []label
	group uint64    // hash of base
	kept  *dpLabels // base as stored in the shard, nil until a series needs it
	// hashed holds base's bytes for hash, nil until a series needs them.
	hashed *labelBytes
	name   string
	extra  label
}

// hash returns the hash of the series' labels, as hashLabels of them all.
// scratch, if not nil, holds the bytes of the data point's labels for its
// next series (see labelBytes); it is the caller's until the key is done.
func (k *seriesKey) hash(scratch *labelBytes) uint64 {
	if k.extra.Name == "" && len(k.base) > 0 && k.base[0].Name == model.MetricNameLabel && k.base[0].Value == k.name {
		return hashLabels(k.base)
	}
	var arr [512]byte
	b := arr[:0]
	if ins, ok := extraAt(k.base, k.extra.Name); ok && scratch != nil {
		if k.hashed == nil { // first derived series of the data point
			scratch.set(k.base, formHashed)
			k.hashed = scratch
		}
		return xxhash.Sum64(k.hashed.appendSeries(b, k.name, k.extra, ins))
	}
	for c := newCursor(k.base, k.name, k.extra); ; {
		n, v, ok := c.next()
		if !ok {
			return xxhash.Sum64(b)
		}
		b = appendHashed(b, n, v)
	}
}

// addSample adds a float sample to s and its size to the estimate.
func (sh *Shard) addSample(s *Series, x Sample) {
	sh.arena.addSample(s, x)
	sh.est += sampleSize(x)
}

// get returns the series with this key in the shard, creating it if needed;
// existing is the series if it was already there.
func (sh *Shard) get(k *seriesKey, h uint64, meta *Metadata) (s, existing *Series) {
	first := sh.index[h]
	for s := first; s != nil; s = s.next {
		if s.name == k.name && s.extra == k.extra && labelsEqual(s.base.labels, k.base) ||
			labelsEqual(appendLabels(nil, s.cursor()), appendLabels(nil, newCursor(k.base, k.name, k.extra))) {
			return s, s
		}
	}
	if k.kept == nil {
		k.kept = sh.arena.newLabels(k.base, k.group, baseSize(k.base))
		sh.est += metaSize(meta) // once per data point
	}
	sh.est += k.kept.size + seriesSize(k.name, k.extra) // every series has all labels
	s = sh.arena.newSeries()
	*s = Series{base: k.kept, name: k.name, extra: k.extra, Meta: meta, hash: h, next: first}
	sh.index[h] = s
	sh.Series = append(sh.Series, s)
	return s, nil
}

func (s *Series) hasSampleAt(ts int64) bool {
	for _, x := range s.Samples {
		if x.Timestamp == ts {
			return true
		}
	}
	for _, x := range s.Histograms() {
		if x.Timestamp == ts {
			return true
		}
	}
	return false
}
