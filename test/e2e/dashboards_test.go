// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus/common/model"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/vigil-otel/vigil/dashboards"
)

// dashboardsConfig runs every component the dashboards read, as far as the
// binary has it (see vigilComponents): span metrics and EWMA baselines, the
// Vigil exporters to the real backends, and the same exporters pointed at a
// closed port so that the failure and drop counters exist. Self-telemetry
// is pushed to Prometheus' OTLP endpoint, as the Helm chart's ServiceMonitor
// would scrape it (same names: counters with _total, units as suffixes).
const dashboardsConfig = `
extensions:
` + yamlHealthCheck + `  # The persistent sending queue of otlp_http/disk.
  file_storage/queue:
    directory: ${env:VIGIL_STORAGE_DIR}/queue
    create_directory: true
receivers:
` + yamlOTLPReceiver + `{{KERNEL_RECEIVER}}
  # The cgroup receiver on a cgroup v2 tree in the kernel's file formats
  # (a copy of its fixture, counters advanced every second): the Pod health
  # panels need throttling and per-cgroup PSI, which this machine's hybrid
  # cgroup v1 layout does not have.
  cgroup:
    collection_interval: 2s
    cgroup_root: {{CGROUP_ROOT}}/sys/fs/cgroup
    mountinfo_path: {{CGROUP_ROOT}}/mountinfo
    pressure_path: {{CGROUP_ROOT}}/proc/pressure
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 2048
    spike_limit_mib: 512
  batch:
    timeout: 200ms
connectors:
  span_metrics:
    histogram:
      unit: ms
    exemplars:
      enabled: true
    metrics_flush_interval: 2s
  ewma_baseline:
    rules:
      - name: dashboards_e2e
        metric: {{ANOMALY_METRIC}}
        half_life: 1m
        k: 4
        clear_score: 2
        direction: up
        for: 0s
        seasonality:
          enabled: false
        warmup:
          samples: 20
exporters:
  jaeger:
    endpoint: {{JAEGER_GRPC}}
    tls:
      insecure: true
  prometheusremotewrite:
    endpoint: {{PROMETHEUS}}/api/v1/write
    resource_to_telemetry_conversion:
      enabled: true
  loki:
    endpoint: {{LOKI_PUSH}}
    structured_metadata:
      attributes: [alert.rule, alert.state, alert.fingerprint, metric.name]
  # Pod logs' labels (namespace, pod, level), as the chart's loki/pods
  # exporter sets them; here from resource attributes telemetrygen sets.
  loki/pods:
    endpoint: {{LOKI_PUSH}}
    labels:
      resource_attributes:
        - {attribute: k8s.namespace.name, label: namespace}
        - {attribute: vigil.e2e.pod, label: pod}
      severity: level
  # The same exporters against a closed port, without retries: their sends
  # fail and are dropped, so failure counters and alert inputs exist.
  jaeger/down:
    endpoint: {{CLOSED}}
    tls:
      insecure: true
    timeout: 2s
    retry_on_failure:
      enabled: false
  prometheusremotewrite/down:
    endpoint: http://{{CLOSED}}/api/v1/write
    timeout: 2s
    retry_on_failure:
      enabled: false
  loki/down:
    endpoint: http://{{CLOSED}}/loki/api/v1/push
    timeout: 2s
    retry_on_failure:
      enabled: false
  # A one-slot queue in front of a closed port: it fills and refuses.
  otlp_http/full:
    endpoint: http://{{CLOSED}}
    timeout: 2s
    sending_queue:
      queue_size: 1
      num_consumers: 1
    retry_on_failure:
      enabled: true
      initial_interval: 30s
  # A persistent (file_storage) queue in front of a closed port: the spans
  # stay in its file on disk.
  otlp_http/disk:
    endpoint: http://{{CLOSED}}
    timeout: 2s
    sending_queue:
      storage: file_storage/queue
    retry_on_failure:
      enabled: true
      initial_interval: 30s
service:
  extensions: [health_check, file_storage/queue]
  telemetry:
    resource:
      service.instance.id: {{INSTANCE}}
    metrics:
      level: detailed
      readers:
        - periodic:
            interval: 2000
            exporter:
              otlp:
                protocol: http/protobuf
                endpoint: {{PROMETHEUS}}/api/v1/otlp/v1/metrics
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:VIGIL_TELEMETRY_PORT}
                without_type_suffix: false
                without_units: false
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [jaeger, jaeger/down, otlp_http/full, otlp_http/disk, span_metrics]
    metrics:
      receivers: [otlp, cgroup{{KERNEL_IN_METRICS}}]
      processors: [memory_limiter, batch]
      exporters: [prometheusremotewrite, prometheusremotewrite/down, otlp_http/full, ewma_baseline]
    metrics/derived:
      receivers: [span_metrics, ewma_baseline]
      processors: [batch]
      exporters: [prometheusremotewrite]
    logs:
      receivers: [otlp, ewma_baseline]
      processors: [memory_limiter, batch]
      exporters: [loki, loki/down, otlp_http/full]
    logs/pods:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [loki/pods]
`

// dashboardSources says which Vigil component feeds the series a query
// reads, by metric-name prefix; the first match wins.
var dashboardSources = []struct{ prefix, kind, component string }{
	{"kernel_", "receivers", "kernel"},
	{"otelcol_receiver_kernel", "receivers", "kernel"},
	{"cgroup_", "receivers", "cgroup"},
	{"system_pressure_", "receivers", "cgroup"},
	{"traces_span_metrics", "connectors", "span_metrics"},
	{"otelcol_connector_ewma_baseline", "connectors", "ewma_baseline"},
	{"otelcol_exporter_jaeger", "exporters", "jaeger"},
	{"otelcol_exporter_prometheusremotewrite", "exporters", "prometheusremotewrite"},
	{"otelcol_exporter_loki", "exporters", "loki"},
	{"otelcol_processor_memory_limiter_hard_limit", "processors", "memory_limiter"},
	{"otelcol_processor_memory_limiter_soft_limit", "processors", "memory_limiter"},
	{"otelcol_extension_file_storage", "extensions", "file_storage"},
}

// vigilComponents lists the component types of the built binary
// (`vigil components`), by kind.
func vigilComponents(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command(vigilBin, "components").Output()
	if err != nil {
		t.Fatalf("vigil components: %v", err)
	}
	var list map[string]any
	if err := yaml.Unmarshal(out, &list); err != nil {
		t.Fatalf("vigil components: %v\n%s", err, out)
	}
	comps := map[string][]string{}
	for kind, v := range list {
		items, _ := v.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if name, ok := m["name"].(string); ok {
				comps[kind] = append(comps[kind], name)
			}
		}
	}
	return comps
}

// missingSource names the component a query needs that the binary lacks.
func missingSource(comps map[string][]string, expr string) string {
	for _, s := range dashboardSources {
		if strings.Contains(expr, s.prefix) && !slices.Contains(comps[s.kind], s.component) {
			return s.kind + "/" + s.component
		}
	}
	return ""
}

// cgroupFixture copies the cgroup receiver's v2 fixture tree (files in the
// kernel's formats: a kubelet pod with a containerd container) into a
// temporary directory with its mountinfo, and advances the container's
// counters every second until the test ends: CPU usage and CFS periods
// (a tenth of them throttled), memory PSI totals, and one OOM kill.
func cgroupFixture(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot, "receivers", "cgroupreceiver", "testdata", "v2")
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copying the cgroup fixture: %v", err)
	}
	tmpl, err := os.ReadFile(filepath.Join(dst, "mountinfo.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "mountinfo"), bytes.ReplaceAll(tmpl, []byte("@ROOT@"), []byte(dst)), 0o600); err != nil {
		t.Fatal(err)
	}
	var ctr string
	_ = filepath.WalkDir(filepath.Join(dst, "sys/fs/cgroup"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "cri-containerd-") {
			ctr = p
			return filepath.SkipAll
		}
		return nil
	})
	if ctr == "" {
		t.Fatal("the cgroup fixture has no containerd container")
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 1; ; i++ {
			write := func(name, content string) {
				// Written whole and renamed, as the kernel's files never show half a value.
				tmp := filepath.Join(ctr, "."+name+".tmp")
				if os.WriteFile(tmp, []byte(content), 0o600) == nil {
					_ = os.Rename(tmp, filepath.Join(ctr, name))
				}
			}
			write("cpu.stat", fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\nnr_periods %d\nnr_throttled %d\nthrottled_usec %d\nnr_bursts 0\nburst_usec 0\n",
				4500000+i*300000, 3375000+i*200000, 1125000+i*100000, 250+i*10, 37+i, 1100000+i*20000))
			write("memory.pressure", fmt.Sprintf("some avg10=1.50 avg60=0.80 avg300=0.20 total=%d\nfull avg10=0.40 avg60=0.10 avg300=0.02 total=%d\n", 1900+i*5000, 950+i*2000))
			oom := 1
			if i > 5 {
				oom = 2
			}
			write("memory.events", fmt.Sprintf("low 0\nhigh %d\nmax %d\noom %d\noom_kill %d\noom_group_kill 0\n", 2+i, 1+i/2, oom, oom))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return dst
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestDashboardQueries runs Vigil with the components the dashboards read,
// drives traces (with errors), metrics, logs, an injected anomaly and TCP
// connects, then runs every PromQL query of every dashboard panel and alert
// rule against the real Prometheus and every LogQL query, translated to
// LogsQL (logQLToLogsQL), against the logs backend that received the loki
// exporter's pushes (VictoriaLogs), with the template variables set to this
// run's service, instance and tracked series, and asserts each one returns
// data. Queries whose source component is not in the binary, and LogQL that
// has no LogsQL equivalent, are listed as errors, not skipped.
func TestDashboardQueries(t *testing.T) {
	comps := vigilComponents(t)
	sfx := RandomSuffix()
	service := "dash-e2e-" + sfx
	instance := "dash-e2e-" + sfx
	anomalyMetric := "dash_e2e_latency_" + sfx

	hasKernel := slices.Contains(comps["receivers"], "kernel")
	kernelRecv, kernelIn := "", ""
	if hasKernel {
		// A peer budget per cgroup that driveTCP exceeds on purpose (after
		// the lossy transfer has its own peer), so that the overflow panels
		// have data.
		kernelRecv = fmt.Sprintf("  kernel:\n    collection_interval: 2s\n    max_peers_per_cgroup: %d", overflowPeerBudget)
		kernelIn = ", kernel"
	}
	cfg := strings.NewReplacer(
		"{{KERNEL_RECEIVER}}", kernelRecv,
		"{{KERNEL_IN_METRICS}}", kernelIn,
		"{{ANOMALY_METRIC}}", anomalyMetric,
		"{{JAEGER_GRPC}}", JaegerGRPC,
		"{{PROMETHEUS}}", PrometheusURL,
		"{{LOKI_PUSH}}", LokiPushURL,
		"{{CLOSED}}", closedPort(t),
		"{{INSTANCE}}", instance,
		"{{CGROUP_ROOT}}", cgroupFixture(t),
	).Replace(dashboardsConfig)
	// Without some of the components the config is invalid; then the test
	// says which ones are missing and stops.
	var missing []string
	for kind, names := range map[string][]string{
		"exporters":  {"jaeger", "prometheusremotewrite", "loki"},
		"connectors": {"span_metrics", "ewma_baseline"},
		"extensions": {"file_storage"},
	} {
		for _, n := range names {
			if !slices.Contains(comps[kind], n) {
				missing = append(missing, kind+"/"+n)
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the vigil binary lacks components the dashboards need: %v", missing)
	}
	start := time.Now()
	v := StartVigil(t, cfg)

	// Traffic: traces (some with status Error) for span metrics and Jaeger,
	// metrics and logs for the exporters, a series with an anomaly for the
	// EWMA baseline, TCP connects for the kernel receiver.
	Telemetrygen(t, v, "traces", "--service", service, "--traces", "200", "--rate", "100", "--child-spans", "2")
	Telemetrygen(t, v, "traces", "--service", service, "--traces", "50", "--rate", "100", "--status-code", "Error")
	Telemetrygen(t, v, "metrics", "--service", service, "--metrics", "200", "--rate", "100")
	Telemetrygen(t, v, "logs", "--service", service, "--logs", "200", "--rate", "100")
	// telemetrygen wants the severity number that goes with the text.
	for sev, num := range map[string]string{"Info": "9", "Error": "17"} {
		Telemetrygen(t, v, "logs", "--service", service, "--logs", "20", "--rate", "100", "--severity-text", sev, "--severity-number", num,
			"--otlp-attributes", `k8s.namespace.name="dash-ns"`, "--otlp-attributes", `vigil.e2e.pod="dash-pod-`+sfx+`"`)
	}
	traceID := jaegerTraceID(t, service)
	injectAnomaly(t, v, service, anomalyMetric, traceID)
	if hasKernel {
		driveTCP(t)
	}
	// A second round after the self-metrics have been pushed a few times:
	// counters created by the first failures need a later increase for
	// rate() to see it.
	time.Sleep(5 * time.Second)
	Telemetrygen(t, v, "traces", "--service", service, "--traces", "50", "--rate", "100", "--status-code", "Error")
	Telemetrygen(t, v, "metrics", "--service", service, "--metrics", "50", "--rate", "100")
	Telemetrygen(t, v, "logs", "--service", service, "--logs", "50", "--rate", "100")

	vars := dashboards.AllValues()
	vars["instance"] = regexp.QuoteMeta(instance)
	vars["service"] = regexp.QuoteMeta(service)
	// A gauge without a unit: Prometheus stores it under its own name, and
	// the connector's outputs under <name>_baseline… (unit suffixes after).
	vars["metric"] = regexp.QuoteMeta(anomalyMetric)

	queries, err := dashboards.LoadQueries(filepath.Join(repoRoot, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	var pending []dashQuery
	var unsupported []string
	for _, q := range queries {
		expr := dashboards.Substitute(q.Expr, vars)
		if m := missingSource(comps, expr); m != "" {
			unsupported = append(unsupported, fmt.Sprintf("%s needs %s", q, m))
			continue
		}
		pending = append(pending, dashQuery{q: q, expr: expr})
	}
	rules := alertRuleQueries(t)
	pending = append(pending, rules...)

	// Poll until every query returns data (metrics arrive every few seconds;
	// rate() needs two samples), then report the ones that never did.
	deadline := time.Now().Add(90 * time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []dashQuery
		for _, r := range pending {
			if ok, why := queryHasData(r.q, r.expr, service, start); !ok {
				r.reason = why
				still = append(still, r)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(2 * time.Second)
		}
	}
	for _, r := range pending {
		t.Errorf("%s returned no data: %s\n  query: %s", r.q, r.reason, r.expr)
	}
	sort.Strings(unsupported)
	for _, u := range unsupported {
		t.Errorf("panel without data: its source component is not in the vigil binary: %s", u)
	}
	checkLimitsAndQueueFile(t, instance)
	if hasKernel {
		// The retransmit panels show this run's lossy transfer, not only
		// whatever else the machine does.
		Eventually(t, 60*time.Second, func() (bool, string) {
			s, err := promQuery(PrometheusURL, `sum(kernel_tcp_retransmitted_segments_total{network_peer_address="10.251.77.2"})`)
			if err != nil {
				return false, err.Error()
			}
			return len(s) == 1 && s[0].Value > 0, fmt.Sprintf("retransmits to the lossy peer: %v", s)
		})
	}
	checkExemplarsLinkToJaeger(t, service, start)
	checkAlertRecordsLinkToJaeger(t, "dashboards_e2e", traceID, start)
	checkLabelVariables(t, comps, vars)
	t.Logf("checked %d dashboard queries and alert rule expressions; %d without their component", len(queries)-len(unsupported)+len(rules), len(unsupported))
}

// checkLimitsAndQueueFile asserts the values behind the "Heap against the
// memory limiter" and "Persistent queue on disk" panels for this run: the
// limits of its memory_limiter (limit_mib 2048, spike_limit_mib 512) and a
// non-empty file for the otlp_http/disk queue.
func checkLimitsAndQueueFile(t *testing.T, instance string) {
	t.Helper()
	want := map[string]float64{
		"otelcol_processor_memory_limiter_hard_limit_bytes": 2048 << 20,
		"otelcol_processor_memory_limiter_soft_limit_bytes": (2048 - 512) << 20,
	}
	for name, v := range want {
		Eventually(t, 60*time.Second, func() (bool, string) {
			s, err := promQuery(PrometheusURL, fmt.Sprintf(`%s{instance=%q, processor="memory_limiter"}`, name, instance))
			if err != nil {
				return false, err.Error()
			}
			return len(s) == 1 && s[0].Value == v, fmt.Sprintf("%s: %v, want one series of %v", name, s, v)
		})
	}
	Eventually(t, 60*time.Second, func() (bool, string) {
		s, err := promQuery(PrometheusURL, fmt.Sprintf(`otelcol_extension_file_storage_file_size_bytes{instance=%q, extension="file_storage/queue", file="exporter_otlp_http_disk_traces"}`, instance))
		if err != nil {
			return false, err.Error()
		}
		return len(s) == 1 && s[0].Value > 0, fmt.Sprintf("size of the otlp_http/disk queue file: %v", s)
	})
}

// dashQuery is one query to run, with why it last returned no data.
type dashQuery struct {
	q      dashboards.Query
	expr   string
	reason string
}

// checkLabelVariables runs each dashboard variable's label_values query
// (as Grafana does, through the label values API) and asserts it offers this
// run's value, or any value. The k8s_* labels come from the k8s_attributes
// processor, which needs a Kubernetes API server: those variables are
// checked by TestK8sKernelSignalsPerPod against the real one.
func checkLabelVariables(t *testing.T, comps map[string][]string, vars map[string]string) {
	t.Helper()
	lvs, err := dashboards.LoadLabelVariables(filepath.Join(repoRoot, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lv := range lvs {
		if strings.HasPrefix(lv.Label, "k8s_") {
			t.Logf("variable %s/%s not checked here: label %s needs k8s_attributes and an API server (TestK8sKernelSignalsPerPod checks those read from kernel_* series)", lv.File, lv.Name, lv.Label)
			continue
		}
		sel := dashboards.Substitute(lv.Selector, vars)
		if m := missingSource(comps, sel); m != "" {
			t.Errorf("variable %s/%s: its source component %s is not in the vigil binary", lv.File, lv.Name, m)
			continue
		}
		q := url.Values{}
		q.Set("match[]", sel)
		var resp struct {
			Data []string `json:"data"`
		}
		if err := getJSON(PrometheusURL+"/api/v1/label/"+lv.Label+"/values?"+q.Encode(), nil, &resp); err != nil {
			t.Errorf("variable %s/%s: %v", lv.File, lv.Name, err)
			continue
		}
		re := regexp.MustCompile(".*")
		if r := strings.Trim(lv.Regex, "/"); r != "" {
			re = regexp.MustCompile(r)
		}
		want := regexp.MustCompile("^(?:" + vars[lv.Name] + ")$")
		found := false
		for _, v := range resp.Data {
			if m := re.FindStringSubmatch(v); m != nil {
				val := m[0]
				if len(m) > 1 {
					val = m[1]
				}
				if want.MatchString(val) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("variable %s/%s: label_values(%s, %s) offers no value matching %q (got %d values)", lv.File, lv.Name, sel, lv.Label, vars[lv.Name], len(resp.Data))
		}
	}
}

// checkExemplarsLinkToJaeger asserts what the duration panel's exemplar
// links need: exemplars on the span-metrics histogram whose trace_id Jaeger
// returns a trace for.
func checkExemplarsLinkToJaeger(t *testing.T, service string, start time.Time) {
	t.Helper()
	q := url.Values{}
	q.Set("query", fmt.Sprintf(`traces_span_metrics_duration_milliseconds_bucket{service_name=%q}`, service))
	q.Set("start", strconv.FormatInt(start.Add(-time.Minute).Unix(), 10))
	Eventually(t, 60*time.Second, func() (bool, string) {
		q.Set("end", strconv.FormatInt(time.Now().Unix(), 10))
		var resp struct {
			Data []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		if err := getJSON(PrometheusURL+"/api/v1/query_exemplars?"+q.Encode(), nil, &resp); err != nil {
			return false, err.Error()
		}
		n := 0
		for _, series := range resp.Data {
			for _, ex := range series.Exemplars {
				n++
				tid := ex.Labels["trace_id"]
				if tid == "" {
					continue
				}
				var tr struct {
					Data []any `json:"data"`
				}
				if getJSON(JaegerQueryURL+"/api/traces/"+tid, nil, &tr) == nil && len(tr.Data) > 0 {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%d exemplars on the duration histogram, none with a trace_id Jaeger has", n)
	})
}

// queryHasData runs one query against the backend its datasource names.
func queryHasData(q dashboards.Query, expr, service string, start time.Time) (bool, string) {
	switch q.Datasource {
	case dashboards.VarPrometheus:
		s, err := promQuery(PrometheusURL, expr)
		if err != nil {
			return false, err.Error()
		}
		for _, x := range s {
			if x.Value == x.Value || x.Histogram != nil { // NaN (0/0) is not data
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d samples, none a number", len(s))
	case dashboards.VarLoki:
		if strings.HasPrefix(expr, "sum") {
			logsql, err := logQLMetricToLogsQL(expr)
			if err != nil {
				return false, fmt.Sprintf("this LogQL cannot be checked against the logs backend: %v", err)
			}
			rows, err := logsRows(logsql, start.Add(-5*time.Minute), time.Now().Add(time.Minute), 0)
			if err != nil {
				return false, err.Error()
			}
			for _, r := range rows {
				if n, err := strconv.Atoi(r["hits"]); err == nil && n > 0 {
					return true, ""
				}
			}
			return false, fmt.Sprintf("no counts for the LogsQL %s: %v", logsql, rows)
		}
		logsql, err := logQLToLogsQL(expr)
		if err != nil {
			return false, fmt.Sprintf("this LogQL cannot be checked against the logs backend: %v", err)
		}
		n, err := logsCount(logsql, start.Add(-5*time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			return false, err.Error()
		}
		return n > 0, fmt.Sprintf("no log entries for the LogsQL %s", logsql)
	case dashboards.VarJaeger:
		svc := q.Service
		if strings.Contains(svc, "$") {
			svc = service
		}
		var resp struct {
			Data []any `json:"data"`
		}
		if err := getJSON(JaegerQueryURL+"/api/traces?limit=1&lookback=1h&service="+svc, nil, &resp); err != nil {
			return false, err.Error()
		}
		return len(resp.Data) > 0, "no traces for service " + svc
	}
	return false, "unknown datasource " + q.Datasource
}

// alertRuleQueries returns the expression of every alert rule in
// dashboards/alerts. A rule's expression only returns series while it fires,
// so where the top level compares with a constant ("… > 0.05") the left-hand
// side is what is run: the quantity the rule watches must have data.
func alertRuleQueries(t *testing.T) []dashQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "alerts", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no alert rule files: %v", err)
	}
	p := parser.NewParser(parser.Options{})
	var out []dashQuery
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				e, err := p.ParseExpr(r.Expr)
				if err != nil {
					t.Fatalf("%s: %v", r.Alert, err)
				}
				if b, ok := e.(*parser.BinaryExpr); ok && b.Op.IsComparisonOperator() {
					if _, isNum := b.RHS.(*parser.NumberLiteral); isNum {
						e = b.LHS
					}
				}
				out = append(out, dashQuery{q: dashboards.Query{File: filepath.Base(f), Panel: "alert " + r.Alert, RefID: "expr", Datasource: dashboards.VarPrometheus}, expr: e.String()})
			}
		}
	}
	return out
}

// injectAnomaly posts a gauge series with a steady phase and then a burst,
// with timestamps ending now, so the ewma_baseline connector warms up, scores
// the burst and writes alert records. Every point carries an exemplar of
// trace traceID, which the alert records pass on as their trace context.
func injectAnomaly(t *testing.T, v *Vigil, service, name string, traceID pcommon.TraceID) {
	t.Helper()
	const steady, burst = 60, 15
	values := burstSeries(3, 5, steady, burst, 0, 40)
	// One NaN point in the steady phase: bad input the connector counts as
	// skipped (nan_inf).
	values[steady/2] = math.NaN()
	start := time.Now().Add(-time.Duration(len(values)+5) * time.Second).Truncate(time.Second)
	for from := 0; from < len(values); from += 25 {
		md, dps := gaugeBatch(service, name, start, values[from:min(from+25, len(values))], from)
		for i := range dps.Len() {
			dp := dps.At(i)
			ex := dp.Exemplars().AppendEmpty()
			ex.SetTimestamp(dp.Timestamp())
			ex.SetDoubleValue(dp.DoubleValue())
			ex.SetTraceID(traceID)
			ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
		}
		mustPost(t, v, md)
	}
}

// jaegerTraceID returns the ID of one trace of service that Jaeger holds.
func jaegerTraceID(t *testing.T, service string) pcommon.TraceID {
	t.Helper()
	var id pcommon.TraceID
	Eventually(t, 60*time.Second, func() (bool, string) {
		var resp struct {
			Data []struct {
				TraceID string `json:"traceID"`
			} `json:"data"`
		}
		if err := getJSON(JaegerQueryURL+"/api/traces?limit=1&lookback=1h&service="+service, nil, &resp); err != nil {
			return false, err.Error()
		}
		if len(resp.Data) == 0 {
			return false, "no traces of " + service + " in Jaeger yet"
		}
		b, err := hex.DecodeString(fmt.Sprintf("%032s", resp.Data[0].TraceID))
		if err != nil || len(b) != 16 {
			return false, fmt.Sprintf("trace ID %q: %v", resp.Data[0].TraceID, err)
		}
		copy(id[:], b)
		return true, ""
	})
	return id
}

// checkAlertRecordsLinkToJaeger asserts what the anomalies dashboard's
// trace links need: the alert records the loki exporter pushed carry, as
// trace_id structured metadata, the trace of the exemplar that triggered
// them, and Jaeger has it.
func checkAlertRecordsLinkToJaeger(t *testing.T, rule string, traceID pcommon.TraceID, start time.Time) {
	t.Helper()
	want := hex.EncodeToString(traceID[:])
	Eventually(t, 60*time.Second, func() (bool, string) {
		streams, err := logsQuery(fmt.Sprintf(`{level=~".+"} alert_rule:=%s trace_id:~"."`, LogsQLString(rule)), start.Add(-5*time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			return false, err.Error()
		}
		for _, st := range streams {
			for _, e := range st.Entries {
				if e.Metadata["trace_id"] == want {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("no alert record of rule %s with trace_id %s (%d streams)", rule, want, len(streams))
	})
	var tr struct {
		Data []any `json:"data"`
	}
	GetJSON(t, JaegerQueryURL+"/api/traces/"+want, &tr)
	if len(tr.Data) == 0 {
		t.Errorf("Jaeger has no trace %s", want)
	}
}

// driveTCP makes TCP connections the kernel receiver counts: connects to a
// closed port (failures, resets), connects to a listener (attempts,
// successes), a bulk transfer across a lossy veth pair in a network
// namespace of its own (retransmits), and then connects to more distinct
// peers than the cgroup may have (overflow).
func driveTCP(t *testing.T) {
	t.Helper()
	closed := closedPort(t)
	for range 20 {
		if c, err := net.DialTimeout("tcp", closed, time.Second); err == nil {
			c.Close()
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	for range 20 {
		c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("hello"))
		c.Close()
	}
	// The lossy transfer to port 9777 has its own peer; then more distinct
	// peers (closed ports) than the cgroup's budget, so the excess folds
	// into the "overflow" peer; then a second lossy transfer, to port 9778,
	// whose retransmits land on the overflow peer. The overflow panels show
	// both.
	lossyTransfer(t, 9777, func() {
		for range overflowPeerBudget + 50 {
			if c, err := net.DialTimeout("tcp", closedPort(t), time.Second); err == nil {
				c.Close()
			}
		}
	}, 9778)
}

// overflowPeerBudget is the dashboards run's max_peers_per_cgroup: above the
// peers the run itself makes before driveTCP's last step (vigil's, the
// telemetrygen clients', the lossy transfer's), below what that step adds.
const overflowPeerBudget = 200

// lossyTransfer sends 4 MiB to a listener in a new network namespace over a
// veth pair, where nftables drops 10% of the segments, so TCP retransmits;
// steps are destination ports (one transfer each, in order) and functions
// run between them. It needs root, iproute2 and nftables.
func lossyTransfer(t *testing.T, steps ...any) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Errorf("lossy transfer for the retransmit panels needs root")
		return
	}
	sfx := RandomSuffix()[:4]
	ns, hostIf, nsIf := "vdash"+sfx, "vdh"+sfx, "vdn"+sfx
	run := func(args ...string) error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	for _, cmd := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf},
		{"ip", "link", "set", nsIf, "netns", ns},
		{"ip", "addr", "add", "10.251.77.1/30", "dev", hostIf},
		{"ip", "link", "set", hostIf, "up"},
		{"ip", "netns", "exec", ns, "ip", "addr", "add", "10.251.77.2/30", "dev", nsIf},
		{"ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "up"},
		{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		// Drop one in ten segments arriving at the listener (nftables numgen;
		// the netem qdisc is often not built into CI kernels).
		{"ip", "netns", "exec", ns, "nft", "add", "table", "inet", "vdash"},
		{"ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "vdash", "in", "{ type filter hook input priority 0; }"},
		{"ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "vdash", "in", "tcp", "dport", "{ 9777, 9778 }", "numgen", "random", "mod", "10", "0", "drop"},
	} {
		if err := run(cmd...); err != nil {
			t.Errorf("lossy transfer setup: %v", err)
			return
		}
	}
	transfer := func(port int) {
		// The listener runs inside the namespace: a copy of this test binary
		// is not needed, python3's socket module is enough and is on the CI
		// image.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		srv := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "python3", "-c", fmt.Sprintf(
			`import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.251.77.2", %d)); s.listen(4)
c,_=s.accept()
while c.recv(65536): pass`, port))
		if err := srv.Start(); err != nil {
			t.Errorf("lossy transfer: listener: %v", err)
			return
		}
		defer func() { _ = srv.Wait() }()
		var c net.Conn
		var err error
		for range 50 {
			if c, err = net.DialTimeout("tcp", fmt.Sprintf("10.251.77.2:%d", port), 2*time.Second); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("lossy transfer: dial: %v", err)
			return
		}
		_ = c.SetDeadline(time.Now().Add(45 * time.Second))
		buf := make([]byte, 64<<10)
		for range 64 {
			if _, err := c.Write(buf); err != nil {
				t.Errorf("lossy transfer: write: %v", err)
				break
			}
		}
		c.Close()
	}
	for _, st := range steps {
		switch st := st.(type) {
		case int:
			transfer(st)
		case func():
			st()
		}
	}
}

// TestHelmChartConfigValidates renders the Helm chart (default values and
// the gateway tier) and runs `vigil validate` on every collector config it
// contains: the chart must only use components and keys the binary knows.
func TestHelmChartConfigValidates(t *testing.T) {
	helm := os.Getenv("VIGIL_HELM_BIN")
	if helm == "" {
		out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "helm.sh"), "path").Output()
		if err != nil {
			t.Fatalf("scripts/helm.sh path: %v", err)
		}
		helm = strings.TrimSpace(string(out))
	}
	for _, opts := range [][]string{nil, {"--set", "gateway.enabled=true"}} {
		args := append([]string{"template", "vigil", filepath.Join(repoRoot, "deploy", "helm", "vigil"), "--kube-version", "1.33.0"}, opts...)
		out, err := exec.Command(helm, args...).Output()
		if err != nil {
			t.Fatalf("helm %v: %v", args, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(out)))
		for {
			var obj struct {
				Kind     string `yaml:"kind"`
				Metadata struct{ Name string }
				Data     map[string]string `yaml:"data"`
			}
			if err := dec.Decode(&obj); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			cfg, ok := obj.Data["config.yaml"]
			if obj.Kind != "ConfigMap" || !ok {
				continue
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(vigilBin, "validate", "--config", path)
			cmd.Env = append(os.Environ(), "K8S_NODE_NAME=node-1", "K8S_POD_IP=127.0.0.1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("helm %v: ConfigMap %s does not validate: %v\n%s", opts, obj.Metadata.Name, err, out)
			}
		}
	}
}

// gatewayConfig is one gateway of the tier: OTLP in, Jaeger and remote
// write out, as the Helm chart's gateway Deployment runs it.
const gatewayConfig = `
extensions:
` + yamlHealthCheck + `receivers:
` + yamlOTLPGRPCReceiver + `processors:
  batch:
    timeout: 200ms
exporters:
  jaeger:
    endpoint: %s
    tls:
      insecure: true
  prometheusremotewrite:
    endpoint: %s/api/v1/write
service:
  extensions: [health_check]
  telemetry:
    metrics:
` + yamlTelemetryReader + `  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheusremotewrite]
`

// agentLBConfig is an agent forwarding to the gateways with the
// load_balancing exporter, routed as the Helm chart routes: traces by trace
// ID, metrics by stream ID. The chart resolves the gateways through a
// headless Service (dns resolver); here they are listed (static resolver).
const agentLBConfig = `
extensions:
` + yamlHealthCheck + `receivers:
` + yamlOTLPGRPCReceiver + `exporters:
  load_balancing/traces:
    routing_key: traceID
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [%[1]s, %[2]s]
  load_balancing/metrics:
    routing_key: streamID
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [%[1]s, %[2]s]
service:
  extensions: [health_check]
  telemetry:
    metrics:
` + yamlTelemetryReader + `  pipelines:
    traces:
      receivers: [otlp]
      exporters: [load_balancing/traces]
    metrics:
      receivers: [otlp]
      exporters: [load_balancing/metrics]
`

// TestGatewayTierLoadBalancing runs the chart's two tiers on one machine:
// an agent whose load_balancing exporters spread traces (by trace ID) and
// metrics (by stream ID) over two gateways that export to Jaeger and
// Prometheus. Both gateways must get a share, nothing may be lost, and every
// trace must arrive in Jaeger whole.
func TestGatewayTierLoadBalancing(t *testing.T) {
	sfx := RandomSuffix()
	service := "lb-e2e-" + sfx
	gw1 := StartVigil(t, fmt.Sprintf(gatewayConfig, JaegerGRPC, PrometheusURL))
	gw2 := StartVigil(t, fmt.Sprintf(gatewayConfig, JaegerGRPC, PrometheusURL))
	agent := StartVigil(t, fmt.Sprintf(agentLBConfig, gw1.OTLPGRPC, gw2.OTLPGRPC))

	const traces, children, series = 200, 2, 100
	Telemetrygen(t, agent, "traces", "--service", service, "--traces", strconv.Itoa(traces), "--child-spans", strconv.Itoa(children), "--rate", "200")
	Telemetrygen(t, agent, "metrics", "--service", service, "--metrics", strconv.Itoa(series), "--unique-timeseries", "--rate", "200")

	spans := float64(traces * (1 + children))
	Eventually(t, 60*time.Second, func() (bool, string) {
		a := gw1.SelfMetric(t, "otelcol_receiver_accepted_spans", nil)
		b := gw2.SelfMetric(t, "otelcol_receiver_accepted_spans", nil)
		return a+b == spans, fmt.Sprintf("gateways accepted %v + %v spans, want %v in total", a, b, spans)
	})
	for i, gw := range []*Vigil{gw1, gw2} {
		if n := gw.SelfMetric(t, "otelcol_receiver_accepted_spans", nil); n == 0 {
			t.Errorf("gateway %d received no spans: traces are not spread", i+1)
		}
		if n := gw.SelfMetric(t, "otelcol_receiver_accepted_metric_points", nil); n == 0 {
			t.Errorf("gateway %d received no metric points: series are not spread", i+1)
		}
	}
	Eventually(t, 60*time.Second, func() (bool, string) {
		a := gw1.SelfMetric(t, "otelcol_receiver_accepted_metric_points", nil)
		b := gw2.SelfMetric(t, "otelcol_receiver_accepted_metric_points", nil)
		return a+b == series, fmt.Sprintf("gateways accepted %v + %v metric points, want %d", a, b, series)
	})

	// Jaeger holds every trace whole (root + children).
	waitWholeTraces(t, 60*time.Second, service, traces, 1+children)
}
