// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package translate // import "github.com/vigil-otel/vigil/exporters/prwexporter/internal/translate"

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
)

// Size estimates, upper bounds of both encodings. A label costs its 1.0
// encoding (label message tag and length, two string fields) plus 4 bytes
// of slack for 2.0, whose worst case is two 3-byte symbol references plus
// the tags and lengths of two new symbol table entries. A series adds its
// message tag and length and 2.0's metadata references; a float sample is
// at most 22 bytes, 33 with 2.0's start timestamp.
const (
	v2LabelSlack   = 4
	seriesOverhead = 16
	sampleEst      = 22
	startEst       = 11
)

// labelSize estimates one label (see above).
func labelSize(name, value string) int {
	n := labelLen(name, value)
	return 1 + varintLen(uint64(n)) + n + v2LabelSlack
}

// baseSize estimates the labels of a data point, without the value of
// __name__, which each series replaces with its own name.
func baseSize(base []label) int {
	n := 0
	for _, l := range base {
		if l.Name == model.MetricNameLabel {
			n += labelSize(l.Name, "")
			continue
		}
		n += labelSize(l.Name, l.Value)
	}
	return n
}

// metaSize estimates metadata: its strings once (1.0 sends them once per
// family, 2.0 once per request in the symbol table) and a series' references.
func metaSize(meta *Metadata) int {
	if meta == nil {
		return 0
	}
	return labelSize(meta.Family, "") + labelSize(meta.Help, meta.Unit)
}

// sampleSize estimates a float sample.
func sampleSize(x Sample) int {
	if x.Start != 0 {
		return sampleEst + startEst
	}
	return sampleEst
}

// histogramSize estimates a native histogram: its 1.0 size, tag and length,
// and 2.0's start timestamp.
func histogramSize(h *prompb.Histogram) int { return h.Size() + 4 + startEst }

// seriesSize estimates a series without its base labels and metadata.
func seriesSize(name string, extra label) int {
	n := len(name) + seriesOverhead
	if extra.Name != "" {
		n += labelSize(extra.Name, extra.Value)
	}
	return n
}

// exemplarsSize estimates exemplars (see labelSize).
func exemplarsSize(exs []prompb.Exemplar) int {
	n := 0
	for i := range exs {
		n += exs[i].Size() + 4 + v2LabelSlack*len(exs[i].Labels) // tag and length; 2.0 refers to labels by symbol
	}
	return n
}
