// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package benchdata // import "github.com/vigil-otel/vigil/internal/benchdata"

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// LogBatch is what an OTel SDK's batch log processor exports: records log
// records of one service (1,000 in the bench), each with a severity, an
// access-log-like body and five attributes. seq varies the bodies between
// batches.
func LogBatch(instance string, seq, records int, ts pcommon.Timestamp) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	podResource(ra, instance)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("vigil-bench")
	out := sl.LogRecords()
	out.EnsureCapacity(records)
	for i := range records {
		r := out.AppendEmpty()
		r.SetTimestamp(ts + pcommon.Timestamp(i)*1000)
		r.SetObservedTimestamp(ts + pcommon.Timestamp(i)*1000)
		sev, text := plog.SeverityNumberInfo, "INFO"
		if i%50 == 0 {
			sev, text = plog.SeverityNumberWarn, "WARN"
		}
		r.SetSeverityNumber(sev)
		r.SetSeverityText(text)
		r.Body().SetStr(fmt.Sprintf("GET /api/v1/items/%d 200 %dms bytes=%d", seq*records+i, 3+i%40, 512+i%2048))
		a := r.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/api/v1/items/{id}")
		a.PutInt("http.response.status_code", 200)
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", i%8, i%250))
		a.PutStr("logger", "access")
	}
	return ld
}
