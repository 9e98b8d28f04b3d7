// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrapeExporter is the default configuration's prometheusremotewrite/scrape
// exporter (cmd/gateway/default-config.yaml), with the test's endpoint.
const scrapeExporter = `
  prometheusremotewrite/scrape:
    endpoint: {{PROMETHEUS}}/api/v1/write
    protocol: v2
    translation_strategy: UnderscoreEscapingWithoutSuffixes
    float_label_format: openmetrics
    target_info:
      enabled: false
    sending_queue:
      batch:
        flush_timeout: 200ms
`

// scrapeJob is the one scrape job both Vigil and the reference Prometheus
// run: the same job name, target and protocols.
const scrapeJob = `
    - job_name: {{JOB}}
      scrape_interval: 1s
      scrape_timeout: 1s
      scrape_native_histograms: true
      scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]
      static_configs:
        - targets: ['{{TARGET}}']
`

const scrapeVigilConfig = `
extensions:
` + yamlHealthCheck + `receivers:
  prometheus:
    config:
      scrape_configs:
{{SCRAPE_JOB}}
exporters:
{{EXPORTER}}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:VIGIL_TELEMETRY_PORT}
  pipelines:
    metrics/scrape:
      receivers: [prometheus]
      exporters: [prometheusremotewrite/scrape]
`

// promapp is the instrumented program (test/e2e/promapp), running.
type promapp struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func buildPromapp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "promapp")
	build := exec.Command("go", "build", "-o", bin, "./test/e2e/promapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building promapp: %v\n%s", err, out)
	}
	return bin
}

func startPromapp(t *testing.T, bin string) *promapp {
	t.Helper()
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting promapp: %v", err)
	}
	p := &promapp{cmd: cmd, done: make(chan struct{})}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("promapp: reading its address: %v", err)
	}
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

func (p *promapp) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
}

// startReferencePrometheus starts a Prometheus 3 of its own (the binary
// scripts/backends.sh installed, t.TempDir() storage, a free port) that
// scrapes with scrapeJob, and returns its URL.
func startReferencePrometheus(t *testing.T, job string) string {
	t.Helper()
	bin := os.Getenv("VIGIL_PROMETHEUS_BIN")
	if bin == "" {
		t.Fatal("VIGIL_PROMETHEUS_BIN is not set (scripts/backends.sh env)")
	}
	dir := t.TempDir()
	cfg := "global:\n  scrape_interval: 1s\nscrape_configs:\n" + job +
		"storage:\n  exemplars:\n    max_exemplars: 10000\n"
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + freePorts(t, 1)[0]
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--enable-feature=exemplar-storage", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the reference Prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("reference Prometheus log (last 30 lines):\n%s", tail(string(b), 30))
		}
	})
	u := "http://" + addr
	Eventually(t, 60*time.Second, func() (bool, string) {
		err := httpOK(u + "/-/ready")
		return err == nil, fmt.Sprintf("reference Prometheus not ready: %v", err)
	})
	return u
}

// seriesSet is an instant query's result keyed by the series' labels, each
// with its value: the sample's value, or the native histogram (count, sum,
// buckets) without its timestamp.
type seriesSet map[string]string

// volatile are the series whose values differ between two scrapers by
// nature (how long a scrape took, what was new to each); only their labels
// are compared.
var volatile = map[string]bool{"scrape_duration_seconds": true, "scrape_series_added": true}

func querySeries(baseURL, expr string) (seriesSet, error) {
	s, err := promQuery(baseURL, expr)
	if err != nil {
		return nil, err
	}
	out := seriesSet{}
	for _, x := range s {
		keys := make([]string, 0, len(x.Labels))
		for k := range x.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q,", k, x.Labels[k])
		}
		var v string
		switch {
		case volatile[x.Labels["__name__"]]:
			v = "(not compared)"
		case len(x.Histogram) > 0:
			var pair []json.RawMessage
			if err := json.Unmarshal(x.Histogram, &pair); err != nil || len(pair) != 2 {
				return nil, fmt.Errorf("histogram %s: %v", x.Histogram, err)
			}
			v = "histogram " + string(pair[1])
		default:
			v = fmt.Sprint(x.Value)
		}
		out["{"+strings.TrimSuffix(b.String(), ",")+"}"] = v
	}
	return out, nil
}

// diffSeries lists what differs between want (the reference Prometheus) and
// got (what Vigil wrote), or "" when they are the same.
func diffSeries(want, got seriesSet) string {
	var d []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			d = append(d, "missing from vigil's: "+k+" "+v)
		case g != v:
			d = append(d, fmt.Sprintf("differs: %s prometheus %s, vigil %s", k, v, g))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "only in vigil's: "+k+" "+v)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// exemplarSet is /api/v1/query_exemplars' answer, one line per exemplar:
// its series' labels, its own labels, value and timestamp.
func exemplarSet(baseURL, expr string, start, end time.Time) ([]string, error) {
	var resp struct {
		Data []exemplarResult `json:"data"`
	}
	u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", baseURL, url.QueryEscape(expr), start.Unix(), end.Unix()+1)
	if err := getJSON(u, nil, &resp); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range resp.Data {
		for _, e := range s.Exemplars {
			out = append(out, fmt.Sprintf("%s %s %s @%.3f", jsonString(s.SeriesLabels), jsonString(e.Labels), e.Value, e.Timestamp))
		}
	}
	sort.Strings(out)
	return out, nil
}

// TestScrapeMatchesPrometheus runs a program instrumented with
// prometheus/client_golang (test/e2e/promapp: counters with and without
// _total, gauges, a classic histogram, a native histogram, a summary,
// exemplars), scraped by Vigil's prometheus receiver and written by its
// prometheusremotewrite exporter to the shared Prometheus 3, and scraped by
// a reference Prometheus 3 with the same job. Every series of the job (the
// program's and up/scrape_*) must be the same in both, labels and values,
// exemplars included; then a series the program deletes, and later the whole
// target, must go stale in both (gone from an instant query at once, while
// last_over_time still finds the samples: a staleness marker, not the
// 5-minute lookback).
func TestScrapeMatchesPrometheus(t *testing.T) {
	bin := buildPromapp(t)
	app := startPromapp(t, bin)
	sfx := RandomSuffix()
	jobName := "promapp-" + sfx
	job := strings.NewReplacer("{{JOB}}", jobName, "{{TARGET}}", app.addr).Replace(scrapeJob)
	ref := startReferencePrometheus(t, job)
	cfg := strings.NewReplacer(
		"{{SCRAPE_JOB}}", indent(job, 4),
		"{{EXPORTER}}", strings.ReplaceAll(scrapeExporter, "{{PROMETHEUS}}", PrometheusURL),
	).Replace(scrapeVigilConfig)
	start := time.Now()
	StartVigil(t, cfg)

	sel := fmt.Sprintf(`{job=%q}`, jobName)
	compare := func(expr string) func() (bool, string) {
		return func() (bool, string) {
			want, err := querySeries(ref, expr)
			if err != nil {
				return false, err.Error()
			}
			got, err := querySeries(PrometheusURL, expr)
			if err != nil {
				return false, err.Error()
			}
			if len(want) == 0 {
				return false, "the reference Prometheus has no series yet"
			}
			if d := diffSeries(want, got); d != "" {
				return false, fmt.Sprintf("%d series in the reference, %d from vigil:\n%s", len(want), len(got), d)
			}
			return true, ""
		}
	}
	Eventually(t, 60*time.Second, compare(sel))
	all, _ := querySeries(ref, sel)
	names := map[string]bool{}
	for k := range all {
		names[strings.SplitN(strings.SplitN(k, `__name__="`, 2)[1], `"`, 2)[0]] = true
	}
	for _, n := range []string{"promapp_requests_total", "promapp_events", "promapp_temperature_celsius",
		"promapp_request_duration_seconds_bucket", "promapp_payload_bytes", "promapp_latency_seconds",
		"up", "scrape_samples_scraped", "scrape_duration_seconds"} {
		if !names[n] {
			t.Errorf("the reference Prometheus has no %s: the program or the scrape is not what the test expects", n)
		}
	}
	t.Logf("%d series identical (names: %d)", len(all), len(names))

	// The program records a second round: values move, and must still be
	// the same once both have scraped it.
	GetJSONText(t, "http://"+app.addr+"/observe")
	Eventually(t, 30*time.Second, compare(sel))

	// Exemplars: same series, labels (trace_id, span_id), values and
	// timestamps.
	Eventually(t, 30*time.Second, func() (bool, string) {
		end := time.Now()
		want, err := exemplarSet(ref, sel, start, end)
		if err != nil {
			return false, err.Error()
		}
		got, err := exemplarSet(PrometheusURL, sel, start, end)
		if err != nil {
			return false, err.Error()
		}
		if len(want) == 0 {
			return false, "no exemplars in the reference Prometheus yet"
		}
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			return false, fmt.Sprintf("exemplars differ:\nreference:\n%s\nvigil:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
		return true, ""
	})

	// A series disappears from the target: both mark it stale.
	attic := fmt.Sprintf(`promapp_temperature_celsius{job=%q, room="attic"}`, jobName)
	GetJSONText(t, "http://"+app.addr+"/forget?room=attic")
	forgotten := time.Now()
	for _, u := range []string{ref, PrometheusURL} {
		assertStale(t, u, attic, forgotten)
	}
	Eventually(t, 30*time.Second, compare(sel))

	// The target stops: every series of the program goes stale in both, and
	// up turns 0 in both.
	app.stop()
	stopped := time.Now()
	for _, u := range []string{ref, PrometheusURL} {
		assertStale(t, u, fmt.Sprintf(`{job=%q, __name__=~"promapp_.*"}`, jobName), stopped)
	}
	Eventually(t, 30*time.Second, func() (bool, string) {
		for _, u := range []string{ref, PrometheusURL} {
			s, err := promQuery(u, fmt.Sprintf(`up{job=%q}`, jobName))
			if err != nil || len(s) != 1 || s[0].Value != 0 {
				return false, fmt.Sprintf("%s: up = %v (%v), want one series of 0", u, s, err)
			}
		}
		return true, ""
	})
	Eventually(t, 30*time.Second, compare(fmt.Sprintf(`{job=%q, __name__=~"up|scrape_.*"}`, jobName)))
}

// assertStale waits until expr returns nothing at u, and checks that it was
// a staleness marker that ended the series: less than the 5-minute lookback
// has passed since since, and last_over_time still finds its samples.
func assertStale(t *testing.T, u, expr string, since time.Time) {
	t.Helper()
	Eventually(t, 30*time.Second, func() (bool, string) {
		s, err := promQuery(u, expr)
		if err != nil {
			return false, err.Error()
		}
		return len(s) == 0, fmt.Sprintf("%s at %s: still %d series", expr, u, len(s))
	})
	if d := time.Since(since); d >= 4*time.Minute {
		t.Fatalf("%s at %s took %s to disappear: that is the lookback, not a staleness marker", expr, u, d)
	}
	s := PromQuery(t, u, "last_over_time("+expr+"[10m])")
	if len(s) == 0 {
		t.Fatalf("%s at %s: last_over_time finds no samples, so the series was never there", expr, u)
	}
}

// GetJSONText GETs u and fails the test unless it answers 200.
func GetJSONText(t *testing.T, u string) {
	t.Helper()
	if err := httpOK(u); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// indent adds n spaces to every non-empty line of s.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// TestDefaultConfigScrapesItself runs the embedded default configuration and
// checks that Vigil's own telemetry reaches Prometheus through its
// prometheus receiver: up, scrape_* and the collector's own series under
// job "vigil" and vigil's service.instance.id as instance (from the
// endpoint's target_info), with the names the endpoint shows (counters with
// _total, units as suffixes).
func TestDefaultConfigScrapesItself(t *testing.T) {
	v := StartVigil(t, "", "VIGIL_PROMETHEUS_RW_ENDPOINT="+PrometheusURL+"/api/v1/write",
		"VIGIL_JAEGER_ENDPOINT="+JaegerGRPC)
	// The telemetry endpoint exposes target_info with service_instance_id;
	// the receiver makes target_info the resource, so instance is vigil's
	// service.instance.id (as when the telemetry is pushed over OTLP), not
	// the scraped address.
	m := regexp.MustCompile(`"service.instance.id": "([0-9a-f-]+)"`).FindStringSubmatch(v.Log())
	if m == nil {
		t.Fatalf("no service.instance.id in vigil's log:\n%s", tail(v.Log(), 20))
	}
	instance := m[1]
	for _, expr := range []string{
		fmt.Sprintf(`up{job="vigil", instance=%q} == 1`, instance),
		fmt.Sprintf(`scrape_samples_scraped{job="vigil", instance=%q} > 0`, instance),
		fmt.Sprintf(`otelcol_process_uptime_seconds_total{job="vigil", instance=%q}`, instance),
		fmt.Sprintf(`otelcol_receiver_accepted_metric_points_total{job="vigil", instance=%q, receiver="prometheus"}`, instance),
	} {
		Eventually(t, 60*time.Second, func() (bool, string) {
			s, err := promQuery(PrometheusURL, expr)
			if err != nil {
				return false, err.Error()
			}
			if len(s) > 0 {
				return true, ""
			}
			seen, _ := promQuery(PrometheusURL, `group by (job, instance, __name__) ({__name__=~"up|scrape_samples_scraped|otelcol_process_uptime_seconds_total"})`)
			return false, fmt.Sprintf("%s: no data; Prometheus has %v", expr, seen)
		})
	}
}
