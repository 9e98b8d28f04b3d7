// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// benchLogs is a batch like a node agent sends: 10 services, 100 records
// each, with a few attributes and trace context.
func benchLogs(records int) plog.Logs {
	ld := plog.NewLogs()
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for s := range 10 {
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("service.name", fmt.Sprintf("svc-%d", s))
		ra.PutStr("k8s.namespace.name", "prod")
		ra.PutStr("k8s.pod.name", fmt.Sprintf("svc-%d-7d9f8c-abcde", s))
		ra.PutStr("host.name", "node-1")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range records / 10 {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr("GET /api/v1/orders/12345 completed in 12ms with status 200 for user 42")
			lr.Attributes().PutStr("http.method", "GET")
			lr.Attributes().PutInt("http.status_code", 200)
			lr.Attributes().PutDouble("duration_ms", 12.5)
			lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
			lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		}
	}
	return ld
}

// telemetrygenLogs is a batch as the bench's logs loads hand the exporter:
// telemetrygen's workers send one record per request, so the batch
// processor's output has one resource (service.name=telemetrygen) per
// record, all with the same labels, the body "the message", severity
// "Info"/9 and the attribute app=server. Each worker stamps its record
// before waiting for its rate limiter, so the 32 workers' timestamps
// interleave: the batch is out of order in short runs.
func telemetrygenLogs(records int) plog.Logs {
	const workers = 32
	ld := plog.NewLogs()
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range records {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "telemetrygen")
		sl := rl.ScopeLogs().AppendEmpty()
		lr := sl.LogRecords().AppendEmpty()
		w := i % workers
		// worker w's n-th record: 1ms apart per worker, the workers
		// offset from each other by up to 0.9ms
		n := i / workers
		ts := base.Add(time.Duration(n)*time.Millisecond + time.Duration((w*7919)%900)*time.Microsecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("Info")
		lr.Body().SetStr("the message")
		lr.Attributes().PutStr("app", "server")
	}
	return ld
}

// BenchmarkTranslateTelemetrygen is translate alone, then translate and
// encoding, on the bench's logs batch of 8,000 records (telemetrygenLogs) with
// the default config; ns/record is reported alongside.
// Run: go test -run XXX -bench Telemetrygen -benchmem -count 10 ./exporters/lokiexporter/
func BenchmarkTranslateTelemetrygen(b *testing.B) {
	const records = 8000
	ld := telemetrygenLogs(records)
	tr := newTranslator(defaultCfg())
	b.Run("translate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = tr.translate(ld)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			batch := tr.translate(ld)
			for _, g := range batch.groups {
				if _, err := encodeRequest(g); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	})
}

// BenchmarkTranslateEncode measures translation into streams plus protobuf
// marshalling and snappy compression of every push request, per batch of
// 1000 records; ns/record is reported alongside.
// Run: go test -run XXX -bench TranslateEncode -benchmem ./exporters/lokiexporter/
func BenchmarkTranslateEncode(b *testing.B) {
	const records = 1000
	ld := benchLogs(records)
	for _, format := range []LineFormat{LineFormatRaw, LineFormatJSON, LineFormatLogfmt} {
		b.Run(string(format), func(b *testing.B) {
			cfg := defaultCfg()
			cfg.LineFormat = format
			cfg.StructuredMetadata.Attributes = []string{"k8s.pod.name"}
			tr := newTranslator(cfg)
			b.ReportAllocs()
			var bytesOut int
			for b.Loop() {
				batch := tr.translate(ld)
				for _, g := range batch.groups {
					req := push.PushRequest{Streams: g.streams}
					raw, err := req.Marshal()
					if err != nil {
						b.Fatal(err)
					}
					bytesOut += len(snappy.Encode(nil, raw))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
			b.ReportMetric(float64(bytesOut)/float64(b.N*records), "wire-bytes/record")
		})
	}
}
