// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

// Package e2e holds Vigil's end-to-end tests: the built `vigil` binary
// between real OTLP clients and real Jaeger, Prometheus and VictoriaLogs
// binaries, all on 127.0.0.1. VictoriaLogs is the logs backend: vigil's loki
// exporter speaks Loki's push API, which VictoriaLogs implements, and the
// tests read the records back through VictoriaLogs's own query language,
// LogsQL. (Loki itself is AGPL-licensed and is not built here; its own
// refusals, such as out-of-order entries and rate limits, are covered by the
// exporter's unit tests against a fake Loki.) TestMain installs (from the
// cache, see scripts/backends.sh) and starts the backends, and builds vigil;
// each test starts its own vigil.
//
// Run: go test -tags e2e -count=1 -v ./test/e2e/
// Set VIGIL_E2E_KEEP=1 to leave the backends running afterwards.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// Backend addresses, as scripts/backends.sh starts them.
const (
	Prometheus3MetaURL = "http://127.0.0.1:9091" // Prometheus 3 with type-and-unit-labels, on demand
	Prometheus2URL     = "http://127.0.0.1:9092" // Debian's Prometheus 2.42: remote-write 1.0 only
	JaegerGRPC         = "127.0.0.1:14250"       // jaeger.api_v2.CollectorService
	JaegerOTLPGRPC     = "127.0.0.1:24317"
	AlertmanagerURL    = "http://127.0.0.1:9093"
)

// Prometheus 3, VictoriaLogs: Loki's push API at LokiPushURL, LogsQL at
// /select/logsql; Jaeger's query API. PROMETHEUS_ADDR, VICTORIALOGS_ADDR and
// JAEGER_QUERY move them, as they move scripts/backends.sh's.
var (
	PrometheusURL  = "http://" + envOr("PROMETHEUS_ADDR", "127.0.0.1:9090")
	JaegerQueryURL = "http://" + envOr("JAEGER_QUERY", "127.0.0.1:16686")
	LogsURL        = "http://" + envOr("VICTORIALOGS_ADDR", "127.0.0.1:9428")
	LokiPushURL    = LogsURL + "/insert/loki/api/v1/push"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var (
	repoRoot       string
	backendsScript string
	vigilBin       string
	telemetrygen   string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	repoRoot, err = filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	backendsScript = filepath.Join(repoRoot, "scripts", "backends.sh")
	closeInheritedOnExec()
	// The backends listen on fixed ports, so two e2e runs on one machine
	// would stop each other's backends: take turns.
	unlock, err := lockRun()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer unlock()
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
		if os.Getenv("VIGIL_E2E_KEEP") == "" {
			_ = backends("clean")
		}
		return 1
	}
	code := m.Run()
	if os.Getenv("VIGIL_E2E_KEEP") == "" {
		if err := backends("clean"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping backends:", err)
		}
	}
	return code
}

// closeInheritedOnExec marks every descriptor this process inherited
// beyond stdin, stdout and stderr close-on-exec, so that the backends and
// vigil processes the tests start do not hold them. A lock taken around the
// run, as in `flock LOCKFILE go test ...`, is such a descriptor: a backend
// that outlived the run (a test binary killed by -timeout skips the
// clean-up) would otherwise keep holding the lock and every later run would
// wait for it forever.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing to do
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// lockRun takes an exclusive lock that every e2e run on this machine takes,
// waiting for a run that holds it.
func lockRun() (func(), error) {
	path := filepath.Join(os.TempDir(), "vigil-e2e.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: another e2e run holds %s; waiting for it\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
	}
	return func() { f.Close() }, nil
}

func setup() error {
	t0 := time.Now()
	// VIGIL_E2E_BACKENDS (e.g. "victorialogs") installs and starts only
	// those, for running the tests that need no others while the rest are
	// still building; tests that need a missing backend fail.
	started := []string{"jaeger", "prometheus", "victorialogs"}
	if s := os.Getenv("VIGIL_E2E_BACKENDS"); s != "" {
		started = strings.Fields(s)
	}
	if err := backends(append(append([]string{"install"}, started...), "telemetrygen")...); err != nil {
		return fmt.Errorf("installing backends: %w", err)
	}
	out, err := exec.Command("bash", backendsScript, "env").Output()
	if err != nil {
		return fmt.Errorf("backends.sh env: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, kv := range strings.Fields(strings.TrimPrefix(line, "export ")) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				os.Setenv(k, v)
			}
		}
	}
	telemetrygen = os.Getenv("VIGIL_TELEMETRYGEN_BIN")

	// Throw away what an earlier run left, then start fresh backends.
	if err := backends("clean"); err != nil {
		return err
	}
	for _, name := range started {
		if err := backends("start", name); err != nil {
			return fmt.Errorf("backend %s did not start (its log is above): %w", name, err)
		}
	}

	dir, err := os.MkdirTemp("", "vigil-e2e-bin")
	if err != nil {
		return err
	}
	vigilBin = filepath.Join(dir, "vigil")
	// Built by scripts/build.sh (its flags and build tags), as it ships.
	build := exec.Command("bash", "scripts/build.sh", vigilBin)
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building vigil: %w", err)
	}
	fmt.Fprintf(os.Stderr, "e2e: backends up and vigil built in %s\n", time.Since(t0).Round(time.Second))
	return nil
}

// backends runs scripts/backends.sh with its output on stderr.
func backends(args ...string) error {
	cmd := exec.Command("bash", append([]string{backendsScript}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// StopBackend stops a backend started by TestMain, keeping its data.
func StopBackend(t *testing.T, name string) {
	t.Helper()
	if err := backends("stop", name); err != nil {
		t.Fatalf("stopping %s: %v", name, err)
	}
}

// StopBackendForNow stops a backend and returns the function that starts it
// again; if the test ends before that is called, the backend is started then.
func StopBackendForNow(t *testing.T, name string) (start func()) {
	t.Helper()
	StopBackend(t, name)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			StartBackend(t, name)
		}
	})
	return func() {
		t.Helper()
		StartBackend(t, name)
		stopped = false
	}
}

// StartBackend (re)starts a backend and waits until it is ready.
func StartBackend(t *testing.T, name string) {
	t.Helper()
	if err := backends("start", name); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
}

var debianOnce sync.Once
var debianErr error

// EnsureBackend starts one of the on-demand backends: "prometheus2" and
// "alertmanager" (from Debian's packages, installed first) or
// "prometheus3meta" (the Prometheus 3 binary TestMain installed).
func EnsureBackend(t *testing.T, name string) {
	t.Helper()
	if name != "prometheus3meta" {
		debianOnce.Do(func() { debianErr = backends("install", "debian") })
		if debianErr != nil {
			t.Fatalf("installing Debian's prometheus/alertmanager: %v", debianErr)
		}
	}
	StartBackend(t, name)
}

// Vigil is one running vigil process.
type Vigil struct {
	OTLPGRPC   string // host:port
	OTLPHTTP   string // http://host:port
	Health     string // host:port of health_check, when the config has it
	MetricsURL string // vigil's own Prometheus endpoint
	StorageDir string // survives Restart

	args       []string
	env        []string
	readyProbe func() error
	dir        string // the process's own temp directory (config, log, storage)
	logPath    string
	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
}

// Pieces of Vigil configuration the tests share, with the harness's
// ${env:...} endpoints.
const (
	// yamlHealthCheck is the `health_check` extension (an entry of
	// `extensions:`) on the harness's health port, which StartVigil polls.
	yamlHealthCheck = `  health_check:
    endpoint: ${env:VIGIL_HEALTH_ENDPOINT}
`
	// yamlOTLPGRPCReceiver is an `otlp` receiver (an entry of `receivers:`)
	// on the harness's gRPC port only.
	yamlOTLPGRPCReceiver = `  otlp:
    protocols:
      grpc:
        endpoint: ${env:VIGIL_OTLP_GRPC_ENDPOINT}
`
	// yamlOTLPReceiver is an `otlp` receiver on the harness's gRPC and HTTP
	// ports.
	yamlOTLPReceiver = yamlOTLPGRPCReceiver + `      http:
        endpoint: ${env:VIGIL_OTLP_HTTP_ENDPOINT}
`
	// yamlTelemetryReader is the pull reader of Vigil's own metrics (under
	// `service: telemetry: metrics:`) on the harness's telemetry port.
	yamlTelemetryReader = `      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:VIGIL_TELEMETRY_PORT}
`
)

// StartVigil starts bin/vigil with configYAML (or, when configYAML is empty,
// with its embedded default configuration). The config can use
// ${env:VIGIL_OTLP_GRPC_ENDPOINT}, ${env:VIGIL_OTLP_HTTP_ENDPOINT},
// ${env:VIGIL_HEALTH_ENDPOINT}, ${env:VIGIL_TELEMETRY_PORT} and
// ${env:VIGIL_STORAGE_DIR}; the harness gives each a free port or a fresh
// directory. The default configuration's loki exporter is pointed at
// LokiPushURL (VIGIL_LOKI_ENDPOINT). extraEnv entries are "KEY=value".
func StartVigil(t *testing.T, configYAML string, extraEnv ...string) *Vigil {
	t.Helper()
	v := newVigil(t, extraEnv)
	if configYAML != "" {
		cfg := filepath.Join(v.dir, "config.yaml")
		if err := os.WriteFile(cfg, []byte(configYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		v.args = []string{"--config", cfg}
	}
	switch {
	case configYAML == "" || strings.Contains(configYAML, "VIGIL_HEALTH_ENDPOINT"):
		v.readyProbe = func() error { return httpOK("http://" + v.Health + "/") }
	case strings.Contains(configYAML, "VIGIL_OTLP_GRPC_ENDPOINT"):
		v.readyProbe = func() error { return tcpOpen(v.OTLPGRPC) }
	default:
		v.readyProbe = func() error { return httpOK(v.MetricsURL) }
	}
	v.run(t)
	return v
}

// newVigil lays out a vigil process: free ports, a fresh directory, the
// harness's environment with extraEnv after it (so it wins; a
// VIGIL_STORAGE_DIR there moves StorageDir too).
func newVigil(t *testing.T, extraEnv []string) *Vigil {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 4)
	v := &Vigil{
		OTLPGRPC:   "127.0.0.1:" + ports[0],
		OTLPHTTP:   "http://127.0.0.1:" + ports[1],
		Health:     "127.0.0.1:" + ports[2],
		MetricsURL: "http://127.0.0.1:" + ports[3] + "/metrics",
		StorageDir: filepath.Join(dir, "storage"),
		dir:        dir,
		logPath:    filepath.Join(dir, "vigil.log"),
	}
	if err := os.MkdirAll(v.StorageDir, 0o700); err != nil {
		t.Fatal(err)
	}
	v.env = append(os.Environ(),
		"VIGIL_OTLP_GRPC_ENDPOINT="+v.OTLPGRPC,
		"VIGIL_OTLP_HTTP_ENDPOINT="+strings.TrimPrefix(v.OTLPHTTP, "http://"),
		"VIGIL_HEALTH_ENDPOINT="+v.Health,
		"VIGIL_TELEMETRY_HOST=127.0.0.1",
		"VIGIL_TELEMETRY_PORT="+ports[3],
		"VIGIL_STORAGE_DIR="+v.StorageDir,
		"VIGIL_LOKI_ENDPOINT="+LokiPushURL,
	)
	v.env = append(v.env, extraEnv...)
	for _, kv := range extraEnv {
		if k, val, _ := strings.Cut(kv, "="); k == "VIGIL_STORAGE_DIR" {
			v.StorageDir = val
		}
	}
	return v
}

// run starts v and stops it (SIGTERM) when the test ends, showing its log
// if the test failed.
func (v *Vigil) run(t *testing.T) {
	t.Helper()
	v.start(t)
	t.Cleanup(func() {
		v.stop(syscall.SIGTERM)
		if t.Failed() {
			log := v.Log()
			t.Logf("vigil's warnings and errors (up to 40, without stack traces):\n%s", problems(log, 40))
			t.Logf("vigil log (last 60 lines):\n%s", tail(log, 60))
		}
	})
}

// problems is the first n lines of a collector log at level warn or error
// (zap's console encoding: time, level, caller, message), which a stack
// trace can push out of the log's tail.
func problems(log string, n int) string {
	var out []string
	for line := range strings.Lines(log) {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 || (f[1] != "warn" && f[1] != "error") {
			continue
		}
		if len(out) == n {
			out = append(out, "…")
			break
		}
		out = append(out, strings.TrimRight(line, "\n"))
	}
	return strings.Join(out, "\n")
}

func (v *Vigil) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(v.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(vigilBin, v.args...)
	cmd.Env = v.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting vigil: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	v.mu.Lock()
	v.cmd, v.done = cmd, done
	v.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("vigil exited during start (%v); log:\n%s", cmd.ProcessState, tail(v.Log(), 40))
		default:
		}
		err := v.readyProbe()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil not ready after 60s (%v); log:\n%s", err, tail(v.Log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (v *Vigil) stop(sig syscall.Signal) {
	v.mu.Lock()
	cmd, done := v.cmd, v.done
	v.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Stop stops vigil gracefully (SIGTERM) and waits for it to exit.
func (v *Vigil) Stop(t *testing.T) { t.Helper(); v.stop(syscall.SIGTERM) }

// Kill stops vigil with SIGKILL: no flush, no shutdown hooks.
func (v *Vigil) Kill(t *testing.T) { t.Helper(); v.stop(syscall.SIGKILL) }

// Restart starts vigil again with the same config, ports and storage.
func (v *Vigil) Restart(t *testing.T) {
	t.Helper()
	v.stop(syscall.SIGTERM)
	v.start(t)
}

// Log returns everything vigil printed so far.
func (v *Vigil) Log() string {
	b, _ := os.ReadFile(v.logPath)
	return string(b)
}

// SelfMetric returns the sum of the samples of family name on vigil's own
// metrics endpoint whose labels include labelMatchers. Counters are summed
// by value, histograms by count. It returns 0 when nothing matches. Names
// depend on the config's pull reader: with without_type_suffix: false (the
// default config's choice) counters end in _total, otherwise they don't.
func (v *Vigil) SelfMetric(t *testing.T, name string, labelMatchers map[string]string) float64 {
	t.Helper()
	families, err := scrape(v.MetricsURL)
	if err != nil {
		t.Fatalf("scraping vigil: %v", err)
	}
	return sumFamily(families[name], labelMatchers)
}

func scrape(u string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func sumFamily(f *dto.MetricFamily, matchers map[string]string) float64 {
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for k, want := range matchers {
			if labels[k] != want {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// Telemetrygen runs telemetrygen (traces, metrics or logs) against v until
// it finishes, and fails the test if it fails.
func Telemetrygen(t *testing.T, v *Vigil, signal string, args ...string) string {
	t.Helper()
	full := append([]string{signal, "--otlp-endpoint", v.OTLPGRPC, "--otlp-insecure"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, telemetrygen, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("telemetrygen %s: %v\n%s", strings.Join(full, " "), err, tail(string(out), 30))
	}
	return string(out)
}

// Eventually calls cond until it reports true or timeout passes; then it
// fails the test with cond's last message. It waits for data to arrive in a
// backend; it asserts nothing about speed.
func Eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	EventuallyReport(t, timeout, cond, nil)
}

// EventuallyReport is Eventually that, when it fails, adds what report
// returns: a diagnosis too costly to make on every try.
func EventuallyReport(t *testing.T, timeout time.Duration, cond func() (bool, string), report func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if report != nil {
				msg += "; " + report()
			}
			t.Fatalf("condition not met after %s: %s", timeout, msg)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Every calls fn every interval in a goroutine of its own until stop is
// closed, and returns a channel that is closed when that goroutine has ended
// (so a caller can wait for fn's last call).
func Every(stop <-chan struct{}, interval time.Duration, fn func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn()
			}
		}
	}()
	return done
}

// GetJSON GETs u and decodes its JSON body into out, failing the test on a
// transport error, a non-2xx status or bad JSON.
func GetJSON(t *testing.T, u string, out any) {
	t.Helper()
	if err := getJSON(u, nil, out); err != nil {
		t.Fatal(err)
	}
}

func getJSON(u string, header http.Header, out any) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, tail(string(body), 5))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decoding: %w", u, err)
	}
	return nil
}

// PromSample is one element of an instant-query vector.
type PromSample struct {
	Labels    map[string]string
	Value     float64
	Histogram json.RawMessage // native histogram, when the sample is one
}

// PromQuery runs an instant PromQL query at baseURL and returns its vector
// (a scalar result comes back as one sample without labels).
func PromQuery(t *testing.T, baseURL, expr string) []PromSample {
	t.Helper()
	s, err := promQuery(baseURL, expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func promQuery(baseURL, expr string) ([]PromSample, error) {
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(baseURL+"/api/v1/query?query="+url.QueryEscape(expr), nil, &resp); err != nil {
		return nil, err
	}
	switch resp.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric    map[string]string `json:"metric"`
			Value     []any             `json:"value"`
			Histogram json.RawMessage   `json:"histogram"`
		}
		if err := json.Unmarshal(resp.Data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]PromSample, 0, len(vec))
		for _, s := range vec {
			ps := PromSample{Labels: s.Metric, Histogram: s.Histogram}
			if len(s.Value) == 2 {
				ps.Value, _ = strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			}
			out = append(out, ps)
		}
		return out, nil
	case "scalar":
		var sc []any
		if err := json.Unmarshal(resp.Data.Result, &sc); err != nil {
			return nil, err
		}
		f, _ := strconv.ParseFloat(fmt.Sprint(sc[1]), 64)
		return []PromSample{{Value: f}}, nil
	default:
		return nil, fmt.Errorf("query %q: unsupported result type %q", expr, resp.Data.ResultType)
	}
}

// WaitPromValue waits until the instant query expr returns one sample of
// value want.
func WaitPromValue(t *testing.T, expr string, want float64, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		s, err := promQuery(PrometheusURL, expr)
		if err != nil {
			return false, err.Error()
		}
		return len(s) == 1 && s[0].Value == want, fmt.Sprintf("%s = %+v, want %v", expr, s, want)
	})
}

// writeArtifact writes content to the file name in the directory that
// VIGIL_E2E_ARTIFACTS names, if it is set.
func writeArtifact(t *testing.T, name, content string) {
	t.Helper()
	dir := os.Getenv("VIGIL_E2E_ARTIFACTS")
	if dir == "" {
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Errorf("writing %s: %v", path, err)
		return
	}
	t.Logf("wrote %s", path)
}

// LogEntry is one pushed log line as the logs backend stored it.
type LogEntry struct {
	Time     time.Time
	Line     string
	Metadata map[string]string // the entry's structured metadata
}

// LogStream is the entries of one label set (Loki's stream labels, which
// VictoriaLogs keeps as its stream fields), in time order.
type LogStream struct {
	Labels  map[string]string
	Entries []LogEntry
}

// LogsQuery runs a LogsQL query over [start, end] against VictoriaLogs and
// returns the matching entries grouped by stream, each stream in time order
// and the streams ordered by their labels. Structured metadata is told apart
// from the labels: a Loki push's labels become VictoriaLogs's stream fields
// (listed in each row's _stream), its structured metadata become the row's
// other fields, its line becomes _msg.
func LogsQuery(t *testing.T, logsql string, start, end time.Time) []LogStream {
	t.Helper()
	s, err := logsQuery(logsql, start, end)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logsRowLimit bounds one query's answer; a query that reaches it is an
// error, not a silently cut answer (count with LogsCount instead).
const logsRowLimit = 10000

func logsQuery(logsql string, start, end time.Time) ([]LogStream, error) {
	rows, err := logsRows(logsql+" | sort by (_time)", start, end, logsRowLimit+1)
	if err != nil {
		return nil, err
	}
	if len(rows) > logsRowLimit {
		return nil, fmt.Errorf("LogsQL %q: more than %d rows", logsql, logsRowLimit)
	}
	byStream := map[string]*LogStream{}
	var keys []string
	for _, row := range rows {
		labels, err := parseStreamLabels(row["_stream"])
		if err != nil {
			return nil, fmt.Errorf("LogsQL %q: %w", logsql, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, row["_time"])
		if err != nil {
			return nil, fmt.Errorf("LogsQL %q: _time: %w", logsql, err)
		}
		e := LogEntry{Time: ts, Line: row["_msg"], Metadata: map[string]string{}}
		for k, v := range row {
			if _, isLabel := labels[k]; isLabel || strings.HasPrefix(k, "_") {
				continue
			}
			e.Metadata[k] = v
		}
		st := byStream[row["_stream"]]
		if st == nil {
			st = &LogStream{Labels: labels}
			byStream[row["_stream"]] = st
			keys = append(keys, row["_stream"])
		}
		st.Entries = append(st.Entries, e)
	}
	sort.Strings(keys)
	out := make([]LogStream, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byStream[k])
	}
	return out, nil
}

// logsRows runs a LogsQL query and returns its rows (VictoriaLogs answers
// one JSON object of string fields per line).
func logsRows(logsql string, start, end time.Time, limit int) ([]map[string]string, error) {
	q := url.Values{}
	q.Set("query", logsql)
	q.Set("start", start.UTC().Format(time.RFC3339Nano))
	q.Set("end", end.UTC().Format(time.RFC3339Nano))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	u := LogsURL + "/select/logsql/query?" + q.Encode()
	resp, err := http.Get(u)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("LogsQL %q: %s: %s", logsql, resp.Status, tail(string(body), 5))
	}
	var rows []map[string]string
	dec := json.NewDecoder(bytes.NewReader(body))
	for dec.More() {
		var row map[string]string
		if err := dec.Decode(&row); err != nil {
			return nil, fmt.Errorf("LogsQL %q: decoding: %w", logsql, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// parseStreamLabels parses VictoriaLogs's _stream field, {name="value",...}.
func parseStreamLabels(s string) (map[string]string, error) {
	if s == "{}" {
		return map[string]string{}, nil
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("_stream %q: %w", s, err)
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.Name] = m.Value
	}
	return out, nil
}

// WaitServiceLogs waits until VictoriaLogs holds exactly want entries of
// service since from (more would be entries pushed twice).
func WaitServiceLogs(t *testing.T, service string, from time.Time, want int, timeout time.Duration) {
	t.Helper()
	WaitLogsCount(t, fmt.Sprintf(`{service_name=%s}`, LogsQLString(service)), from, want, timeout)
}

// WaitLogsCount waits until the LogsQL query matches exactly want entries
// from from on.
func WaitLogsCount(t *testing.T, logsql string, from time.Time, want int, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		n, err := logsCount(logsql, from, time.Now().Add(time.Minute))
		if err != nil {
			return false, err.Error()
		}
		return n == want, fmt.Sprintf("%s: %d entries in VictoriaLogs, want %d", logsql, n, want)
	})
}

// LogsCount returns how many entries a LogsQL filter matches over
// [start, end], counted by VictoriaLogs (stats count()).
func LogsCount(t *testing.T, logsql string, start, end time.Time) int {
	t.Helper()
	n, err := logsCount(logsql, start, end)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func logsCount(logsql string, start, end time.Time) (int, error) {
	rows, err := logsRows(logsql+" | stats count() as n", start, end, 0)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 {
		return 0, fmt.Errorf("LogsQL %q | stats count(): %d rows, want 1", logsql, len(rows))
	}
	return strconv.Atoi(rows[0]["n"])
}

// logsBackendRefusals sums what VictoriaLogs refused or dropped of what it
// was sent: failed Loki push requests and rows dropped for any reason (too
// old, too far in the future, too many fields). The counters restart from
// zero when VictoriaLogs restarts.
func logsBackendRefusals(t *testing.T) float64 {
	t.Helper()
	families, err := scrape(LogsURL + "/metrics")
	if err != nil {
		t.Fatalf("scraping VictoriaLogs: %v", err)
	}
	return sumFamily(families["vl_rows_dropped_total"], nil) +
		sumFamily(families["vl_http_errors_total"], map[string]string{"path": "/insert/loki/api/v1/push"})
}

// LogsQLString quotes s for a LogsQL query.
func LogsQLString(s string) string { return strconv.Quote(s) }

// RandomSuffix returns a short random hex string for names that must not
// collide between tests sharing one backend.
func RandomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func httpOK(u string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func tcpOpen(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// jsonString is a convenience for building expected values in messages.
func jsonString(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSpace(b.String())
}
