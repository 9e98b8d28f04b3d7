// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// soakOverride turns on the pprof extension (for the goroutine count) on
// a port of the test's choosing.
const soakOverride = `
extensions:
  pprof:
    endpoint: 127.0.0.1:${env:VIGIL_SOAK_PPROF_PORT}
service:
  extensions: [health_check, file_storage/queue, file_storage/ewma, pprof]
`

// soakSample is one reading of vigil's resources during the soak.
type soakSample struct {
	at                  time.Duration
	rssKiB, anonKiB     int64
	goroutines, fds     int
	logs, spans, mSteps int
	event               string
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return d
}

// goroutines reads the total from pprof's goroutine profile.
func goroutines(pprofAddr string) (int, error) {
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	// "goroutine profile: total 123"
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0, fmt.Errorf("pprof: unexpected %q", line)
	}
	return strconv.Atoi(f[len(f)-1])
}

func openFDs(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(entries)
}

// TestSoak runs a steady mixed load through the default configuration for
// VIGIL_SOAK_DURATION (skipped when unset; 5m is the CI-sized version,
// scripts/soak.sh runs longer ones): logs (OTLP/HTTP, 10 requests of 50 records a second),
// metrics (50 counter series, a step every 250 ms), traces (5 spans every
// 100 ms, which also feed span metrics and their EWMA baselines) and the
// kernel and cgroup receivers' own signals. Every
// VIGIL_SOAK_RESTART_EVERY (default 1m) one backend, in turn VictoriaLogs,
// Prometheus and Jaeger, is stopped for 10 s and started again. At the end
// everything vigil acknowledged is in the backends, exactly (spans: per
// Jaeger run, since Jaeger's memory store forgets on restart). RSS,
// goroutines and open file descriptors are sampled every 5 s
// (VIGIL_E2E_ARTIFACTS=dir writes soak.csv) and must not keep growing:
// the last reading may not exceed twice the one after warm-up.
func TestSoak(t *testing.T) {
	if os.Getenv("VIGIL_SOAK_DURATION") == "" {
		t.Skip("soak not requested: set VIGIL_SOAK_DURATION (e.g. 5m; scripts/soak.sh sets it)")
	}
	duration := envDuration(t, "VIGIL_SOAK_DURATION", 5*time.Minute)
	every := envDuration(t, "VIGIL_SOAK_RESTART_EVERY", time.Minute)
	pprofPort := freePorts(t, 1)[0]
	v := StartVigilDefault(t, soakOverride, "VIGIL_SOAK_PPROF_PORT="+pprofPort)
	v.mu.Lock()
	pid := v.cmd.Process.Pid
	v.mu.Unlock()
	sfx := RandomSuffix()

	logs := newLogSender("soak-"+sfx, 50, 200)
	spans := newSpanLoad(t, v, "soak-"+sfx)
	metrics := &loadGen{sfx: "soak" + sfx, series: 50, acked: map[int64]float64{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	logsDone := logs.run(ctx, func() *Vigil { return v }, 100*time.Millisecond)
	spansDone := spans.run(stop, 100*time.Millisecond, 5)
	metricsDone := metrics.run(func() *Vigil { return v }, 250*time.Millisecond, stop)
	metricSteps := func() int { metrics.mu.Lock(); defer metrics.mu.Unlock(); return len(metrics.acked) }

	start := time.Now()
	var mu sync.Mutex
	var samples []soakSample
	csv := newSoakCSV(t)
	// Closed at the end, or here if the test stops early (the sampler
	// may still be writing then: hence the lock).
	t.Cleanup(func() { mu.Lock(); defer mu.Unlock(); csv.close() })
	sample := func(event string) {
		rss, anon, _, _ := readMem(pid)
		g, err := goroutines("127.0.0.1:" + pprofPort)
		if err != nil {
			g = -1
		}
		acc, _ := logs.counts()
		s := soakSample{at: time.Since(start), rssKiB: rss, anonKiB: anon, goroutines: g, fds: openFDs(pid),
			logs: acc, spans: len(spans.snapshot()), mSteps: metricSteps(), event: event}
		mu.Lock()
		samples = append(samples, s)
		csv.write(s)
		mu.Unlock()
		if event != "" {
			t.Logf("%s at %s: RSS %d MiB (anon %d), %d goroutines, %d fds; acknowledged so far: %d log records, %d spans, %d metric steps",
				event, s.at.Round(time.Second), rss>>10, anon>>10, g, s.fds, s.logs, s.spans, s.mSteps)
		}
	}
	sampled := Every(ctx.Done(), 5*time.Second, func() { sample("") })

	// Spans acknowledged before Jaeger's restart are checked before it,
	// since the restart forgets them.
	jaegerSince, spansFrom := start, 0
	checkSpans := func() {
		all := spans.snapshot()
		waitAllInJaeger(t, spans.svc, jaegerSince, all[spansFrom:], 5*time.Minute)
		t.Logf("Jaeger holds all %d spans acknowledged since its last start", len(all)-spansFrom)
	}
	backends := []string{"victorialogs", "prometheus", "jaeger"}
	for i := 0; time.Since(start)+every <= duration; i++ {
		time.Sleep(every)
		name := backends[i%len(backends)]
		if name == "jaeger" {
			checkSpans()
		}
		sample("stop " + name)
		StopBackend(t, name)
		time.Sleep(10 * time.Second)
		StartBackend(t, name)
		sample("start " + name)
		if name == "jaeger" {
			jaegerSince, spansFrom = time.Now(), len(spans.snapshot())
		}
		if !v.running() {
			t.Fatalf("vigil exited during the soak")
		}
	}
	if rest := duration - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	close(stop)
	cancel()
	<-logsDone
	<-spansDone
	<-metricsDone
	<-sampled
	sample("load stopped")

	accepted, refused := logs.counts()
	logs.waitStored(t, accepted, 5*time.Minute)
	t.Logf("logs: %d records acknowledged, all stored; not acknowledged (HTTP status: requests): %v", accepted, refused)
	checkSpans()
	steps := metricSteps()
	window := int(math.Ceil(time.Since(start).Minutes())) + 5
	expr := fmt.Sprintf(`sum(count_over_time(load_%s_total[%dm]))`, metrics.sfx, window)
	Eventually(t, 5*time.Minute, func() (bool, string) {
		got, err := promQuery(PrometheusURL, expr)
		if err != nil {
			return false, err.Error()
		}
		n := 0.0
		if len(got) == 1 {
			n = got[0].Value
		}
		return int(n) == steps*metrics.series, fmt.Sprintf("%s = %v, want %d", expr, n, steps*metrics.series)
	})
	t.Logf("metrics: %d steps × %d series acknowledged, all stored (%d steps not acknowledged)", steps, metrics.series, metrics.errors)
	for _, q := range []string{`count({__name__=~"kernel_.*"})`, `count({__name__=~".*_baseline.*|.*_score.*"})`} {
		if s, err := promQuery(PrometheusURL, q); err == nil && len(s) == 1 {
			t.Logf("%s = %v", q, s[0].Value)
		}
	}
	for _, name := range []string{"otelcol_exporter_loki_dropped_entries_total", "otelcol_exporter_jaeger_dropped_spans_total", "otelcol_exporter_prometheusremotewrite_dropped_items_total"} {
		if n := v.SelfMetric(t, name, nil); n != 0 {
			t.Errorf("%s = %v", name, n)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	csv.close()
	// Warm-up: the first reading after a minute (or the first one).
	var warm soakSample
	for _, s := range samples {
		warm = s
		if s.at >= time.Minute {
			break
		}
	}
	last := samples[len(samples)-1]
	t.Logf("after warm-up: RSS %d MiB, %d goroutines, %d fds; at the end: RSS %d MiB, %d goroutines, %d fds (%d samples)",
		warm.rssKiB>>10, warm.goroutines, warm.fds, last.rssKiB>>10, last.goroutines, last.fds, len(samples))
	if last.goroutines > 2*warm.goroutines || last.fds > 2*warm.fds || last.anonKiB > 2*warm.anonKiB {
		t.Errorf("resources kept growing: goroutines %d → %d, fds %d → %d, anonymous RSS %d → %d KiB",
			warm.goroutines, last.goroutines, warm.fds, last.fds, warm.anonKiB, last.anonKiB)
	}
}

// soakCSV writes each sample to VIGIL_E2E_ARTIFACTS/soak.csv as it is
// taken, so that a soak stopped early still leaves its readings.
type soakCSV struct {
	t *testing.T
	f *os.File
}

func newSoakCSV(t *testing.T) *soakCSV {
	t.Helper()
	dir := os.Getenv("VIGIL_E2E_ARTIFACTS")
	if dir == "" {
		return &soakCSV{t: t}
	}
	f, err := os.Create(filepath.Join(dir, "soak.csv"))
	if err != nil {
		t.Fatalf("soak.csv: %v", err)
	}
	c := &soakCSV{t: t, f: f}
	if _, err := f.WriteString("seconds,rss_kib,rss_anon_kib,goroutines,open_fds,logs_acked,spans_acked,metric_steps_acked,event\n"); err != nil {
		t.Errorf("writing %s: %v", f.Name(), err)
	}
	return c
}

func (c *soakCSV) write(s soakSample) {
	if c.f == nil {
		return
	}
	if _, err := fmt.Fprintf(c.f, "%.0f,%d,%d,%d,%d,%d,%d,%d,%s\n", s.at.Seconds(), s.rssKiB, s.anonKiB, s.goroutines, s.fds, s.logs, s.spans, s.mSteps, s.event); err != nil {
		c.t.Errorf("writing %s: %v", c.f.Name(), err)
	}
}

func (c *soakCSV) close() {
	if c.f == nil {
		return
	}
	if err := c.f.Close(); err != nil {
		c.t.Errorf("closing %s: %v", c.f.Name(), err)
	} else {
		c.t.Logf("wrote %s", c.f.Name())
	}
	c.f = nil
}
