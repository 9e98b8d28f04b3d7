// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// The remote-write tests send OTLP/HTTP protobuf requests built with pdata,
// so that every metric type (summaries and staleness markers included, which
// the OTel SDK cannot emit) and every timestamp is known exactly.

// prwConfig is a vigil config with an OTLP receiver and the remote-write
// exporter; extra is YAML inserted under the exporter, storage adds a
// file_storage extension for the persistent queue.
func prwConfig(endpoint, extra string, storage bool) string {
	ext, extList := "", "[]"
	if storage {
		ext = `extensions:
  file_storage/prw:
    directory: ${env:VIGIL_STORAGE_DIR}
    create_directory: true
`
		extList = "[file_storage/prw]"
	}
	return ext + `receivers:
` + yamlOTLPReceiver + `exporters:
  prometheusremotewrite:
    endpoint: ` + endpoint + `/api/v1/write
` + extra + `
service:
  extensions: ` + extList + `
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
` + yamlTelemetryReader + `  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheusremotewrite]
`
}

// postOTLP sends md to vigil's OTLP/HTTP receiver; it returns nil when vigil
// acknowledged the request (HTTP 200), else the error or vigil's answer.
func postOTLP(v *Vigil, md pmetric.Metrics) error {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return err
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(v.OTLPHTTP+"/v1/metrics", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("OTLP export: %s: %s", resp.Status, msg)
	}
	return nil
}

func mustPost(t *testing.T, v *Vigil, md pmetric.Metrics) {
	t.Helper()
	if err := postOTLP(v, md); err != nil {
		t.Fatalf("OTLP export to vigil failed: %v", err)
	}
}

var (
	traceID = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID  = pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

// knownMetrics builds one data point of every type for service svc-<sfx>.
func knownMetrics(sfx string, now time.Time) pmetric.Metrics {
	ts := pcommon.NewTimestampFromTime(now)
	st := pcommon.NewTimestampFromTime(now.Add(-time.Minute))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", "svc-"+sfx)
	ra.PutStr("service.namespace", "vigil")
	ra.PutStr("service.instance.id", "inst-1")
	ra.PutStr("host.name", "node-"+sfx)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	name := func(n string) string { return "prw." + sfx + "." + n }
	// exemplar appends an exemplar of traceID/spanID at ts; the caller sets its value.
	exemplar := func(exs pmetric.ExemplarSlice) pmetric.Exemplar {
		ex := exs.AppendEmpty()
		ex.SetTimestamp(ts)
		ex.SetTraceID(traceID)
		ex.SetSpanID(spanID)
		return ex
	}

	g := ms.AppendEmpty()
	g.SetName(name("memory"))
	g.SetUnit("By")
	g.SetDescription("memory in use")
	gdp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gdp.SetTimestamp(ts)
	gdp.SetDoubleValue(12.5)
	gdp.Attributes().PutStr("host.arch", "amd64")

	c := ms.AppendEmpty()
	c.SetName(name("requests"))
	c.SetDescription("requests served")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cdp := sum.DataPoints().AppendEmpty()
	cdp.SetTimestamp(ts)
	cdp.SetStartTimestamp(st)
	cdp.SetIntValue(42)
	exemplar(cdp.Exemplars()).SetIntValue(1)

	u := ms.AppendEmpty()
	u.SetName(name("queue.depth"))
	usum := u.SetEmptySum()
	usum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	udp := usum.DataPoints().AppendEmpty()
	udp.SetTimestamp(ts)
	udp.SetIntValue(-3)

	h := ms.AppendEmpty()
	h.SetName(name("duration"))
	h.SetUnit("s")
	hh := h.SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hh.DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts)
	hdp.SetStartTimestamp(st)
	hdp.ExplicitBounds().FromRaw([]float64{0.5, 1})
	hdp.BucketCounts().FromRaw([]uint64{2, 3, 1})
	hdp.SetCount(6)
	hdp.SetSum(4.25)
	exemplar(hdp.Exemplars()).SetDoubleValue(0.7)

	e := ms.AppendEmpty()
	e.SetName(name("latency"))
	e.SetUnit("s")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := eh.DataPoints().AppendEmpty()
	edp.SetTimestamp(ts)
	edp.SetStartTimestamp(st)
	edp.SetScale(0)
	edp.SetCount(3)
	edp.SetSum(7)
	edp.Positive().SetOffset(0)
	edp.Positive().BucketCounts().FromRaw([]uint64{1, 2}) // (1,2]: 1, (2,4]: 2

	s := ms.AppendEmpty()
	s.SetName(name("gc.pause"))
	s.SetUnit("s")
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetTimestamp(ts)
	sdp.SetCount(4)
	sdp.SetSum(2)
	q := sdp.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(1.5)

	special := ms.AppendEmpty()
	special.SetName(name("special"))
	sp := special.SetEmptyGauge()
	for _, kv := range []struct {
		kind string
		v    float64
	}{{"nan", math.NaN()}, {"inf", math.Inf(1)}, {"neginf", math.Inf(-1)}} {
		dp := sp.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(kv.v)
		dp.Attributes().PutStr("kind", kv.kind)
	}

	stale := ms.AppendEmpty()
	stale.SetName(name("stale"))
	sg := stale.SetEmptyGauge()
	s1 := sg.DataPoints().AppendEmpty()
	s1.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(-2 * time.Second)))
	s1.SetDoubleValue(5)
	s2 := sg.DataPoints().AppendEmpty()
	s2.SetTimestamp(ts)
	s2.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	return md
}

// one returns the only sample of expr, failing otherwise.
func one(t *testing.T, base, expr string) PromSample {
	t.Helper()
	var got []PromSample
	Eventually(t, 60*time.Second, func() (bool, string) {
		s, err := promQuery(base, expr)
		if err != nil {
			return false, err.Error()
		}
		got = s
		return len(s) == 1, fmt.Sprintf("%s: %d samples: %v", expr, len(s), s)
	})
	return got[0]
}

// waitValue waits until expr has one sample with value want (data of a later
// export may arrive after an earlier one was already visible).
func waitValue(t *testing.T, base, expr string, want float64) {
	t.Helper()
	Eventually(t, 60*time.Second, func() (bool, string) {
		s, err := promQuery(base, expr)
		if err != nil {
			return false, err.Error()
		}
		return len(s) == 1 && s[0].Value == want, fmt.Sprintf("%s = %v, want one sample of value %v", expr, s, want)
	})
}

func assertLabels(t *testing.T, s PromSample, want map[string]string) {
	t.Helper()
	if fmt.Sprint(s.Labels) != fmt.Sprint(want) {
		t.Errorf("labels:\n got %v\nwant %v", s.Labels, want)
	}
}

func assertValue(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !(got == want || (math.IsNaN(got) && math.IsNaN(want))) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// nativeHistogram decodes the "histogram" field of an instant-query sample.
type nativeHistogram struct {
	Count   string  `json:"count"`
	Sum     string  `json:"sum"`
	Buckets [][]any `json:"buckets"`
}

func decodeNative(t *testing.T, raw json.RawMessage) nativeHistogram {
	t.Helper()
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		t.Fatalf("not a native histogram sample: %s", raw)
	}
	var h nativeHistogram
	if err := json.Unmarshal(pair[1], &h); err != nil {
		t.Fatalf("decoding native histogram %s: %v", pair[1], err)
	}
	return h
}

// exemplarResult is one series of /api/v1/query_exemplars' answer.
type exemplarResult struct {
	SeriesLabels map[string]string `json:"seriesLabels"`
	Exemplars    []struct {
		Labels    map[string]string `json:"labels"`
		Value     string            `json:"value"`
		Timestamp float64           `json:"timestamp"`
	} `json:"exemplars"`
}

func queryExemplars(t *testing.T, base, expr string, around time.Time) []exemplarResult {
	t.Helper()
	var resp struct {
		Data []exemplarResult `json:"data"`
	}
	u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", base, url.QueryEscape(expr),
		around.Add(-time.Minute).Unix(), around.Add(time.Minute).Unix())
	GetJSON(t, u, &resp)
	return resp.Data
}

// TestPRWPrometheus3 sends every metric type through vigil into Prometheus
// 3.16 with remote-write 1.0 and 2.0 and checks names, labels, values,
// buckets, native histograms, exemplars, staleness and target_info; then,
// with 2.0 into a second Prometheus 3.16 with type-and-unit labels, the
// type and unit of vigil's metadata.
func TestPRWPrometheus3(t *testing.T) {
	for _, proto := range []string{"v1", "v2"} {
		t.Run(proto, func(t *testing.T) {
			sfx := proto + RandomSuffix()
			v := StartVigil(t, prwConfig(PrometheusURL, "    protocol: "+proto+"\n    send_metadata: true\n", false))
			now := time.Now().Truncate(time.Millisecond)
			mustPost(t, v, knownMetrics(sfx, now))

			job, inst := "vigil/svc-"+sfx, "inst-1"
			base := map[string]string{"job": job, "instance": inst}
			with := func(kv ...string) map[string]string {
				m := map[string]string{}
				for k, v := range base {
					m[k] = v
				}
				for i := 0; i+1 < len(kv); i += 2 {
					m[kv[i]] = kv[i+1]
				}
				return m
			}
			p := "prw_" + sfx + "_"

			g := one(t, PrometheusURL, p+"memory_bytes")
			assertLabels(t, g, with("__name__", p+"memory_bytes", "host_arch", "amd64"))
			assertValue(t, "gauge", g.Value, 12.5)

			c := one(t, PrometheusURL, p+"requests_total")
			assertLabels(t, c, with("__name__", p+"requests_total"))
			assertValue(t, "counter", c.Value, 42)

			u := one(t, PrometheusURL, p+"queue_depth")
			assertValue(t, "non-monotonic sum", u.Value, -3)

			for le, want := range map[string]float64{"0.5": 2, "1": 5, "+Inf": 6} {
				b := one(t, PrometheusURL, fmt.Sprintf(`%sduration_seconds_bucket{le=%q}`, p, le))
				assertLabels(t, b, with("__name__", p+"duration_seconds_bucket", "le", le))
				assertValue(t, "bucket le="+le, b.Value, want)
			}
			assertValue(t, "histogram sum", one(t, PrometheusURL, p+"duration_seconds_sum").Value, 4.25)
			assertValue(t, "histogram count", one(t, PrometheusURL, p+"duration_seconds_count").Value, 6)

			nh := one(t, PrometheusURL, p+"latency_seconds")
			assertLabels(t, nh, with("__name__", p+"latency_seconds"))
			h := decodeNative(t, nh.Histogram)
			if h.Count != "3" || h.Sum != "7" {
				t.Errorf("native histogram count/sum = %s/%s, want 3/7", h.Count, h.Sum)
			}
			if got := fmt.Sprint(h.Buckets); got != "[[0 1 2 1] [0 2 4 2]]" {
				t.Errorf("native histogram buckets = %s, want [[0 1 2 1] [0 2 4 2]]", got)
			}

			q := one(t, PrometheusURL, p+`gc_pause_seconds{quantile="0.99"}`)
			assertValue(t, "quantile", q.Value, 1.5)
			assertValue(t, "summary sum", one(t, PrometheusURL, p+"gc_pause_seconds_sum").Value, 2)
			assertValue(t, "summary count", one(t, PrometheusURL, p+"gc_pause_seconds_count").Value, 4)

			assertValue(t, "NaN", one(t, PrometheusURL, p+`special{kind="nan"}`).Value, math.NaN())
			assertValue(t, "+Inf", one(t, PrometheusURL, p+`special{kind="inf"}`).Value, math.Inf(1))
			assertValue(t, "-Inf", one(t, PrometheusURL, p+`special{kind="neginf"}`).Value, math.Inf(-1))

			// The stale marker ends the series: written (one real sample in
			// the range) but absent from an instant query.
			assertValue(t, "samples before the stale marker", one(t, PrometheusURL, "count_over_time("+p+"stale[10m])").Value, 1)
			if s := PromQuery(t, PrometheusURL, p+"stale"); len(s) != 0 {
				t.Errorf("series with a staleness marker is still returned: %v", s)
			}

			ti := one(t, PrometheusURL, fmt.Sprintf(`target_info{job=%q}`, job))
			assertLabels(t, ti, with("__name__", "target_info", "host_name", "node-"+sfx))
			assertValue(t, "target_info", ti.Value, 1)

			for _, tc := range []struct{ expr, value string }{
				{p + "requests_total", "1"},
				{p + `duration_seconds_bucket{le="1"}`, "0.7"},
			} {
				ex := queryExemplars(t, PrometheusURL, tc.expr, now)
				if len(ex) != 1 || len(ex[0].Exemplars) != 1 {
					t.Errorf("exemplars of %s: %+v, want one", tc.expr, ex)
					continue
				}
				e := ex[0].Exemplars[0]
				want := map[string]string{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}
				if fmt.Sprint(e.Labels) != fmt.Sprint(want) || e.Value != tc.value || int64(math.Round(e.Timestamp*1000)) != now.UnixMilli() {
					t.Errorf("exemplar of %s = %+v, want labels %v value %s at %d", tc.expr, e, want, tc.value, now.UnixMilli())
				}
			}

			if n := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_dropped_items", nil); n != 0 {
				t.Errorf("exporter dropped %v items", n)
			}
		})
	}

	// Prometheus' /api/v1/metadata lists only scraped targets' metadata, so
	// remote-written metadata is observable only where the type-and-unit-labels
	// feature puts it: in __type__ and __unit__ labels added by the 2.0
	// receiver. That feature changes every series, hence its own instance.
	t.Run("v2_metadata_as_type_and_unit_labels", func(t *testing.T) {
		EnsureBackend(t, "prometheus3meta")
		var flags struct {
			Data map[string]string `json:"data"`
		}
		GetJSON(t, Prometheus3MetaURL+"/api/v1/status/flags", &flags)
		if !strings.Contains(flags.Data["enable-feature"], "type-and-unit-labels") {
			t.Fatalf("prometheus3meta runs with --enable-feature=%q, want type-and-unit-labels", flags.Data["enable-feature"])
		}
		sfx := "meta" + RandomSuffix()
		v := StartVigil(t, prwConfig(Prometheus3MetaURL, "    protocol: v2\n    send_metadata: true\n", false))
		mustPost(t, v, knownMetrics(sfx, time.Now().Truncate(time.Millisecond)))

		job := "vigil/svc-" + sfx
		p := "prw_" + sfx + "_"
		// want is a series' full label set: its name, the type and unit
		// Prometheus derived from vigil's metadata (no __unit__ for an empty
		// unit), and any further labels.
		want := func(name, typ, unit string, kv ...string) map[string]string {
			m := map[string]string{"__name__": name, "__type__": typ, "job": job, "instance": "inst-1"}
			if unit != "" {
				m["__unit__"] = unit
			}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		for _, tc := range []struct {
			expr string
			want map[string]string
		}{
			{p + "memory_bytes", want(p+"memory_bytes", "gauge", "bytes", "host_arch", "amd64")},
			{p + "requests_total", want(p+"requests_total", "counter", "")},
			{p + "queue_depth", want(p+"queue_depth", "gauge", "")}, // non-monotonic sum
			{p + `duration_seconds_bucket{le="0.5"}`, want(p+"duration_seconds_bucket", "histogram", "seconds", "le", "0.5")},
			{p + `duration_seconds_bucket{le="+Inf"}`, want(p+"duration_seconds_bucket", "histogram", "seconds", "le", "+Inf")},
			{p + "duration_seconds_sum", want(p+"duration_seconds_sum", "histogram", "seconds")},
			{p + "duration_seconds_count", want(p+"duration_seconds_count", "histogram", "seconds")},
			{p + "latency_seconds", want(p+"latency_seconds", "histogram", "seconds")}, // native histogram
			{p + `gc_pause_seconds{quantile="0.99"}`, want(p+"gc_pause_seconds", "summary", "seconds", "quantile", "0.99")},
			{p + "gc_pause_seconds_sum", want(p+"gc_pause_seconds_sum", "summary", "seconds")},
			{p + "gc_pause_seconds_count", want(p+"gc_pause_seconds_count", "summary", "seconds")},
			{p + `special{kind="nan"}`, want(p+"special", "gauge", "", "kind", "nan")},
			{fmt.Sprintf(`target_info{job=%q}`, job), want("target_info", "gauge", "", "host_name", "node-"+sfx)},
		} {
			assertLabels(t, one(t, Prometheus3MetaURL, tc.expr), tc.want)
		}
		if nh := one(t, Prometheus3MetaURL, p+"latency_seconds"); nh.Histogram == nil {
			t.Errorf("%slatency_seconds is not a native histogram: %+v", p, nh)
		}
		// HELP (the 2.0 help_ref) is not observable: no Prometheus API serves remote-written help text.
		if n := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_dropped_items", nil); n != 0 {
			t.Errorf("exporter dropped %v items", n)
		}
	})
}

// TestPRWPrometheus2 runs against Debian's Prometheus 2.42, which only
// speaks remote-write 1.0 and answers 2.0 requests with 204 storing nothing.
func TestPRWPrometheus2(t *testing.T) {
	EnsureBackend(t, "prometheus2")
	for _, tc := range []struct {
		name, extra string
		fallback    bool
	}{
		{"v1", "    protocol: v1\n", false},
		{"v2_fallback", "    protocol: v2\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sfx := "p2" + RandomSuffix()
			v := StartVigil(t, prwConfig(Prometheus2URL, tc.extra, false))
			now := time.Now().Truncate(time.Millisecond)
			mustPost(t, v, knownMetrics(sfx, now))
			mustPost(t, v, knownMetrics(sfx, now.Add(3*time.Second))) // after the first export's stale marker
			p := "prw_" + sfx + "_"
			assertValue(t, "gauge", one(t, Prometheus2URL, p+"memory_bytes").Value, 12.5)
			assertValue(t, "counter", one(t, Prometheus2URL, p+"requests_total").Value, 42)
			assertValue(t, "bucket", one(t, Prometheus2URL, p+`duration_seconds_bucket{le="1"}`).Value, 5)
			assertValue(t, "quantile", one(t, Prometheus2URL, p+`gc_pause_seconds{quantile="0.99"}`).Value, 1.5)
			// Both exports are stored: nothing was lost in the fallback.
			waitValue(t, Prometheus2URL, "count_over_time("+p+"memory_bytes[10m])", 2)
			falls := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_protocol_fallbacks", nil)
			logged := strings.Count(v.Log(), "does not acknowledge remote-write 2.0")
			if tc.fallback && (falls != 1 || logged != 1) {
				t.Errorf("fallback counted %v times and logged %d times, want 1 and 1", falls, logged)
			}
			if !tc.fallback && (falls != 0 || logged != 0) {
				t.Errorf("unexpected fallback: counted %v, logged %d", falls, logged)
			}
		})
	}
	t.Run("v2_fail", func(t *testing.T) {
		sfx := "p2f" + RandomSuffix()
		v := StartVigil(t, prwConfig(Prometheus2URL, "    protocol: v2\n    v2_unacknowledged: fail\n    sending_queue:\n      enabled: false\n", false))
		now := time.Now().Truncate(time.Millisecond)
		if postOTLP(v, knownMetrics(sfx, now)) == nil {
			t.Errorf("vigil acknowledged data that the receiver cannot store")
		}
		Eventually(t, 30*time.Second, func() (bool, string) {
			n := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_dropped_items", map[string]string{"reason": "v2_unacknowledged"})
			return n > 0, fmt.Sprintf("dropped{reason=v2_unacknowledged} = %v", n)
		})
	})
}

// loadGen sends a steady stream of counters: every step is one OTLP request
// with `series` series whose value is the step number, at the current time.
type loadGen struct {
	sfx    string
	series int
	mu     sync.Mutex
	acked  map[int64]float64 // timestamp (ms) -> value, of acknowledged steps
	step   int
	errors int
}

func (g *loadGen) send(v *Vigil) {
	g.step++
	now := time.Now().Truncate(time.Millisecond)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "load-"+g.sfx)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("load." + g.sfx)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for k := range g.series {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetIntValue(int64(g.step))
		dp.Attributes().PutStr("series", strconv.Itoa(k))
	}
	err := postOTLP(v, md)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.acked[now.UnixMilli()] = float64(g.step)
	} else {
		g.errors++
	}
}

// run sends one step every interval until stop is closed.
func (g *loadGen) run(v func() *Vigil, interval time.Duration, stop <-chan struct{}) <-chan struct{} {
	return Every(stop, interval, func() { g.send(v()) })
}

// stored returns the samples Prometheus holds for one series of the load.
func (g *loadGen) stored(base string, series int) (map[int64]float64, error) {
	var resp struct {
		Data struct {
			Result []struct {
				Values [][]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	expr := fmt.Sprintf(`load_%s_total{series="%d"}[30m]`, g.sfx, series)
	if err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(expr), nil, &resp); err != nil {
		return nil, err
	}
	out := map[int64]float64{}
	for _, r := range resp.Data.Result {
		for _, pair := range r.Values {
			ts, _ := pair[0].(float64)
			val, _ := strconv.ParseFloat(fmt.Sprint(pair[1]), 64)
			out[int64(math.Round(ts*1000))] = val
		}
	}
	return out, nil
}

// verify waits until every acknowledged sample of every series is stored.
func (g *loadGen) verify(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	acked := make(map[int64]float64, len(g.acked))
	for k, v := range g.acked {
		acked[k] = v
	}
	g.mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no load step was acknowledged")
	}
	Eventually(t, 3*time.Minute, func() (bool, string) {
		for k := range g.series {
			got, err := g.stored(PrometheusURL, k)
			if err != nil {
				return false, err.Error()
			}
			var missing []int64
			for ts, want := range acked {
				if v, ok := got[ts]; !ok || v != want {
					missing = append(missing, ts)
				}
			}
			if len(missing) > 0 {
				sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
				return false, fmt.Sprintf("series %d: %d of %d acknowledged samples missing (first %d)", k, len(missing), len(acked), missing[0])
			}
		}
		return true, ""
	})
	t.Logf("all %d acknowledged steps × %d series stored (%d steps not acknowledged by vigil)", len(acked), g.series, g.errors)
}

// promCounter sums a counter of Prometheus' own metrics.
func promCounter(t *testing.T, name string) float64 {
	t.Helper()
	families, err := scrape(PrometheusURL + "/metrics")
	if err != nil {
		t.Fatalf("scraping Prometheus: %v", err)
	}
	return sumFamily(families[name], nil)
}

var rejectionCounters = []string{
	"prometheus_tsdb_out_of_order_samples_total",
	"prometheus_tsdb_out_of_bound_samples_total",
	"prometheus_tsdb_too_old_samples_total",
}

const persistentQueue = `    protocol: v2
    shards: 4
    retry_on_failure:
      initial_interval: 1s
      max_interval: 5s
      max_elapsed_time: 0s
    sending_queue:
      storage: file_storage/prw
`

// TestPRWOutage stops Prometheus for 60 s under steady load; with the
// persistent queue every acknowledged sample is stored afterwards, and
// Prometheus counted no out-of-order, out-of-bound or too-old samples.
func TestPRWOutage(t *testing.T) {
	before := map[string]float64{}
	for _, c := range rejectionCounters {
		before[c] = promCounter(t, c)
	}
	// With exporter-side batching (the configuration recommended for the
	// default config): one export holds several samples of each series,
	// which must still reach Prometheus in order after the retries.
	v := StartVigil(t, prwConfig(PrometheusURL, persistentQueue+"      batch:\n        flush_timeout: 1s\n", true))
	g := &loadGen{sfx: "out" + RandomSuffix(), series: 50, acked: map[int64]float64{}}
	stop := make(chan struct{})
	done := g.run(func() *Vigil { return v }, 250*time.Millisecond, stop)

	time.Sleep(10 * time.Second)
	// Prometheus' counters restart with it: add what they counted before
	// the stop to what they count after the start.
	rejected := map[string]float64{}
	for _, c := range rejectionCounters {
		rejected[c] = promCounter(t, c) - before[c]
	}
	StopBackend(t, "prometheus")
	time.Sleep(60 * time.Second)
	StartBackend(t, "prometheus")
	time.Sleep(10 * time.Second)
	close(stop)
	<-done
	g.verify(t)

	for _, c := range rejectionCounters {
		if n := rejected[c] + promCounter(t, c); n != 0 {
			t.Errorf("Prometheus counted %v in %s", n, c)
		}
	}
	for _, r := range []string{"http_400", "partial_write"} {
		if n := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_dropped_items", map[string]string{"reason": r}); n != 0 {
			t.Errorf("exporter dropped %v items with reason %s (rejected by Prometheus)", n, r)
		}
	}
	if n := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_failed_items", map[string]string{"reason": "transport"}); n == 0 {
		t.Errorf("no failed sends were counted during the outage: was Prometheus really down?")
	}
}

// TestPRWCrash kills vigil with SIGKILL while Prometheus is down and the
// persistent queue holds data; after vigil and Prometheus are back, every
// sample vigil acknowledged is stored, and Prometheus rejected none as out
// of order. The restart exercises exporterhelper's redelivery: it puts the
// export that was in flight at the kill behind all newer ones ("Moved items
// for dispatching back to queue"), and the exporter must send it first
// (exporters/prwexporter/request.go).
func TestPRWCrash(t *testing.T) {
	v := StartVigil(t, prwConfig(PrometheusURL, persistentQueue, true))
	g := &loadGen{sfx: "crash" + RandomSuffix(), series: 50, acked: map[int64]float64{}}
	stop := make(chan struct{})
	done := g.run(func() *Vigil { return v }, 100*time.Millisecond, stop)
	time.Sleep(5 * time.Second)
	StopBackend(t, "prometheus")
	time.Sleep(10 * time.Second)
	v.Kill(t)
	v.Restart(t)
	if n := v.SelfMetric(t, "otelcol_exporter_queue_size", nil); n == 0 {
		t.Errorf("the persistent queue is empty after the restart: the crash did not exercise it")
	}
	if !strings.Contains(v.Log(), "Moved items for dispatching back to queue") {
		t.Errorf("the restart redelivered no in-flight export: the crash did not exercise the ordering")
	}
	time.Sleep(5 * time.Second)
	StartBackend(t, "prometheus")
	time.Sleep(5 * time.Second)
	close(stop)
	<-done
	g.verify(t)
	if n := v.SelfMetric(t, "otelcol_exporter_prometheusremotewrite_dropped_items", nil); n != 0 {
		t.Errorf("the exporter dropped %v items", n)
	}
	// Prometheus was restarted above: its counters count since then.
	for _, c := range rejectionCounters {
		if n := promCounter(t, c); n != 0 {
			t.Errorf("Prometheus counted %v %s", n, c)
		}
	}
}
