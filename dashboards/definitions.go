// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"fmt"
	"sort"
)

// Metric names as Prometheus stores them (OTLP → Prometheus naming of
// github.com/prometheus/otlptranslator with suffixes, as Prometheus' own OTLP
// endpoint and Vigil's remote-write exporter apply it, and as a scrape of the
// collector's /metrics gives them: counters end in _total, units become
// suffixes such as _bytes and _seconds).
const (
	// Kernel receiver (receivers/kernelreceiver/metadata.yaml).
	mRetrans         = "kernel_tcp_retransmitted_segments_total"
	mResets          = "kernel_tcp_resets_total"
	mConnectAttempts = "kernel_tcp_connect_attempts_total"
	mConnectFailures = "kernel_tcp_connect_failures_total"
	mConnectSuccess  = "kernel_tcp_connect_successes_total"
	mConnections     = "kernel_tcp_connections"
	mConnectDuration = "kernel_tcp_connect_duration_seconds"
	mRTT             = "kernel_tcp_rtt_seconds"
	// The kernel receiver's self-telemetry (metadata.yaml telemetry).
	mKernelPeerOverflow = "otelcol_receiver_kernel_peer_overflow_total"
	mKernelPeerMapFull  = "otelcol_receiver_kernel_peer_map_full_total"
	mKernelSockMapFull  = "otelcol_receiver_kernel_socket_map_full_total"

	// cgroup receiver (receivers/cgroupreceiver/metadata.yaml).
	mCgCPUTime          = "cgroup_cpu_time_seconds_total"
	mCgPeriods          = "cgroup_cpu_periods_total"
	mCgThrottledPeriods = "cgroup_cpu_throttled_periods_total"
	mCgThrottledTime    = "cgroup_cpu_throttled_time_seconds_total"
	mCgMemUsage         = "cgroup_memory_usage_bytes"
	mCgMemPeak          = "cgroup_memory_peak_bytes"
	mCgMemEvents        = "cgroup_memory_events_total"
	mCgPressure         = "cgroup_pressure_stall_time_seconds_total"
	mSysPressure        = "system_pressure_stall_time_seconds_total"

	// span_metrics connector (contrib), namespace traces.span.metrics,
	// duration histogram in milliseconds.
	mCalls    = "traces_span_metrics_calls_total"
	mDuration = "traces_span_metrics_duration_milliseconds"
)

// Selectors shared by the kernel panels: the namespace / pod / node variables
// match the labels the k8s_attributes processor adds (resource attributes
// become labels through resource_to_telemetry_conversion).
const kernelSel = `k8s_namespace_name=~"$namespace", k8s_pod_name=~"$pod", k8s_node_name=~"$node"`

// Pod health selector: the same variables on the cgroup receiver's series
// (pod and namespace names from k8s_attributes, which finds the pod by the
// k8s.pod.uid the receiver parses from the cgroup path).
const podSel = `k8s_namespace_name=~"$namespace", k8s_pod_name=~"$pod"`

// RED selector: service and operation variables.
const redSel = `service_name=~"$service", span_name=~"$operation"`

// All returns every dashboard keyed by its file name.
func All() map[string]*Dashboard {
	return map[string]*Dashboard{
		"gateway-health.json":   GatewayHealth(),
		"kernel-network.json":   KernelNetwork(),
		"anomalies.json":        Anomalies(),
		"service-overview.json": ServiceOverview(),
		"pod-health.json":       PodHealth(),
	}
}

// FileNames returns the dashboard file names in a stable order.
func FileNames() []string {
	var names []string
	for n := range All() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// signals are the collector's three item kinds as its self-metrics name them.
var signals = []struct{ title, item string }{
	{"Spans", "spans"},
	{"Metric points", "metric_points"},
	{"Log records", "log_records"},
}

// GatewayHealth is the collector's own view: per component, accepted /
// refused / sent / failed / dropped for each signal, queues, memory, CPU
// and export latency.
func GatewayHealth() *Dashboard {
	b := newDashboard("vigil-gateway-health", "Vigil / Gateway health",
		"Vigil's self-telemetry: what each receiver accepted and refused, what each exporter sent, failed and dropped, queue fill, memory, CPU and export latency.",
		"collector").
		datasourceVar(VarPrometheus, "Prometheus").
		labelVar("instance", "Instance", "otelcol_process_uptime_seconds_total", "instance", "")
	inst := `instance=~"$instance"`

	b.row("Overview")
	b.add(6, 4, stat("Refused items/s", "Items receivers refused (memory_limiter back-pressure or a failing pipeline); clients retry them.", "cps",
		q(fmt.Sprintf(`sum(rate(otelcol_receiver_refused_spans_total{%[1]s}[$__rate_interval])) + sum(rate(otelcol_receiver_refused_metric_points_total{%[1]s}[$__rate_interval])) + sum(rate(otelcol_receiver_refused_log_records_total{%[1]s}[$__rate_interval]))`, inst), "refused"), 0.001))
	b.add(6, 4, stat("Failed sends/s", "Items exporters gave up on after retries (dropped).", "cps",
		q(fmt.Sprintf(`sum(rate(otelcol_exporter_send_failed_spans_total{%[1]s}[$__rate_interval])) + sum(rate(otelcol_exporter_send_failed_metric_points_total{%[1]s}[$__rate_interval])) + sum(rate(otelcol_exporter_send_failed_log_records_total{%[1]s}[$__rate_interval]))`, inst), "failed"), 0.001))
	b.add(6, 4, stat("Fullest queue", "Largest sending-queue fill ratio of any exporter.", "percentunit",
		q(fmt.Sprintf(`max(otelcol_exporter_queue_size{%[1]s} / otelcol_exporter_queue_capacity{%[1]s})`, inst), "queue"), 0.5, 0.8))
	b.add(6, 4, stat("Memory (RSS)", "Resident memory of the Vigil process.", "bytes",
		q(fmt.Sprintf(`sum(otelcol_process_memory_rss_bytes{%s})`, inst), "rss")))

	for _, s := range signals {
		b.row(s.title)
		b.add(8, 8, timeseries(s.title+": receivers", "Accepted and refused per receiver and transport.", "cps",
			q(fmt.Sprintf(`sum by (receiver, transport) (rate(otelcol_receiver_accepted_%s_total{%s}[$__rate_interval]))`, s.item, inst), "accepted {{receiver}} ({{transport}})"),
			q(fmt.Sprintf(`sum by (receiver, transport) (rate(otelcol_receiver_refused_%s_total{%s}[$__rate_interval]))`, s.item, inst), "refused {{receiver}} ({{transport}})")))
		b.add(8, 8, timeseries(s.title+": processors", "Items in and out of each processor (the difference is what it dropped or filtered).", "cps",
			q(fmt.Sprintf(`sum by (processor) (rate(otelcol_processor_incoming_items_total{otel_signal=%q, %s}[$__rate_interval]))`, signalName(s.item), inst), "in {{processor}}"),
			q(fmt.Sprintf(`sum by (processor) (rate(otelcol_processor_outgoing_items_total{otel_signal=%q, %s}[$__rate_interval]))`, signalName(s.item), inst), "out {{processor}}")))
		b.add(8, 8, timeseries(s.title+": exporters", "Sent, failed after retries (dropped) and refused by a full queue, per exporter.", "cps",
			q(fmt.Sprintf(`sum by (exporter) (rate(otelcol_exporter_sent_%s_total{%s}[$__rate_interval]))`, s.item, inst), "sent {{exporter}}"),
			q(fmt.Sprintf(`sum by (exporter) (rate(otelcol_exporter_send_failed_%s_total{%s}[$__rate_interval]))`, s.item, inst), "failed {{exporter}}"),
			q(fmt.Sprintf(`sum by (exporter) (rate(otelcol_exporter_enqueue_failed_%s_total{%s}[$__rate_interval]))`, s.item, inst), "queue full {{exporter}}")))
	}

	b.row("Vigil exporters")
	b.add(8, 8, timeseries("Jaeger: sent spans", "Spans the Jaeger collector accepted (PostSpans OK), per exporter.", "cps",
		q(fmt.Sprintf(`sum by (exporter) (rate(otelcol_exporter_jaeger_sent_spans_total{%s}[$__rate_interval]))`, inst), "{{exporter}}")))
	b.add(8, 8, timeseries("Remote write: sent", "Samples, histograms and exemplars the remote-write receiver accepted.", "cps",
		q(fmt.Sprintf(`sum by (exporter, kind) (rate(otelcol_exporter_prometheusremotewrite_sent_items_total{%s}[$__rate_interval]))`, inst), "{{exporter}} {{kind}}")))
	b.add(8, 8, timeseries("Loki: sent entries", "Log entries Loki accepted.", "cps",
		q(fmt.Sprintf(`sum by (exporter) (rate(otelcol_exporter_loki_sent_entries_total{%s}[$__rate_interval]))`, inst), "{{exporter}}")))

	b.row("Queues and resources")
	b.add(8, 8, timeseries("Sending queue", "Items in each exporter's sending queue against its capacity (with sending_queue.storage this is the persistent, on-disk queue).", "short",
		q(fmt.Sprintf(`max by (exporter) (otelcol_exporter_queue_size{%s})`, inst), "size {{exporter}}"),
		q(fmt.Sprintf(`max by (exporter) (otelcol_exporter_queue_capacity{%s})`, inst), "capacity {{exporter}}")))
	b.add(8, 8, timeseries("Persistent queue on disk", "Size of each file of the file_storage extensions: exporters with sending_queue.storage keep their queue there, one file per exporter and signal (e.g. exporter_prometheusremotewrite__metrics). bbolt grows a file in steps and keeps the space until compaction.", "bytes",
		q(fmt.Sprintf(`sum by (extension, file) (otelcol_extension_file_storage_file_size_bytes{%s})`, inst), "{{extension}} {{file}}")))
	b.add(8, 8, timeseries("CPU", "CPU time per second of wall time (1 = one core).", "percentunit",
		q(fmt.Sprintf(`sum by (instance) (rate(otelcol_process_cpu_seconds_total{%s}[$__rate_interval]))`, inst), "{{instance}}")))
	b.add(12, 8, timeseries("Memory", "Resident memory and Go heap of the Vigil process.", "bytes",
		q(fmt.Sprintf(`sum by (instance) (otelcol_process_memory_rss_bytes{%s})`, inst), "rss {{instance}}"),
		q(fmt.Sprintf(`sum by (instance) (otelcol_process_runtime_heap_alloc_bytes{%s})`, inst), "heap {{instance}}")))
	b.add(12, 8, timeseries("Heap against the memory limiter", "The Go heap (runtime MemStats.Alloc) is what the memory_limiter compares, every check_interval, with its limits: above the soft limit (limit - spike) it refuses data, above the hard limit it also forces a GC.", "bytes",
		q(fmt.Sprintf(`sum by (instance) (otelcol_process_runtime_heap_alloc_bytes{%s})`, inst), "heap {{instance}}"),
		q(fmt.Sprintf(`max by (instance, processor) (otelcol_processor_memory_limiter_soft_limit_bytes{%s})`, inst), "soft limit {{processor}} {{instance}}"),
		q(fmt.Sprintf(`max by (instance, processor) (otelcol_processor_memory_limiter_hard_limit_bytes{%s})`, inst), "hard limit {{processor}} {{instance}}")))
	b.add(12, 8, timeseries("Export latency (remote write)", "p50 / p99 duration of remote-write requests.", "s",
		q(fmt.Sprintf(`histogram_quantile(0.5, sum by (le, exporter) (rate(otelcol_exporter_prometheusremotewrite_request_duration_seconds_bucket{%s}[$__rate_interval])))`, inst), "p50 {{exporter}}"),
		q(fmt.Sprintf(`histogram_quantile(0.99, sum by (le, exporter) (rate(otelcol_exporter_prometheusremotewrite_request_duration_seconds_bucket{%s}[$__rate_interval])))`, inst), "p99 {{exporter}}")))
	b.add(12, 8, timeseries("Export latency (OTLP/HTTP clients)", "p99 duration of HTTP requests the collector's HTTP clients make (otelhttp instrumentation, telemetry level detailed).", "s",
		q(fmt.Sprintf(`histogram_quantile(0.99, sum by (le, server_address) (rate(http_client_request_duration_seconds_bucket{%s}[$__rate_interval])))`, inst), "p99 {{server_address}}")))
	return b.build()
}

// signalName maps the self-metric item name to the otel_signal label value.
func signalName(item string) string {
	switch item {
	case "spans":
		return "traces"
	case "metric_points":
		return "metrics"
	}
	return "logs"
}

// KernelNetwork shows the eBPF kernel receiver's TCP signals by pod and peer.
func KernelNetwork() *Dashboard {
	b := newDashboard("vigil-kernel-network", "Vigil / Kernel network",
		"TCP retransmits, resets, connection attempts, failures and latency, RTT, and connections by state, from Vigil's eBPF kernel receiver, attributed to pods through cgroups.",
		"kernel", "network").
		datasourceVar(VarPrometheus, "Prometheus").
		labelVar("namespace", "Namespace", mConnectAttempts, "k8s_namespace_name", "").
		labelVar("pod", "Pod", fmt.Sprintf(`%s{k8s_namespace_name=~"$namespace"}`, mConnectAttempts), "k8s_pod_name", "").
		labelVar("node", "Node", mConnectAttempts, "k8s_node_name", "")

	b.row("Retransmits")
	b.add(12, 8, timeseries("Retransmitted segments by pod", "TCP segments retransmitted per second, per pod (TcpRetransSegs, attributed by cgroup).", "cps",
		q(fmt.Sprintf(`sum by (k8s_namespace_name, k8s_pod_name) (rate(%s{%s}[$__rate_interval]))`, mRetrans, kernelSel), "{{k8s_namespace_name}}/{{k8s_pod_name}}")))
	b.add(12, 8, timeseries("Retransmitted segments by peer", "TCP segments retransmitted per second, per remote address (top 10).", "cps",
		q(fmt.Sprintf(`topk(10, sum by (network_peer_address) (rate(%s{%s}[$__rate_interval])))`, mRetrans, kernelSel), "{{network_peer_address}}")))

	b.row("Resets and connects")
	b.add(8, 8, timeseries("Resets", "TCP resets sent (transmit) and received (receive) per second.", "cps",
		q(fmt.Sprintf(`sum by (network_io_direction) (rate(%s{%s}[$__rate_interval]))`, mResets, kernelSel), "{{network_io_direction}}")))
	b.add(8, 8, timeseries("Connect attempts and failures", "Active opens per second: attempts, established, failed. Failed counts every attempt that ended before being established (SYN_SENT → CLOSE): refused, timed out, unreachable, and also attempts the application abandoned (closed while connecting, e.g. its own dial timeout), which the kernel's TcpAttemptFails leaves out.", "cps",
		q(fmt.Sprintf(`sum(rate(%s{%s}[$__rate_interval]))`, mConnectAttempts, kernelSel), "attempts"),
		q(fmt.Sprintf(`sum(rate(%s{%s}[$__rate_interval]))`, mConnectSuccess, kernelSel), "established"),
		q(fmt.Sprintf(`sum(rate(%s{%s}[$__rate_interval]))`, mConnectFailures, kernelSel), "failed")))
	b.add(8, 8, timeseries("Connect failure ratio by peer", "Failed / attempted active opens per remote endpoint (top 10); failed includes attempts the application abandoned.", "percentunit",
		q(fmt.Sprintf(`topk(10, sum by (network_peer_address, network_peer_port) (rate(%[1]s{%[3]s}[$__rate_interval])) / sum by (network_peer_address, network_peer_port) (rate(%[2]s{%[3]s}[$__rate_interval])))`, mConnectFailures, mConnectAttempts, kernelSel), "{{network_peer_address}}:{{network_peer_port}}")))

	b.row("Latency")
	b.add(12, 8, timeseries("Connect latency", "Time from SYN sent to established for active opens: p50 / p95 / p99.", "s",
		q(fmt.Sprintf(`histogram_quantile(0.5, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, mConnectDuration, kernelSel), "p50"),
		q(fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, mConnectDuration, kernelSel), "p95"),
		q(fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(%s_bucket{%s}[$__rate_interval])))`, mConnectDuration, kernelSel), "p99")))
	b.add(12, 8, timeseries("Smoothed RTT by pod", "Median and p99 of the sockets' smoothed RTT (sampled at establishment, retransmits and close), per pod.", "s",
		q(fmt.Sprintf(`histogram_quantile(0.5, sum by (le, k8s_namespace_name, k8s_pod_name) (rate(%s_bucket{%s}[$__rate_interval])))`, mRTT, kernelSel), "p50 {{k8s_namespace_name}}/{{k8s_pod_name}}"),
		q(fmt.Sprintf(`histogram_quantile(0.99, sum by (le, k8s_namespace_name, k8s_pod_name) (rate(%s_bucket{%s}[$__rate_interval])))`, mRTT, kernelSel), "p99 {{k8s_namespace_name}}/{{k8s_pod_name}}")))

	b.row("Connections")
	b.add(12, 8, timeseries("Connections by state", "TCP sockets by state (counting sockets that changed state since the receiver started).", "short",
		q(fmt.Sprintf(`sum by (network_connection_state) (%s{%s})`, mConnections, kernelSel), "{{network_connection_state}}")))
	b.add(12, 8, timeseries("Connect failures by pod", "Failed active opens per second, per pod (attempts the application abandoned included).", "cps",
		q(fmt.Sprintf(`sum by (k8s_namespace_name, k8s_pod_name) (rate(%s{%s}[$__rate_interval]))`, mConnectFailures, kernelSel), "{{k8s_namespace_name}}/{{k8s_pod_name}}")))

	b.row("Receiver limits")
	b.add(12, 8, timeseries("Peer overflow and kernel map drops", "Kernel events per second that lost their peer (folded into a pod's network.peer.address=\"overflow\" series: the pod exceeded max_peers_per_cgroup, or max_cgroups was reached) or were not counted at all (peers map full: raise max_peers), and sockets the socket table could not track (raise max_sockets), per Vigil instance. Non-zero overflow means per-peer series of some pod are incomplete.", "cps",
		q(fmt.Sprintf(`sum by (instance) (rate(%s[$__rate_interval]))`, mKernelPeerOverflow), "overflow {{instance}}"),
		q(fmt.Sprintf(`sum by (instance) (rate(%s[$__rate_interval]))`, mKernelPeerMapFull), "peers map full {{instance}}"),
		q(fmt.Sprintf(`sum by (instance) (rate(%s[$__rate_interval]))`, mKernelSockMapFull), "socket table full {{instance}}")))
	b.add(12, 8, timeseries("Overflow series by pod", "Events per second in each pod's overflow peer (network.peer.address=\"overflow\"): connect attempts and retransmitted segments whose peer was not kept.", "cps",
		q(fmt.Sprintf(`sum by (k8s_namespace_name, k8s_pod_name) (rate(%s{%s, network_peer_address="overflow"}[$__rate_interval]))`, mConnectAttempts, kernelSel), "attempts {{k8s_namespace_name}}/{{k8s_pod_name}}"),
		q(fmt.Sprintf(`sum by (k8s_namespace_name, k8s_pod_name) (rate(%s{%s, network_peer_address="overflow"}[$__rate_interval]))`, mRetrans, kernelSel), "retransmits {{k8s_namespace_name}}/{{k8s_pod_name}}")))
	return b.build()
}

// Anomalies shows the EWMA baselines: the tracked value with its band, the
// score, the alert state and the alert log records.
func Anomalies() *Dashboard {
	b := newDashboard("vigil-anomalies", "Vigil / Anomalies",
		"Series tracked by the ewma_baseline connector: value, baseline and band (mean ± k·σ), anomaly score, alert state, and the alert log records in Loki (with links to the trace of the exemplar that triggered them).",
		"anomalies").
		datasourceVar(VarPrometheus, "Prometheus").
		datasourceVar(VarLoki, "Loki").
		datasourceVar(VarJaeger, "Jaeger")
	// The connector names its outputs <input>[_rate|_mean|_count_rate]_{baseline,upper,lower,score,alert};
	// Prometheus adds the unit suffix (e.g. _per_second, _ratio) after that.
	b.queryVar("metric", "Tracked series", `label_values({__name__=~".+_score(_ratio)?"}, __name__)`, `/^(.+)_score(_ratio)?$/`, ".+")

	b.row("Baselines")
	band := timeseries("$metric: value, baseline and band", "The tracked series with its EWMA baseline and the band mean ± k·σ around it, one panel per tracked series. The value line is the input metric itself, so it shows for gauge rules; counter and histogram rules track a derived rate or mean, drawn by the band alone.", "short",
		q(`{__name__=~"${metric}"}`, "value {{__name__}}"),
		q(`{__name__=~"${metric}_baseline.*"}`, "baseline"),
		q(`{__name__=~"${metric}_upper.*"}`, "upper"),
		q(`{__name__=~"${metric}_lower.*"}`, "lower"))
	band.Repeat, band.RepeatDirection = "metric", "v"
	b.add(24, 10, band)
	b.add(12, 8, timeseries("Anomaly score", "|x − mean| / σ per series; alerts fire when it stays above the rule's threshold.", "none",
		q(`{__name__=~"${metric}_score.*"}`, "{{__name__}}")))
	b.add(12, 8, timeseries("Alert state", "Alert state series per tracked series (0 inactive, 1 pending, 2 firing).", "none",
		q(`{__name__=~"${metric}_alert.*"}`, "{{__name__}}")))
	b.add(8, 6, stat("Alert transitions/s", "Alert state transitions, by state entered.", "cps",
		q(`sum by (state) (rate(otelcol_connector_ewma_baseline_alert_transitions_total[$__rate_interval]))`, "{{state}}")))
	b.add(8, 6, stat("Tracked series", "Series currently holding a baseline.", "short",
		q(`sum(otelcol_connector_ewma_baseline_tracked_series)`, "series")))
	b.add(8, 6, stat("Skipped points/s", "Points matched by a rule but not used, by reason.", "cps",
		q(`sum by (reason) (rate(otelcol_connector_ewma_baseline_skipped_points_total[$__rate_interval]))`, "{{reason}}")))

	b.row("Alert log")
	b.add(24, 10, logs("Alert transitions (Loki)", "One record per alert transition, with value, baseline, band and score. Records carrying a trace ID link to Jaeger through the Loki datasource's derived field.",
		// Every Loki stream Vigil writes has a level label (from the severity);
		// alert_rule is structured metadata (see the chart's loki exporter).
		`{level=~".+"} | alert_rule=~".+"`))
	return b.build()
}

// ServiceOverview is the RED view from the span_metrics connector, with
// exemplars that link to Jaeger and the recent traces of the service.
func ServiceOverview() *Dashboard {
	b := newDashboard("vigil-service-overview", "Vigil / Service overview (RED)",
		"Rate, errors and duration per service and operation, from the span_metrics connector. Exemplars on the duration panel link to the trace in Jaeger.",
		"red", "traces").
		datasourceVar(VarPrometheus, "Prometheus").
		datasourceVar(VarJaeger, "Jaeger").
		labelVar("service", "Service", mCalls, "service_name", "").
		labelVar("operation", "Operation", fmt.Sprintf(`%s{service_name=~"$service"}`, mCalls), "span_name", "")

	b.row("Rate and errors")
	b.add(12, 8, timeseries("Request rate", "Spans per second per service and operation (server and consumer spans carry the requests).", "reqps",
		q(fmt.Sprintf(`sum by (service_name, span_name) (rate(%s{%s}[$__rate_interval]))`, mCalls, redSel), "{{service_name}} {{span_name}}")))
	b.add(12, 8, timeseries("Error ratio", "Share of spans with status ERROR per service and operation.", "percentunit",
		q(fmt.Sprintf(`sum by (service_name, span_name) (rate(%[1]s{%[2]s, status_code="STATUS_CODE_ERROR"}[$__rate_interval])) / sum by (service_name, span_name) (rate(%[1]s{%[2]s}[$__rate_interval]))`, mCalls, redSel), "{{service_name}} {{span_name}}")))

	b.row("Duration")
	dur := timeseries("Duration percentiles", "p50 / p95 / p99 span duration per service. Exemplars (dots) open the trace in Jaeger.", "ms",
		q(fmt.Sprintf(`histogram_quantile(0.5, sum by (le, service_name) (rate(%s_bucket{%s}[$__rate_interval])))`, mDuration, redSel), "p50 {{service_name}}"),
		q(fmt.Sprintf(`histogram_quantile(0.95, sum by (le, service_name) (rate(%s_bucket{%s}[$__rate_interval])))`, mDuration, redSel), "p95 {{service_name}}"),
		q(fmt.Sprintf(`histogram_quantile(0.99, sum by (le, service_name) (rate(%s_bucket{%s}[$__rate_interval])))`, mDuration, redSel), "p99 {{service_name}}"))
	dur.exemplars = true
	b.add(12, 8, dur)
	b.add(12, 8, timeseries("Mean duration by operation", "Average span duration per operation.", "ms",
		q(fmt.Sprintf(`sum by (service_name, span_name) (rate(%[1]s_sum{%[2]s}[$__rate_interval])) / sum by (service_name, span_name) (rate(%[1]s_count{%[2]s}[$__rate_interval]))`, mDuration, redSel), "{{service_name}} {{span_name}}")))

	b.row("Traces")
	b.add(24, 8, traces("Recent traces (Jaeger)", "The latest traces of the selected service, from Jaeger.", "$service", ""))
	return b.build()
}

// PodHealth is the per-pod view of one agent's node: CPU throttling,
// memory usage, pressure and OOM kills from the cgroup receiver, TCP
// retransmits and resets from the kernel receiver, and log volume by level
// from the pod logs in Loki.
func PodHealth() *Dashboard {
	b := newDashboard("vigil-pod-health", "Vigil / Pod health",
		"Per pod: CPU usage and throttling, memory usage, pressure and OOM kills (cgroup receiver), TCP retransmits and resets (kernel receiver), and log volume by level (pod logs in Loki).",
		"pods", "kubernetes").
		datasourceVar(VarPrometheus, "Prometheus").
		datasourceVar(VarLoki, "Loki").
		labelVar("namespace", "Namespace", mCgCPUTime, "k8s_namespace_name", "").
		labelVar("pod", "Pod", fmt.Sprintf(`%s{k8s_namespace_name=~"$namespace"}`, mCgCPUTime), "k8s_pod_name", "")
	by := "k8s_namespace_name, k8s_pod_name"
	legend := "{{k8s_namespace_name}}/{{k8s_pod_name}}"

	b.row("CPU")
	b.add(8, 8, timeseries("CPU usage by pod", "CPU time per second of wall time (1 = one core), summed over the pod's containers (cgroup cpu.stat usage_usec / cpuacct.usage).", "short",
		q(fmt.Sprintf(`sum by (%s) (rate(%s{%s}[$__rate_interval]))`, by, mCgCPUTime, podSel), legend)))
	b.add(8, 8, timeseries("CPU throttled periods by pod", "Share of CFS periods in which the pod's containers were throttled because they had used their CPU limit (nr_throttled / nr_periods). Only containers with a CPU limit have periods.", "percentunit",
		q(fmt.Sprintf(`sum by (%[1]s) (rate(%[2]s{%[4]s}[$__rate_interval])) / sum by (%[1]s) (rate(%[3]s{%[4]s}[$__rate_interval]))`, by, mCgThrottledPeriods, mCgPeriods, podSel), legend)))
	b.add(8, 8, timeseries("CPU throttled time by pod", "Seconds per second the pod's tasks were held back by the CFS quota (throttled_usec / throttled_time).", "short",
		q(fmt.Sprintf(`sum by (%s) (rate(%s{%s}[$__rate_interval]))`, by, mCgThrottledTime, podSel), legend)))

	b.row("Memory")
	b.add(8, 8, timeseries("Memory usage by pod", "Memory charged to the pod's containers, page cache included (memory.current / memory.usage_in_bytes), and the highest usage recorded (memory.peak / max_usage_in_bytes).", "bytes",
		q(fmt.Sprintf(`sum by (%s) (%s{%s})`, by, mCgMemUsage, podSel), "usage "+legend),
		q(fmt.Sprintf(`sum by (%s) (%s{%s})`, by, mCgMemPeak, podSel), "peak "+legend)))
	b.add(8, 8, timeseries("Memory pressure", "Share of wall time some (or all, \"full\") of the pod's tasks stalled waiting for memory (per-cgroup PSI, cgroup v2 only), and the node's memory pressure (/proc/pressure/memory).", "percentunit",
		q(fmt.Sprintf(`sum by (%s, psi_stall) (rate(%s{%s, psi_resource="memory"}[$__rate_interval]))`, by, mCgPressure, podSel), "{{psi_stall}} "+legend),
		q(fmt.Sprintf(`max by (psi_stall) (rate(%s{psi_resource="memory"}[$__rate_interval]))`, mSysPressure), "{{psi_stall}} node")))
	b.add(8, 8, timeseries("OOM kills and memory limit events by pod", "Processes the OOM killer killed in the pod's containers (memory.events oom_kill; v1 memory.oom_control), and times usage went over memory.high (throttled reclaim) or hit memory.max (v2), per interval.", "short",
		q(fmt.Sprintf(`sum by (%s, cgroup_memory_event) (increase(%s{%s, cgroup_memory_event=~"oom_kill|high|max"}[$__rate_interval]))`, by, mCgMemEvents, podSel), "{{cgroup_memory_event}} "+legend)))

	b.row("Network")
	b.add(12, 8, timeseries("TCP retransmits by pod", "TCP segments retransmitted per second, per pod (kernel receiver, attributed by cgroup).", "cps",
		q(fmt.Sprintf(`sum by (%s) (rate(%s{%s}[$__rate_interval]))`, by, mRetrans, podSel), legend)))
	b.add(12, 8, timeseries("TCP resets by pod", "TCP resets sent (transmit) and received (receive) per second, per pod.", "cps",
		q(fmt.Sprintf(`sum by (%s, network_io_direction) (rate(%s{%s}[$__rate_interval]))`, by, mResets, podSel), "{{network_io_direction}} "+legend)))

	b.row("Logs")
	b.add(24, 8, logVolume("Log volume by level", "Log lines per interval by level, for the selected pods (pod logs' stream labels namespace, pod and level).",
		`sum by (level) (count_over_time({level=~".+", namespace=~"$namespace", pod=~"$pod"} [$__auto]))`, "{{level}}"))
	return b.build()
}
