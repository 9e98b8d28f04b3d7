// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzTranslate feeds arbitrary bodies, attribute keys and values of every
// AnyValue type through all line formats and checks that translation and
// encoding never panic, every record is either sent or counted, and
// everything sent is valid UTF-8 that decodes back to the same request, and
// the output is modelTranslate's.
func FuzzTranslate(f *testing.F) {
	f.Add("hello", "k", "v", int64(1), 1.5, []byte{1, 2}, uint8(0), 0)
	f.Add("", "", "", int64(0), 0.0, []byte(nil), uint8(1), 0)
	f.Add("bad\xff\xfeutf8", "ke\xffy", "va\x00l\"ue", int64(-1), math.NaN(), []byte{0xff}, uint8(2), 3)
	f.Add(strings.Repeat("x", 70000), "service.name", strings.Repeat("é", 5000), int64(math.MaxInt64), math.Inf(1), make([]byte, 4096), uint8(5), 10)
	f.Add("{\"json\":true}", "body", "=\n\t ", int64(math.MinInt64), -0.0, []byte("b"), uint8(7), 1)
	f.Add("line", "trace_id", "x", int64(3), 1e300, []byte{}, uint8(4), 2)

	f.Fuzz(func(t *testing.T, body, key, sval string, ival int64, dval float64, bval []byte, flags uint8, depth int) {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("service.name", sval)
		ra.PutStr(key, body)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()

		// One record per body type.
		bodies := []func(pcommon.Value){
			func(v pcommon.Value) { v.SetStr(body) },
			func(v pcommon.Value) { v.SetInt(ival) },
			func(v pcommon.Value) { v.SetDouble(dval) },
			func(v pcommon.Value) { v.SetBool(ival%2 == 0) },
			func(v pcommon.Value) { v.SetEmptyBytes().FromRaw(bval) },
			func(pcommon.Value) {}, // empty
			func(v pcommon.Value) { nest(v.SetEmptyMap().PutEmpty(key), key, sval, depth) },
			func(v pcommon.Value) { nest(v.SetEmptySlice().AppendEmpty(), key, sval, depth) },
		}
		for i, setBody := range bodies {
			lr := lrs.AppendEmpty()
			setBody(lr.Body())
			lr.SetTimestamp(pcommon.Timestamp(uint64(ival) + uint64(i)))
			lr.SetSeverityText(sval)
			lr.SetSeverityNumber(plog.SeverityNumber(int32(flags) % 30))
			a := lr.Attributes()
			a.PutStr(key, sval)
			a.PutInt(key+"i", ival)
			a.PutDouble(key+"d", dval)
			a.PutEmptyBytes(key + "b").FromRaw(bval)
			nest(a.PutEmpty(key+"n"), key, sval, depth)
			if flags&1 != 0 {
				lr.SetTraceID(pcommon.TraceID{byte(ival), 1})
				lr.SetSpanID(pcommon.SpanID{byte(flags), 2})
			}
		}

		for _, format := range []LineFormat{LineFormatRaw, LineFormatJSON, LineFormatLogfmt} {
			cfg := defaultCfg()
			cfg.LineFormat = format
			cfg.StructuredMetadata.Enabled = flags&2 != 0
			cfg.StructuredMetadata.Attributes = []string{key + "x", "k8s.pod.name"}
			cfg.MaxLineSize = int(flags) * 100
			if flags&4 != 0 {
				cfg.MaxLineSizeAction = LineSizeDrop
			}
			cfg.Labels.Attributes = []LabelRule{{Attribute: "fuzz." + key}}
			cfg.Tenant.ResourceAttribute = key
			cfg.Shards = int(flags%8) + 1
			tr := newTranslator(cfg)
			tr.now = func() time.Time { return goldenNow }
			b := tr.translate(ld)

			var sent, dropped int64
			for _, n := range b.dropped {
				dropped += n
			}
			for _, g := range b.groups {
				for _, s := range g.streams {
					if !utf8.ValidString(s.Labels) || !strings.HasPrefix(s.Labels, "{") || !strings.HasSuffix(s.Labels, "}") {
						t.Fatalf("bad label string %q", s.Labels)
					}
					for _, e := range s.Entries {
						sent++
						if !utf8.ValidString(e.Line) {
							t.Fatalf("line not valid UTF-8: %q", e.Line)
						}
						if cfg.MaxLineSize > 0 && len(e.Line) > cfg.MaxLineSize {
							t.Fatalf("line of %d bytes over max_line_size %d", len(e.Line), cfg.MaxLineSize)
						}
						for _, l := range e.StructuredMetadata {
							if !utf8.ValidString(l.Value) || !validLabelName(l.Name) {
								t.Fatalf("bad structured metadata %q=%q", l.Name, l.Value)
							}
						}
					}
				}
				req := push.PushRequest{Streams: g.streams}
				raw, err := req.Marshal()
				if err != nil {
					t.Fatalf("marshal: %v", err)
				}
				dec, err := snappy.Decode(nil, snappy.Encode(nil, raw))
				if err != nil {
					t.Fatalf("snappy: %v", err)
				}
				var back push.PushRequest
				if err := back.Unmarshal(dec); err != nil {
					t.Fatalf("unmarshal: %v", err)
				}
				if len(back.Streams) != len(g.streams) {
					t.Fatalf("round trip lost streams: %d != %d", len(back.Streams), len(g.streams))
				}
			}
			if sent+dropped != int64(ld.LogRecordCount()) {
				t.Fatalf("%s: sent %d + dropped %d != %d records", format, sent, dropped, ld.LogRecordCount())
			}
			// The same output as translate written the plain way.
			requireMatchesModel(t, tr, ld)
		}
	})
}

// nest builds a value nested depth levels deep (bounded) of maps and slices.
func nest(v pcommon.Value, key, s string, depth int) {
	depth = min(max(depth, 0), 32)
	for i := range depth {
		if i%2 == 0 {
			v = v.SetEmptyMap().PutEmpty(key)
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr(s)
}
