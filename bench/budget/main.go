// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program budget measures what the whole agent costs on a node: vigil's
// embedded default configuration, idle and at a stated mixed load, for two
// binaries (e.g. before and after a change) alternated A B A B. Everything
// vigil exports goes to the bench's counting sink (bench/internal/sink).
//
// Per run, one vigil process:
//   - idle window: no OTLP traffic, no pod-log lines (the pod-log directory
//     exists and is empty), only the default config's own scrape job (the
//     app target is down); CPU-seconds over the window (utime+stime from
//     /proc/PID/stat) and VmRSS, RssAnon, RssFile and VmHWM at its end;
//   - load window: bench/loadgen sends OTLP traces, metrics and logs at fixed
//     rates, a writer appends CRI-format lines to pod log files in the
//     kubelet's layout, and a target on 127.0.0.1 exposes Prometheus metrics;
//     CPU-seconds until the sink has seen everything (or nothing new for 5 s),
//     peak RssAnon (sampled every 100 ms) and VmHWM.
//
// A side whose binary has the prometheus receiver gets the app target as a
// second scrape job (name=binary,scrape-app): `--config vigil:default
// --config yaml:...`, i.e. the embedded default config with one list
// replaced. The target is up only during the load window.
//
// It is a measurement, not a test. Usage: see bench/budget/run.sh.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-otel/vigil/bench/internal/proc"
	"github.com/vigil-otel/vigil/bench/internal/sink"
)

type side struct {
	name      string
	bin       string
	scrapeApp bool
	config    string // a config file instead of the embedded default
}

type result struct {
	idleCPU                              float64
	idleRSS, idleAnon, idleFile, idleHWM int64 // KiB
	loadCPU                              float64
	loadHWM, loadPeakAnon, loadAnonEnd   int64
	sent, failed, received, podLines     int64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "budget:", err)
		os.Exit(1)
	}
}

func run() error {
	var sides []side
	flag.Func("side", "name=binary[,scrape-app][,config=FILE] (repeat; runs alternate in this order)", func(v string) error {
		name, rest, ok := strings.Cut(v, "=")
		if !ok {
			return errors.New("want name=binary")
		}
		opts := strings.Split(rest, ",")
		sd := side{name: name, bin: opts[0]}
		for _, o := range opts[1:] {
			switch {
			case o == "scrape-app":
				sd.scrapeApp = true
			case strings.HasPrefix(o, "config="):
				sd.config = strings.TrimPrefix(o, "config=")
			default:
				return fmt.Errorf("unknown side option %q", o)
			}
		}
		if sd.scrapeApp && sd.config != "" {
			return errors.New("scrape-app applies to the embedded default config only")
		}
		sides = append(sides, sd)
		return nil
	})
	loadgen := flag.String("loadgen", "bin/bench-loadgen", "bench/loadgen binary")
	reps := flag.Int("reps", 3, "runs per side")
	idle := flag.Duration("idle", 60*time.Second, "idle window")
	settle := flag.Duration("settle", 15*time.Second, "wait after start before the idle window")
	load := flag.Duration("load", 60*time.Second, "load window (0: idle only)")
	pods := flag.Int("pods", 8, "pod log files written during the load")
	podRate := flag.Int("pod-lines", 50, "lines per second per pod")
	appSeries := flag.Int("app-series", 50, "routes of the scrape target (each: a counter and a 10-bucket histogram, 14 series)")
	flag.Parse()
	if len(sides) == 0 {
		return errors.New("no -side")
	}

	s, err := sink.Start()
	if err != nil {
		return err
	}
	defer s.Close()
	app := &appTarget{routes: *appSeries}

	fmt.Printf("# Vigil budget %s\n\nidle %s, load %s, %d runs per side, alternating; load: OTLP %s, %d pods × %d lines/s (CRI), scrape target %d series at 15 s\n\n",
		time.Now().UTC().Format(time.RFC3339), *idle, *load, *reps, loadDesc(), *pods, *podRate, *appSeries*14)
	fmt.Println("| run | side | idle CPU-s | idle VmRSS MiB | idle anon / file MiB | load CPU-s | load VmHWM MiB | load peak anon MiB | OTLP items sent (failed) | items received | pod lines written |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	res := map[string][]result{}
	for i := range *reps {
		for _, sd := range sides {
			r, err := runOne(s, app, sd, *loadgen, *settle, *idle, *load, *pods, *podRate)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", sd.name, i+1, err)
			}
			res[sd.name] = append(res[sd.name], r)
			fmt.Printf("| %d | %s | %.2f | %.1f | %.1f / %.1f | %.2f | %.1f | %.1f | %d (%d) | %d | %d |\n", i+1, sd.name,
				r.idleCPU, mib(r.idleRSS), mib(r.idleAnon), mib(r.idleFile), r.loadCPU, mib(r.loadHWM),
				mib(r.loadPeakAnon), r.sent, r.failed, r.received, r.podLines)
		}
	}
	fmt.Println("\nmedians:")
	fmt.Println("\n| side | idle CPU-s per min | idle VmRSS MiB | idle anon MiB | idle file MiB | load CPU-s | load VmHWM MiB | load peak anon MiB |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, sd := range sides {
		rs := res[sd.name]
		fmt.Printf("| %s | %.3f | %.1f | %.1f | %.1f | %.2f | %.1f | %.1f |\n", sd.name,
			med(rs, func(r result) float64 { return r.idleCPU })*60/idle.Seconds(),
			mib(int64(med(rs, func(r result) float64 { return float64(r.idleRSS) }))),
			mib(int64(med(rs, func(r result) float64 { return float64(r.idleAnon) }))),
			mib(int64(med(rs, func(r result) float64 { return float64(r.idleFile) }))),
			med(rs, func(r result) float64 { return r.loadCPU }),
			mib(int64(med(rs, func(r result) float64 { return float64(r.loadHWM) }))),
			mib(int64(med(rs, func(r result) float64 { return float64(r.loadPeakAnon) }))))
	}
	return nil
}

// loads are the loadgen arguments per signal: a node's applications pushing
// batched OTLP, 2,350 points/s, 2,048 spans/s and 4,000 records/s. Each
// loadgen worker waits for the answer before its next request, so several
// workers at 1 request/s keep the rate when a starved collector answers
// late.
var loads = map[string][]string{
	"metrics": {"--workers", "2", "--rate", "0.5"},
	"traces":  {"--workers", "4", "--rate", "1"},
	"logs":    {"--workers", "4", "--rate", "1"},
}

func loadDesc() string {
	var parts []string
	for _, sig := range []string{"metrics", "traces", "logs"} {
		parts = append(parts, sig+" "+strings.Join(loads[sig], " "))
	}
	return strings.Join(parts, "; ")
}

func runOne(s *sink.Sink, app *appTarget, sd side, loadgen string, settle, idle, load time.Duration, pods, podRate int) (result, error) {
	var r result
	dir, err := os.MkdirTemp("", "vigil-budget-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	podDir := filepath.Join(dir, "pods")
	if err := os.MkdirAll(podDir, 0o755); err != nil {
		return r, err
	}
	ports, err := proc.FreePorts(5)
	if err != nil {
		return r, err
	}
	otlp, telemetry, appAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[2], "127.0.0.1:"+ports[4]
	env := append(os.Environ(), "VIGIL_STORAGE_DIR="+filepath.Join(dir, "state"), "VIGIL_OTLP_GRPC_ENDPOINT="+otlp,
		"VIGIL_OTLP_HTTP_ENDPOINT=127.0.0.1:"+ports[1], "VIGIL_HEALTH_ENDPOINT=127.0.0.1:"+ports[3],
		"VIGIL_TELEMETRY_PORT="+ports[2], "VIGIL_JAEGER_ENDPOINT="+s.GRPCAddr,
		"VIGIL_PROMETHEUS_RW_ENDPOINT=http://"+s.HTTPAddr+"/api/v1/write",
		"VIGIL_LOKI_ENDPOINT=http://"+s.HTTPAddr+"/loki/api/v1/push",
		"VIGIL_POD_LOGS_DIR="+podDir, "VIGIL_POD_NAMESPACE=vigil", "VIGIL_POD_NAME=vigil-agent")
	var args []string
	if sd.config != "" {
		args = []string{"--config", sd.config}
	}
	if sd.scrapeApp {
		// The default config's self-scrape job, plus the app target.
		args = []string{"--config", "vigil:default", "--config", fmt.Sprintf(
			"yaml:receivers::prometheus::config::scrape_configs: [{job_name: vigil, scrape_interval: 15s, static_configs: [{targets: ['%s']}]}, {job_name: app, scrape_interval: 15s, static_configs: [{targets: ['%s']}]}]",
			telemetry, appAddr)}
	}
	cmd := exec.Command(sd.bin, args...)
	cmd.Env = env
	collector, err := proc.StartCollector(cmd, otlp, 120*time.Second, 30*time.Second)
	if err != nil {
		return r, err
	}
	defer collector.Stop()
	pid := cmd.Process.Pid
	time.Sleep(settle)

	// Idle.
	cpu0, err := proc.CPUSeconds(pid)
	if err != nil {
		return r, err
	}
	time.Sleep(idle)
	cpu1, err := proc.CPUSeconds(pid)
	if err != nil {
		return r, err
	}
	r.idleCPU = cpu1 - cpu0
	if r.idleRSS, r.idleAnon, r.idleFile, r.idleHWM, err = memory(pid); err != nil {
		return r, err
	}

	if load == 0 {
		return r, nil
	}

	// Load.
	stopApp, err := app.serve(appAddr)
	if err != nil {
		return r, err
	}
	defer stopApp()
	s.Reset()
	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- proc.PeakAnon(pid, stop) }()
	cpu0, err = proc.CPUSeconds(pid)
	if err != nil {
		return r, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), load+2*time.Minute)
	defer cancel()
	var lines atomic.Int64
	var wg sync.WaitGroup
	writeCtx, stopWriting := context.WithTimeout(ctx, load)
	defer stopWriting()
	for p := range pods {
		wg.Go(func() {
			if err := writePod(writeCtx, podDir, p, podRate, &lines); err != nil {
				fmt.Fprintln(os.Stderr, "budget: pod writer:", err)
			}
		})
	}
	var gens []*exec.Cmd
	outs := make([]bytes.Buffer, 3)
	for i, sig := range []string{"metrics", "traces", "logs"} {
		g := exec.CommandContext(ctx, loadgen, append([]string{"--signal", sig, "--otlp-endpoint", otlp,
			"--duration", load.String()}, loads[sig]...)...)
		g.Stdout, g.Stderr = &outs[i], &outs[i]
		if err := g.Start(); err != nil {
			return r, err
		}
		gens = append(gens, g)
	}
	for i, g := range gens {
		if err := g.Wait(); err != nil {
			return r, fmt.Errorf("loadgen: %w\n%s", err, proc.Tail(outs[i].String(), 10))
		}
		sent, failed := sentItems(outs[i].String())
		r.sent += sent
		r.failed += failed
	}
	wg.Wait()
	r.podLines = lines.Load()
	// Drain: until the sink has every OTLP item and pod line (when the side
	// reads pod logs it receives them too) and nothing more for 1 s, or
	// nothing new for 5 s.
	last, stable := s.Counts(), time.Now()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		since := time.Since(stable)
		if since >= 5*time.Second || (items(last) >= r.sent+r.podLines && since >= time.Second) {
			break
		}
		time.Sleep(250 * time.Millisecond)
		if c := s.Counts(); c != last {
			last, stable = c, time.Now()
		}
	}
	cpu1, err = proc.CPUSeconds(pid)
	if err != nil {
		return r, err
	}
	close(stop)
	r.loadPeakAnon = <-peak
	r.loadCPU = cpu1 - cpu0
	r.received = items(s.Counts())
	if _, r.loadAnonEnd, _, r.loadHWM, err = memory(pid); err != nil {
		return r, err
	}
	if c := s.Counts(); c.Bad > 0 {
		return r, fmt.Errorf("the sink refused %d requests", c.Bad)
	}
	return r, nil
}

func items(c sink.Counts) int64 { return c.Spans + c.Points + c.LogRecords }

// writePod appends CRI-format lines (containerd's layout: <time> <stream>
// <tag> <line>) to /var/log/pods-style files at rate lines per second, in
// ten bursts per second, until ctx ends.
func writePod(ctx context.Context, podDir string, p, rate int, n *atomic.Int64) error {
	dir := filepath.Join(podDir, fmt.Sprintf("bench_app-%d_0000000%d-0000-4000-8000-000000000000", p, p), "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "0.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	levels := []string{"info", "info", "info", "debug", "warn", "error"}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var seq int
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var b bytes.Buffer
		for range rate / 10 {
			seq++
			fmt.Fprintf(&b, "%s stdout F time=%s level=%s msg=\"request handled\" route=/api/v1/items/%d status=200 duration_ms=%d request_id=%08x\n",
				time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano),
				levels[seq%len(levels)], seq%100, seq%250, seq)
		}
		if _, err := f.Write(b.Bytes()); err != nil {
			return err
		}
		n.Add(int64(rate / 10))
	}
}

// appTarget serves Prometheus text exposition for an application with
// routes: a counter and a 10-bucket histogram per route, counting up. It
// listens only during the load window: in the idle window its address
// refuses connections (a pod that is not up yet), so the idle figures are
// those of the default config's own jobs.
type appTarget struct {
	routes int
	n      atomic.Int64
}

// serve listens on addr until the returned stop is called.
func (a *appTarget) serve(addr string) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return func() { _ = srv.Close() }, nil
}

func (a *appTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	k := a.n.Add(1) * 100
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "# TYPE app_requests_total counter")
	for i := range a.routes {
		fmt.Fprintf(bw, "app_requests_total{route=\"/r%d\",code=\"200\"} %d\n", i, k+int64(i))
	}
	fmt.Fprintln(bw, "# TYPE app_request_duration_seconds histogram")
	bounds := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}
	for i := range a.routes {
		for j, le := range bounds {
			fmt.Fprintf(bw, "app_request_duration_seconds_bucket{route=\"/r%d\",le=\"%s\"} %d\n", i, le, k*int64(j+1)/10)
		}
		fmt.Fprintf(bw, "app_request_duration_seconds_sum{route=\"/r%d\"} %d\n", i, k/5)
		fmt.Fprintf(bw, "app_request_duration_seconds_count{route=\"/r%d\"} %d\n", i, k)
	}
	_ = bw.Flush()
}

// sentItems adds up what bench/loadgen reports ("loadgen: N <signal> sent,
// M failed").
func sentItems(out string) (sent, failed int64) {
	for _, l := range strings.Split(out, "\n") {
		var k, f int64
		var sig string
		if _, err := fmt.Sscanf(l, "loadgen: %d %s sent, %d failed", &k, &sig, &f); err == nil {
			sent += k
			failed += f
		}
	}
	return sent, failed
}

func med(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// memory returns VmRSS, RssAnon, RssFile and VmHWM in KiB.
func memory(pid int) (rss, anon, file, hwm int64, err error) {
	var errs [4]error
	rss, errs[0] = proc.StatusKiB(pid, "VmRSS:")
	anon, errs[1] = proc.StatusKiB(pid, "RssAnon:")
	file, errs[2] = proc.StatusKiB(pid, "RssFile:")
	hwm, errs[3] = proc.StatusKiB(pid, "VmHWM:")
	return rss, anon, file, hwm, errors.Join(errs[:]...)
}
