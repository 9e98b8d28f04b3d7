// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// lokiVigilConfig is a vigil with only the logs pipeline: OTLP → loki
// exporter, with a persistent queue on file_storage and retries that outlast
// a one-minute outage.
const lokiVigilConfig = `
extensions:
  health_check:
    endpoint: ${env:VIGIL_HEALTH_ENDPOINT}
  file_storage/queue:
    directory: ${env:VIGIL_STORAGE_DIR}
    create_directory: true
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:VIGIL_OTLP_GRPC_ENDPOINT}
      http:
        endpoint: ${env:VIGIL_OTLP_HTTP_ENDPOINT}
exporters:
  loki:
    endpoint: http://127.0.0.1:3100/loki/api/v1/push
    line_format: json
    structured_metadata:
      attributes: [k8s.pod.name]
    sending_queue:
      storage: file_storage/queue
      queue_size: 5000
    retry_on_failure:
      initial_interval: 500ms
      max_interval: 3s
      max_elapsed_time: 10m
service:
  extensions: [health_check, file_storage/queue]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:VIGIL_TELEMETRY_PORT}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [loki]
`

// lokiRejections sums Loki's own counters of entries refused for ordering
// (out_of_order with ordered writes, too_far_behind with unordered writes).
// They restart from zero when Loki restarts.
func lokiRejections(t *testing.T) float64 {
	t.Helper()
	families, err := scrape(LokiURL + "/metrics")
	if err != nil {
		t.Fatalf("scraping Loki: %v", err)
	}
	f := families["loki_discarded_samples_total"]
	return sumFamily(f, map[string]string{"reason": "out_of_order"}) + sumFamily(f, map[string]string{"reason": "too_far_behind"})
}

// lokiCount counts the lines of a stream selector over the last hour with a
// LogQL metric query (query_range answers are capped at 5000 lines).
func lokiCount(selector string) (int, error) {
	q := url.Values{}
	q.Set("query", fmt.Sprintf("sum(count_over_time(%s[1h]))", selector))
	q.Set("time", strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10))
	var resp struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(LokiURL+"/loki/api/v1/query?"+q.Encode(), nil, &resp); err != nil {
		return 0, err
	}
	if len(resp.Data.Result) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseFloat(fmt.Sprint(resp.Data.Result[0].Value[1]), 64)
	return int(n), err
}

// selfDropped is every entry the exporter counted as dropped, any reason.
func selfDropped(t *testing.T, v *Vigil) float64 {
	t.Helper()
	return v.SelfMetric(t, "otelcol_exporter_loki_dropped_entries", nil)
}

// TestLokiExporterContent sends logs with known bodies, severities,
// attributes and trace context through OTLP into vigil and reads back the
// exact lines, labels and structured metadata from Loki.
func TestLokiExporterContent(t *testing.T) {
	v := StartVigil(t, lokiVigilConfig)
	sfx := RandomSuffix()
	svc, ns := "loki-e2e-"+sfx, "ns-"+sfx
	const traceID, spanID = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	start := time.Now().Add(-time.Minute)
	rejectedBefore := lokiRejections(t)

	// 5 warn records with trace context, 3 error records without.
	Telemetrygen(t, v, "logs", "--logs", "5", "--rate", "0",
		"--service", svc,
		"--otlp-attributes", `deployment.environment="e2e"`,
		"--otlp-attributes", fmt.Sprintf(`k8s.namespace.name=%q`, ns),
		"--otlp-attributes", `k8s.pod.name="pod-1"`,
		"--telemetry-attributes", `user="alice"`,
		"--body", "payment accepted "+sfx,
		"--severity-text", "Warn", "--severity-number", "13",
		"--trace-id", traceID, "--span-id", spanID)
	Telemetrygen(t, v, "logs", "--logs", "3", "--rate", "0",
		"--service", svc,
		"--otlp-attributes", `deployment.environment="e2e"`,
		"--otlp-attributes", fmt.Sprintf(`k8s.namespace.name=%q`, ns),
		"--body", "payment failed "+sfx,
		"--severity-text", "Error", "--severity-number", "17")

	sel := fmt.Sprintf(`{service_name=%q}`, svc)
	var streams []LokiStream
	Eventually(t, 60*time.Second, func() (bool, string) {
		var err error
		streams, err = lokiQueryRange(sel, start, time.Now().Add(time.Minute))
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, s := range streams {
			n += len(s.Entries)
		}
		return n == 8, fmt.Sprintf("%s: %d lines, want 8", sel, n)
	})

	wantLabels := map[string]map[string]string{
		"warn":  {"service_name": svc, "deployment_environment": "e2e", "k8s_namespace_name": ns, "level": "warn"},
		"error": {"service_name": svc, "deployment_environment": "e2e", "k8s_namespace_name": ns, "level": "error"},
	}
	wantLines := map[string]string{
		"warn":  fmt.Sprintf(`{"body":"payment accepted %s","app":"server","user":"alice"}`, sfx),
		"error": fmt.Sprintf(`{"body":"payment failed %s","app":"server"}`, sfx),
	}
	// detected_level is added by Loki itself (limits_config
	// discover_log_levels, on by default in Loki 3), not by vigil.
	wantMeta := map[string]map[string]string{
		"warn":  {"trace_id": traceID, "span_id": spanID, "k8s_pod_name": "pod-1", "detected_level": "warn"},
		"error": {"detected_level": "error"},
	}
	wantCount := map[string]int{"warn": 5, "error": 3}
	if len(streams) != 2 {
		t.Fatalf("got %d streams, want 2 (one per level): %+v", len(streams), streams)
	}
	for _, s := range streams {
		level := s.Labels["level"]
		if !reflect.DeepEqual(s.Labels, wantLabels[level]) {
			t.Errorf("stream labels %v, want %v", s.Labels, wantLabels[level])
		}
		if len(s.Entries) != wantCount[level] {
			t.Errorf("level %s: %d entries, want %d", level, len(s.Entries), wantCount[level])
		}
		for i, e := range s.Entries {
			if e.Line != wantLines[level] {
				t.Errorf("level %s line %q, want %q", level, e.Line, wantLines[level])
			}
			if !reflect.DeepEqual(e.Metadata, wantMeta[level]) {
				t.Errorf("level %s structured metadata %v, want %v", level, e.Metadata, wantMeta[level])
			}
			if i > 0 && e.Time.Before(s.Entries[i-1].Time) {
				t.Errorf("entries out of order in %v", s.Labels)
			}
		}
	}

	// The label names, as Loki's label API lists them.
	var labels struct {
		Data []string `json:"data"`
	}
	q := url.Values{}
	q.Set("query", sel)
	q.Set("start", strconv.FormatInt(start.UnixNano(), 10))
	q.Set("end", strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10))
	GetJSON(t, LokiURL+"/loki/api/v1/labels?"+q.Encode(), &labels)
	if want := []string{"deployment_environment", "k8s_namespace_name", "level", "service_name"}; !reflect.DeepEqual(labels.Data, want) {
		t.Errorf("/loki/api/v1/labels = %v, want %v", labels.Data, want)
	}

	// LogQL filter on the trace_id structured metadata.
	if n := LokiLineCount(t, sel+fmt.Sprintf(` | trace_id=%q`, traceID), start, time.Now().Add(time.Minute)); n != 5 {
		t.Errorf("lines with trace_id %s: %d, want 5", traceID, n)
	}
	if n := LokiLineCount(t, sel+` | trace_id="00000000000000000000000000000001"`, start, time.Now().Add(time.Minute)); n != 0 {
		t.Errorf("lines with another trace_id: %d, want 0", n)
	}
	// The json line is parseable by LogQL.
	if n := LokiLineCount(t, sel+` | json | user="alice"`, start, time.Now().Add(time.Minute)); n != 5 {
		t.Errorf("lines with user=alice via | json: %d, want 5", n)
	}

	if d := lokiRejections(t) - rejectedBefore; d != 0 {
		t.Errorf("Loki refused %v entries as out of order / too far behind", d)
	}
	if d := selfDropped(t, v); d != 0 {
		t.Errorf("vigil dropped %v entries", d)
	}
	if got := v.SelfMetric(t, "otelcol_exporter_loki_sent_entries", nil); got != 8 {
		t.Errorf("otelcol_exporter_loki_sent_entries = %v, want 8", got)
	}
}

// runTelemetrygen starts telemetrygen in the background; the returned
// channel yields its error (nil on success) when it ends.
func runTelemetrygen(ctx context.Context, v *Vigil, args ...string) <-chan error {
	full := append([]string{"logs", "--otlp-endpoint", v.OTLPGRPC, "--otlp-insecure"}, args...)
	done := make(chan error, 1)
	go func() {
		out, err := exec.CommandContext(ctx, telemetrygen, full...).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("telemetrygen: %w\n%s", err, tail(string(out), 20))
		}
		done <- err
	}()
	return done
}

// TestLokiExporterOutage stops Loki for 60 s while logs keep arriving. With
// the persistent queue, every record vigil accepted reaches Loki once Loki is
// back, and nothing is refused as out of order.
func TestLokiExporterOutage(t *testing.T) {
	v := StartVigil(t, lokiVigilConfig)
	svc := "loki-outage-" + RandomSuffix()
	const workers, perWorker = 2, 9000 // 150 records/s per worker: 60 s
	rejectedBefore := lokiRejections(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	done := runTelemetrygen(ctx, v, "--service", svc, "--body", "outage "+svc,
		"--workers", strconv.Itoa(workers), "--logs", strconv.Itoa(perWorker), "--rate", "150")

	time.Sleep(10 * time.Second) // some traffic before the outage
	if d := lokiRejections(t) - rejectedBefore; d != 0 {
		t.Errorf("Loki refused %v entries as out of order before the outage", d)
	}
	StopBackend(t, "loki")
	time.Sleep(60 * time.Second)
	StartBackend(t, "loki")

	if err := <-done; err != nil {
		t.Fatal(err)
	}
	accepted := v.SelfMetric(t, "otelcol_receiver_accepted_log_records", nil)
	if accepted != workers*perWorker {
		t.Fatalf("vigil accepted %v records, want %d (refused: %v)", accepted, workers*perWorker,
			v.SelfMetric(t, "otelcol_receiver_refused_log_records", nil))
	}
	sel := fmt.Sprintf(`{service_name=%q}`, svc)
	Eventually(t, 120*time.Second, func() (bool, string) {
		n, err := lokiCount(sel)
		if err != nil {
			return false, err.Error()
		}
		return n == int(accepted), fmt.Sprintf("%s: %d lines in Loki, want %v", sel, n, accepted)
	})
	if got := v.SelfMetric(t, "otelcol_exporter_loki_failed_entries", nil); got == 0 {
		t.Errorf("no failed pushes counted: the outage did not hit the exporter")
	}
	if d := selfDropped(t, v); d != 0 {
		t.Errorf("vigil dropped %v entries", d)
	}
	if d := lokiRejections(t); d != 0 { // Loki restarted: its counters began at zero
		t.Errorf("Loki refused %v entries as out of order after the outage", d)
	}
}

// TestLokiExporterCrash queues records on disk while Loki is down, kills
// vigil with SIGKILL, and checks that the restarted vigil delivers every
// record it had acknowledged.
func TestLokiExporterCrash(t *testing.T) {
	v := StartVigil(t, lokiVigilConfig)
	svc := "loki-crash-" + RandomSuffix()
	const n = 3000

	StopBackend(t, "loki")
	stopped := true
	defer func() {
		if stopped {
			StartBackend(t, "loki")
		}
	}()
	Telemetrygen(t, v, "logs", "--service", svc, "--body", "crash "+svc, "--logs", strconv.Itoa(n), "--rate", "0")
	if got := v.SelfMetric(t, "otelcol_receiver_accepted_log_records", nil); got != n {
		t.Fatalf("vigil acknowledged %v records, want %d", got, n)
	}
	v.Kill(t)
	StartBackend(t, "loki")
	stopped = false
	v.Restart(t)

	sel := fmt.Sprintf(`{service_name=%q}`, svc)
	Eventually(t, 120*time.Second, func() (bool, string) {
		c, err := lokiCount(sel)
		if err != nil {
			return false, err.Error()
		}
		return c == n, fmt.Sprintf("%s: %d lines in Loki, want %d", sel, c, n)
	})
	if d := lokiRejections(t); d != 0 {
		t.Errorf("Loki refused %v entries as out of order", d)
	}
	if d := selfDropped(t, v); d != 0 {
		t.Errorf("vigil dropped %v entries after the restart", d)
	}
}
