// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ewmaConfig: the raw metrics go to Prometheus directly and into the
// ewma_baseline connector, whose derived series go to Prometheus and whose
// alert records go, as in the default configuration, through the loki
// exporter to the logs backend (VictoriaLogs's Loki push API); alerts also go
// to Alertmanager.
const ewmaConfig = `
extensions:
` + yamlHealthCheck + `  file_storage/ewma:
    directory: ${env:VIGIL_STORAGE_DIR}
    create_directory: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${env:VIGIL_OTLP_HTTP_ENDPOINT}
connectors:
  ewma_baseline:
    storage: file_storage/ewma
    rules:
      - name: e2e_latency_anomaly
        metric: %[1]s
        half_life: 1m
        k: 4
        clear_score: 2
        direction: up
        for: 3s
        # The test pins "for" on a few minutes of data: no immediate firing,
        # no seasonal baseline (whose warm-up is one period).
        immediate_score: 0
        seasonality:
          enabled: false
        warmup:
          samples: 20
    alertmanager:
      endpoint: %[2]s
      resend_interval: 2s
exporters:
  otlp_http/prometheus:
    metrics_endpoint: %[3]s/api/v1/otlp/v1/metrics
    sending_queue:
      num_consumers: 1
  loki:
    endpoint: %[4]s
    line_format: logfmt
    structured_metadata:
      attributes: [alert.rule, alert.state, alert.fingerprint, metric.name]
    sending_queue:
      num_consumers: 1
service:
  extensions: [health_check, file_storage/ewma]
  telemetry:
    metrics:
      level: detailed
` + yamlTelemetryReader + `  pipelines:
    metrics/in:
      receivers: [otlp]
      exporters: [ewma_baseline, otlp_http/prometheus]
    metrics/baseline:
      receivers: [ewma_baseline]
      exporters: [otlp_http/prometheus]
    logs/alerts:
      receivers: [ewma_baseline]
      exporters: [loki]
`

// startEWMAVigil starts vigil with ewmaConfig for a metric and a service
// named by the prefixes and a random suffix, and returns the two names.
func startEWMAVigil(t *testing.T, metricPrefix, servicePrefix string) (name, service string, v *Vigil) {
	t.Helper()
	sfx := RandomSuffix()
	name, service = metricPrefix+sfx, servicePrefix+sfx
	return name, service, StartVigil(t, fmt.Sprintf(ewmaConfig, name, AlertmanagerURL, PrometheusURL, LokiPushURL))
}

// burstSeries returns before+burst+after samples around 100 with unit
// normal noise (from a PCG seeded with seed1, seed2), raised by height during
// the burst.
func burstSeries(seed1, seed2 uint64, before, burst, after int, height float64) []float64 {
	rng := rand.New(rand.NewPCG(seed1, seed2))
	values := make([]float64, before+burst+after)
	for i := range values {
		values[i] = 100 + rng.NormFloat64()
		if i >= before && i < before+burst {
			values[i] += height
		}
	}
	return values
}

// gaugeBatch is samples of one gauge series (attribute host=h1) with the
// timestamps we choose (an SDK would stamp its own collection time): values[i]
// at start + from+i seconds.
func gaugeBatch(service, name string, start time.Time, values []float64, from int) (pmetric.Metrics, pmetric.NumberDataPointSlice) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dps := m.SetEmptyGauge().DataPoints()
	for i, x := range values {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(from+i) * time.Second)))
		dp.SetDoubleValue(x)
		dp.Attributes().PutStr("host", "h1")
	}
	return md, dps
}

// postGauge sends a gaugeBatch as OTLP/HTTP protobuf.
func postGauge(t *testing.T, v *Vigil, service, name string, start time.Time, values []float64, from int) {
	t.Helper()
	md, _ := gaugeBatch(service, name, start, values, from)
	mustPost(t, v, md)
}

type amAlertJSON struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlertsFor(t *testing.T, metric string) []amAlertJSON {
	t.Helper()
	var all []amAlertJSON
	GetJSON(t, AlertmanagerURL+"/api/v2/alerts", &all)
	var out []amAlertJSON
	for _, a := range all {
		if a.Labels["metric"] == metric {
			out = append(out, a)
		}
	}
	return out
}

// TestEWMABaseline drives one series with controlled timestamps: 240 s of
// noise around 100, a +30 burst for 30 s, then 60 s of noise. It checks the
// derived series in Prometheus, exactly one firing and one resolved record
// in the logs backend, and the alert's life in Alertmanager.
func TestEWMABaseline(t *testing.T) {
	EnsureBackend(t, "alertmanager")
	name, service, v := startEWMAVigil(t, "e2e_latency_", "ewma-e2e-")

	const normal1, burst, normal2 = 240, 30, 60
	values := burstSeries(7, 11, normal1, burst, normal2, 30)
	// Data time ends ~30 s before now: Prometheus takes recent samples only.
	start := time.Now().Add(-time.Duration(len(values)+30) * time.Second).Truncate(time.Second)

	// Up to 8 s into the burst: the alert fires (for: 3s) and stays firing
	// (later in the burst the inflated variance brings the score under
	// clear_score and it resolves).
	cut := normal1 + 8
	for i := 0; i < cut; i += 50 {
		postGauge(t, v, service, name, start, values[i:min(i+50, cut)], i)
	}
	var a amAlertJSON
	Eventually(t, 60*time.Second, func() (bool, string) {
		as := amAlertsFor(t, name)
		if len(as) == 1 {
			a = as[0]
		}
		return len(as) == 1 && as[0].Status.State == "active", fmt.Sprintf("alertmanager alerts for %s: %+v", name, as)
	})
	for k, want := range map[string]string{"alertname": "e2e_latency_anomaly", "host": "h1", "service_name": service, "severity": "warning"} {
		if a.Labels[k] != want {
			t.Errorf("alert label %s = %q, want %q (labels %v)", k, a.Labels[k], want, a.Labels)
		}
	}
	// It stays active across several re-send intervals (2 s, endsAt = +8 s).
	time.Sleep(10 * time.Second)
	if as := amAlertsFor(t, name); len(as) != 1 {
		t.Fatalf("alert not kept active by re-sends: %+v", as)
	}

	// The rest: the burst ends, the series returns to normal, the alert resolves.
	postGauge(t, v, service, name, start, values[cut:], cut)
	Eventually(t, 60*time.Second, func() (bool, string) {
		as := amAlertsFor(t, name)
		return len(as) == 0, fmt.Sprintf("alert still in alertmanager: %+v", as)
	})

	// The logs backend: exactly one firing and one resolved record for this
	// series (alert_state is the records' structured metadata).
	q := func(state string) string {
		return fmt.Sprintf(`{service_name=%s} alert_state:=%s`, LogsQLString(service), LogsQLString(state))
	}
	from, to := start.Add(-time.Minute), time.Now().Add(time.Minute)
	Eventually(t, 60*time.Second, func() (bool, string) {
		f, r := LogsCount(t, q("firing"), from, to), LogsCount(t, q("resolved"), from, to)
		return f >= 1 && r >= 1, fmt.Sprintf("logs backend: %d firing, %d resolved", f, r)
	})
	if f := LogsCount(t, q("firing"), from, to); f != 1 {
		t.Errorf("firing records = %d, want exactly 1", f)
	}
	if r := LogsCount(t, q("resolved"), from, to); r != 1 {
		t.Errorf("resolved records = %d, want exactly 1", r)
	}
	streams := LogsQuery(t, q("firing"), from, to)
	line := streams[0].Entries[0]
	firedAt := start.Add(time.Duration(normal1+3) * time.Second)
	if !line.Time.Equal(firedAt) {
		t.Errorf("firing record at %s, want %s (3 s = `for` after the burst start)", line.Time, firedAt)
	}
	if !strings.Contains(line.Line, "firing: "+name) {
		t.Errorf("firing line %q does not name the series", line.Line)
	}

	// Prometheus: the derived series exist with the series' labels.
	Eventually(t, 60*time.Second, func() (bool, string) {
		var missing []string
		for _, suffix := range []string{"_baseline", "_upper", "_lower", "_score", "_alert"} {
			if s := PromQuery(t, PrometheusURL, fmt.Sprintf(`%s%s{host="h1"}`, name, suffix)); len(s) != 1 {
				missing = append(missing, suffix)
			}
		}
		return len(missing) == 0, fmt.Sprintf("derived series missing in Prometheus: %v", missing)
	})
	base := PromQuery(t, PrometheusURL, name+"_baseline")[0]
	upper := PromQuery(t, PrometheusURL, name+"_upper")[0]
	lower := PromQuery(t, PrometheusURL, name+"_lower")[0]
	if base.Labels["job"] != service {
		t.Errorf("baseline job label = %q, want %q", base.Labels["job"], service)
	}
	if !(lower.Value < base.Value && base.Value < upper.Value) {
		t.Errorf("band not ordered: lower %v, baseline %v, upper %v", lower.Value, base.Value, upper.Value)
	}
	if base.Value < 95 || base.Value > 115 {
		t.Errorf("baseline %v, want near 100 after the burst", base.Value)
	}
	fired := PromQuery(t, PrometheusURL, fmt.Sprintf("max_over_time(%s_alert[15m])", name))
	if len(fired) != 1 || fired[0].Value != 1 {
		t.Errorf("alert state series never reached 1: %+v", fired)
	}

	// Self-telemetry: every point was processed exactly once.
	Eventually(t, 30*time.Second, func() (bool, string) {
		n := v.SelfMetric(t, "otelcol_connector_ewma_baseline_processed_points", nil)
		return n == float64(len(values)), fmt.Sprintf("points processed %v, want %d", n, len(values))
	})
}

// TestEWMABaselineRestart: the baseline survives a restart through
// file_storage. After 200 s of noise vigil restarts; a burst right after the
// restart fires exactly `for` (3 s) after it starts. Without the restored
// state the first sample after the restart would only seed a new baseline
// and the 20-sample warm-up would hide the burst.
func TestEWMABaselineRestart(t *testing.T) {
	name, service, v := startEWMAVigil(t, "e2e_restart_", "ewma-e2e-restart-")

	const before, burst, after = 200, 10, 50
	values := burstSeries(13, 17, before, burst, after, 30)
	start := time.Now().Add(-time.Duration(len(values)+30) * time.Second).Truncate(time.Second)
	for i := 0; i < before; i += 50 {
		postGauge(t, v, service, name, start, values[i:i+50], i)
	}
	v.Restart(t)
	if log := v.Log(); !strings.Contains(log, "ewma_baseline: restored baseline state") || !strings.Contains(log, `"series": 1}`) {
		t.Fatalf("vigil did not report restoring the baseline state; log:\n%s", v.Log())
	}
	postGauge(t, v, service, name, start, values[before:], before)

	q := fmt.Sprintf(`{service_name=%s} alert_state:="firing"`, LogsQLString(service))
	from, to := start.Add(-time.Minute), time.Now().Add(time.Minute)
	Eventually(t, 60*time.Second, func() (bool, string) {
		n := LogsCount(t, q, from, to)
		return n >= 1, fmt.Sprintf("logs backend: %d firing records", n)
	})
	streams := LogsQuery(t, q, from, to)
	if n := len(streams[0].Entries); len(streams) != 1 || n != 1 {
		t.Fatalf("want exactly one firing record, got %+v", streams)
	}
	t.Logf("firing record at %s: %s", streams[0].Entries[0].Time, streams[0].Entries[0].Line)
	if got, want := streams[0].Entries[0].Time, start.Add((before+3)*time.Second); !got.Equal(want) {
		t.Errorf("firing at %s, want %s (3 s after the burst, no new warm-up)", got, want)
	}
}
