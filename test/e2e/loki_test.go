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
	"sort"
	"strconv"
	"testing"
	"time"
)

// lokiVigilConfig is a vigil with only the logs pipeline: OTLP → loki
// exporter (Loki's push API, protobuf + snappy) → VictoriaLogs's
// implementation of that API, with a persistent queue on file_storage and
// retries that outlast a one-minute outage.
const lokiVigilConfig = `
extensions:
` + yamlHealthCheck + `  file_storage/queue:
    directory: ${env:VIGIL_STORAGE_DIR}
    create_directory: true
receivers:
` + yamlOTLPReceiver + `exporters:
  loki:
    endpoint: ${env:VIGIL_LOKI_ENDPOINT}
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
` + yamlTelemetryReader + `  pipelines:
    logs:
      receivers: [otlp]
      exporters: [loki]
`

// selfDropped is every entry the exporter counted as dropped, any reason.
func selfDropped(t *testing.T, v *Vigil) float64 {
	t.Helper()
	return v.SelfMetric(t, "otelcol_exporter_loki_dropped_entries", nil)
}

// TestLokiExporterContent sends logs with known bodies, severities,
// attributes and trace context through OTLP into vigil and reads back, with
// LogsQL, the exact lines, labels (stream fields) and structured metadata
// (fields) the push API delivered.
func TestLokiExporterContent(t *testing.T) {
	v := StartVigil(t, lokiVigilConfig)
	sfx := RandomSuffix()
	svc, ns := "loki-e2e-"+sfx, "ns-"+sfx
	const traceID, spanID = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	start := time.Now().Add(-time.Minute)
	refusedBefore := logsBackendRefusals(t)

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

	sel := fmt.Sprintf(`{service_name=%s}`, LogsQLString(svc))
	end := func() time.Time { return time.Now().Add(time.Minute) }
	WaitLogsCount(t, sel, start, 8, 60*time.Second)
	streams := LogsQuery(t, sel, start, end())

	wantLabels := map[string]map[string]string{
		"warn":  {"service_name": svc, "deployment_environment": "e2e", "k8s_namespace_name": ns, "level": "warn"},
		"error": {"service_name": svc, "deployment_environment": "e2e", "k8s_namespace_name": ns, "level": "error"},
	}
	wantLines := map[string]string{
		"warn":  fmt.Sprintf(`{"body":"payment accepted %s","app":"server","user":"alice"}`, sfx),
		"error": fmt.Sprintf(`{"body":"payment failed %s","app":"server"}`, sfx),
	}
	wantMeta := map[string]map[string]string{
		"warn":  {"trace_id": traceID, "span_id": spanID, "k8s_pod_name": "pod-1"},
		"error": {},
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
		for _, e := range s.Entries {
			if e.Line != wantLines[level] {
				t.Errorf("level %s line %q, want %q", level, e.Line, wantLines[level])
			}
			if !reflect.DeepEqual(e.Metadata, wantMeta[level]) {
				t.Errorf("level %s structured metadata %v, want %v", level, e.Metadata, wantMeta[level])
			}
		}
	}

	// The label names, as VictoriaLogs lists its stream fields.
	var fields struct {
		Values []struct {
			Value string `json:"value"`
		} `json:"values"`
	}
	q := url.Values{}
	q.Set("query", sel)
	q.Set("start", start.UTC().Format(time.RFC3339Nano))
	q.Set("end", end().UTC().Format(time.RFC3339Nano))
	GetJSON(t, LogsURL+"/select/logsql/stream_field_names?"+q.Encode(), &fields)
	var names []string
	for _, f := range fields.Values {
		names = append(names, f.Value)
	}
	sort.Strings(names)
	if want := []string{"deployment_environment", "k8s_namespace_name", "level", "service_name"}; !reflect.DeepEqual(names, want) {
		t.Errorf("stream field names = %v, want %v", names, want)
	}

	// Filters on the trace_id structured metadata.
	if n := LogsCount(t, sel+" trace_id:="+LogsQLString(traceID), start, end()); n != 5 {
		t.Errorf("entries with trace_id %s: %d, want 5", traceID, n)
	}
	if n := LogsCount(t, sel+` trace_id:="00000000000000000000000000000001"`, start, end()); n != 0 {
		t.Errorf("entries with another trace_id: %d, want 0", n)
	}
	// The json line is parseable at query time (LogQL's | json).
	if n := LogsCount(t, sel+` | unpack_json fields (user) | filter user:="alice"`, start, end()); n != 5 {
		t.Errorf("entries with user=alice via unpack_json: %d, want 5", n)
	}

	if d := logsBackendRefusals(t) - refusedBefore; d != 0 {
		t.Errorf("VictoriaLogs refused or dropped %v entries", d)
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

// TestLokiExporterOutage stops the logs backend for 60 s while logs keep
// arriving. With the persistent queue, every record vigil accepted arrives
// once the backend is back, exactly once, and nothing is refused.
func TestLokiExporterOutage(t *testing.T) {
	v := StartVigil(t, lokiVigilConfig)
	svc := "loki-outage-" + RandomSuffix()
	const workers, perWorker = 2, 9000 // 150 records/s per worker: 60 s
	refusedBefore := logsBackendRefusals(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	done := runTelemetrygen(ctx, v, "--service", svc, "--body", "outage "+svc,
		"--workers", strconv.Itoa(workers), "--logs", strconv.Itoa(perWorker), "--rate", "150")

	time.Sleep(10 * time.Second) // some traffic before the outage
	if d := logsBackendRefusals(t) - refusedBefore; d != 0 {
		t.Errorf("VictoriaLogs refused or dropped %v entries before the outage", d)
	}
	StopBackend(t, "victorialogs")
	time.Sleep(60 * time.Second)
	StartBackend(t, "victorialogs")

	if err := <-done; err != nil {
		t.Fatal(err)
	}
	accepted := v.SelfMetric(t, "otelcol_receiver_accepted_log_records", nil)
	if accepted != workers*perWorker {
		t.Fatalf("vigil accepted %v records, want %d (refused: %v)", accepted, workers*perWorker,
			v.SelfMetric(t, "otelcol_receiver_refused_log_records", nil))
	}
	WaitServiceLogs(t, svc, time.Now().Add(-time.Hour), int(accepted), 120*time.Second)
	if got := v.SelfMetric(t, "otelcol_exporter_loki_failed_entries", nil); got == 0 {
		t.Errorf("no failed pushes counted: the outage did not hit the exporter")
	}
	if d := selfDropped(t, v); d != 0 {
		t.Errorf("vigil dropped %v entries", d)
	}
	if d := logsBackendRefusals(t); d != 0 { // restarted: its counters began at zero
		t.Errorf("VictoriaLogs refused or dropped %v entries after the outage", d)
	}
}

// TestLokiExporterCrash queues records on disk while the logs backend is
// down, kills vigil with SIGKILL, and checks that the restarted vigil
// delivers every record it had acknowledged.
func TestLokiExporterCrash(t *testing.T) {
	v := StartVigil(t, lokiVigilConfig)
	svc := "loki-crash-" + RandomSuffix()
	const n = 3000

	startLogs := StopBackendForNow(t, "victorialogs")
	Telemetrygen(t, v, "logs", "--service", svc, "--body", "crash "+svc, "--logs", strconv.Itoa(n), "--rate", "0")
	if got := v.SelfMetric(t, "otelcol_receiver_accepted_log_records", nil); got != n {
		t.Fatalf("vigil acknowledged %v records, want %d", got, n)
	}
	v.Kill(t)
	startLogs()
	v.Restart(t)

	WaitServiceLogs(t, svc, time.Now().Add(-time.Hour), n, 120*time.Second)
	if d := logsBackendRefusals(t); d != 0 {
		t.Errorf("VictoriaLogs refused or dropped %v entries", d)
	}
	if d := selfDropped(t, v); d != 0 {
		t.Errorf("vigil dropped %v entries after the restart", d)
	}
}
