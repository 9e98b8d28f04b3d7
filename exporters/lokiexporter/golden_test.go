// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/translate.golden from the current translate")

// goldenNow stands in for the wall clock of records without any timestamp.
var goldenNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// goldenConfigs are the config variants the golden and model tests run
// every varied batch through: every line format, structured metadata on,
// off and with other_attributes, record-attribute labels, renamed labels,
// no severity label, truncation and dropping of long lines, tenants by
// resource attribute and by ID, one shard and many.
func goldenConfigs() map[string]*Config {
	out := map[string]*Config{}
	out["default"] = defaultCfg()

	c := defaultCfg()
	c.LineFormat = LineFormatJSON
	c.StructuredMetadata.Enabled = false
	out["json-nosm"] = c

	c = defaultCfg()
	c.LineFormat = LineFormatLogfmt
	c.StructuredMetadata.Attributes = []string{"sm.attr", "k8s.pod.name"}
	c.Shards = 7
	out["logfmt-sm"] = c

	c = defaultCfg()
	c.StructuredMetadata.OtherAttributes = false
	c.StructuredMetadata.Attributes = []string{"sm.attr"}
	c.Labels.Attributes = []LabelRule{{Attribute: "lbl"}, {Attribute: "lbl.renamed", Label: "aaa"}}
	c.Labels.Severity = ""
	c.MaxLineSize = 40
	c.Tenant.ResourceAttribute = "tenant"
	out["raw-labels-truncate"] = c

	c = defaultCfg()
	c.MaxLineSize = 40
	c.MaxLineSizeAction = LineSizeDrop
	c.Shards = 1
	c.Tenant.ID = "t1"
	c.Labels.ResourceAttributes = append(c.Labels.ResourceAttributes, LabelRule{Attribute: "host.name", Label: "zz_host"})
	c.Labels.Attributes = []LabelRule{{Attribute: "lbl"}}
	c.StructuredMetadata.Attributes = []string{"sm.attr", "host.name"}
	out["raw-drop-tenant"] = c

	c = defaultCfg()
	c.LineFormat = LineFormatJSON
	c.Labels.Severity = "severity_level"
	c.Tenant.ResourceAttribute = "tenant"
	out["json-sm"] = c
	return out
}

// variedLogs is a deterministic batch of many shapes: resources with equal
// and different label sets, several scopes, timestamps with many ties, out
// of order, only observed or none, every severity spelling the exporter
// meets (and some it does not: non-ASCII, invalid UTF-8), bodies of every
// type, long lines, attributes that shadow resource attributes or have
// names Loki does not allow, trace context on some records.
func variedLogs(seed uint64, records int) plog.Logs {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	services := []string{"checkout", "cart", "", "svc\xff", "päyment", `q"uote\`}
	sevTexts := []string{"", "Info", "INFO", "info", "Warn", "WARN", "warning", "WARNING", "Error", "ERROR", "error",
		"Fatal", "FATAL", "Debug", "DEBUG", "debug", "Trace", "TRACE", "ÉRROR", "İnfo", "x\xffy", "Notice", "iNfO", "INFO2"}
	bodies := []string{"GET /api/v1/orders 200", "the message", "", "tab\tand \"quotes\" and = sign",
		strings.Repeat("long line ", 8), "bad\xffutf8", "ünïcode ✓"}
	ld := plog.NewLogs()
	base := pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	nres := 1 + r.IntN(6)
	per := max(records/nres, 1)
	for range nres {
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		if s := pick(services); r.IntN(5) > 0 {
			ra.PutStr("service.name", s)
		}
		if r.IntN(2) == 0 {
			ra.PutStr("service.namespace", pick([]string{"shop", "infra"}))
		}
		ra.PutStr("k8s.namespace.name", pick([]string{"prod", "dev", ""}))
		if r.IntN(3) == 0 {
			ra.PutStr("deployment.environment", "staging")
		}
		ra.PutStr("host.name", pick([]string{"node-1", "node-2"}))
		ra.PutStr("k8s.pod.name", pick([]string{"pod-a", "pod-b"}))
		if r.IntN(2) == 0 {
			ra.PutStr("tenant", pick([]string{"acme", "globex", "", "t\xff"}))
		}
		if r.IntN(2) == 0 {
			ra.PutStr("res.only", "r")
			ra.PutInt("res.int", int64(r.IntN(3)))
		}
		if r.IntN(3) == 0 {
			ra.PutStr("app", "from-resource") // shadowed by the record's own app
		}
		nscopes := 1 + r.IntN(3)
		for range nscopes {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("scope")
			lrs := sl.LogRecords()
			n := r.IntN(per/nscopes + 2)
			for range n {
				lr := lrs.AppendEmpty()
				ts := base + pcommon.Timestamp(r.IntN(20))*pcommon.Timestamp(time.Millisecond)
				switch r.IntN(10) {
				case 0:
					lr.SetObservedTimestamp(ts)
				case 1: // neither: the translator's clock
				default:
					lr.SetTimestamp(ts)
				}
				lr.SetSeverityText(pick(sevTexts))
				lr.SetSeverityNumber(plog.SeverityNumber(r.IntN(25)))
				switch r.IntN(8) {
				case 0:
					lr.Body().SetInt(int64(r.IntN(1000)))
				case 1:
					m := lr.Body().SetEmptyMap()
					m.PutStr("msg", pick(bodies))
					m.PutDouble("d", 1.5)
				case 2: // empty body
				case 3:
					lr.Body().SetEmptyBytes().FromRaw([]byte{1, 2, 0xff})
				default:
					lr.Body().SetStr(pick(bodies))
				}
				a := lr.Attributes()
				a.PutStr("app", pick([]string{"server", "client", ""}))
				if r.IntN(2) == 0 {
					a.PutStr("http.method", pick([]string{"GET", "POST"}))
					a.PutInt("http.status_code", int64(200+r.IntN(3)*100))
				}
				if r.IntN(4) == 0 {
					a.PutStr("lbl", pick([]string{"x", "y", ""}))
					a.PutStr("lbl.renamed", pick([]string{"p", "q"}))
				}
				if r.IntN(4) == 0 {
					a.PutStr("sm.attr", pick([]string{"s1", "s\xff2", ""}))
				}
				if r.IntN(5) == 0 {
					a.PutStr("trace_id", "attr")
					a.PutBool("0 bad key", true)
					a.PutStr("res.only", "record wins")
					a.PutDouble("ratio", 0.25)
				}
				if r.IntN(3) == 0 {
					lr.SetTraceID(pcommon.TraceID{byte(r.IntN(256)), 1, 2, 3})
					lr.SetSpanID(pcommon.SpanID{byte(r.IntN(256)), 9})
				}
			}
		}
	}
	return ld
}

// goldenCases are the batches of the golden test: small ones of every
// shape, and large ones whose streams have thousands of entries with ties.
func goldenCases() map[string]plog.Logs {
	out := map[string]plog.Logs{}
	for seed := range uint64(24) {
		out[fmt.Sprintf("varied-%02d", seed)] = variedLogs(seed, 60)
	}
	out["varied-large"] = variedLogs(1000, 5000)
	out["telemetrygen"] = telemetrygenLogs(3000)
	out["node-agent"] = benchLogs(1000)
	return out
}

// batchDigest hashes everything translate decides: each push request's
// tenant, shard and protobuf bytes in order, the record → request map, and
// the drop and truncation counts.
func batchDigest(t testing.TB, b *pushBatch) string {
	h := sha256.New()
	for _, g := range b.groups {
		req := push.PushRequest{Streams: g.streams}
		raw, err := req.Marshal()
		require.NoError(t, err)
		fmt.Fprintf(h, "group %q %d %d %d\n", g.key.tenant, g.key.shard, g.entries, len(raw))
		h.Write(raw)
	}
	require.NoError(t, binary.Write(h, binary.LittleEndian, b.recordGroup))
	reasons := make([]string, 0, len(b.dropped))
	for k := range b.dropped {
		reasons = append(reasons, k)
	}
	slices.Sort(reasons)
	for _, k := range reasons {
		fmt.Fprintf(h, "dropped %s %d\n", k, b.dropped[k])
	}
	fmt.Fprintf(h, "truncated %d\n", b.truncated)
	return hex.EncodeToString(h.Sum(nil))
}

// TestTranslateGolden pins translate's output, byte for byte on the wire,
// to what it was before translate was restructured for speed
// (testdata/translate.golden, written by the earlier implementation with
// -update-golden).
func TestTranslateGolden(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "translate.golden")
	got := map[string]string{}
	cases, configs := goldenCases(), goldenConfigs()
	for cn, ld := range cases {
		for fn, cfg := range configs {
			tr := newTranslator(cfg)
			tr.now = func() time.Time { return goldenNow }
			got[cn+" "+fn] = batchDigest(t, tr.translate(ld))
		}
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if *updateGolden {
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s %s\n", k, got[k])
		}
		require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
		return
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		i := strings.LastIndexByte(sc.Text(), ' ')
		want[sc.Text()[:i]] = sc.Text()[i+1:]
	}
	require.NoError(t, sc.Err())
	require.Len(t, want, len(got), "cases in %s", path)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s: output differs from %s", k, path)
		}
	}
}
