// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program runner is Vigil's load bench. For each signal and load shape it
// runs the same telemetrygen load through vigil and through a peer (the
// upstream collector built with the same pipeline), alternating A B A B, and
// reports for each: items received at a local sink, CPU-seconds per million
// items (from /proc/PID/stat) and peak RSS (VmHWM from /proc/PID/status);
// then medians and the ratio vigil/peer. It is a measurement, not a test.
//
// Usage: see bench/run.sh.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/vigil-otel/vigil/bench/internal/sink"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Vigil builds for.
const clockTicks = 100

type shape struct {
	name string
	args []string // load generator arguments, before --duration
	// loadgen selects bench/loadgen (batched OTLP metrics, many series per
	// request) instead of telemetrygen (one data point per request).
	loadgen bool
}

// loads are the load shapes per signal: a fixed rate both sides sustain, and
// a saturating one (many workers at telemetrygen's per-worker ceiling).
// telemetrygen's --rate is per worker and tops out near 1k/s; unthrottled
// trace generation drops spans inside telemetrygen, so traces stay throttled.
var loads = map[string][]shape{
	"traces": {
		{"fixed", []string{"--workers", "4", "--rate", "250", "--child-spans", "3"}, false},
		{"saturate", []string{"--workers", "16", "--rate", "1000", "--child-spans", "3"}, false},
	},
	"metrics": {
		{"fixed", []string{"--workers", "4", "--rate", "1000", "--unique-timeseries"}, false},
		{"saturate", []string{"--workers", "32", "--rate", "1000", "--unique-timeseries"}, false},
		// 4 clients × 5 requests/s × 2,350 data points (5,350 remote-write
		// samples): what an exporter does per point, not per request.
		{"batched", []string{"--workers", "4", "--rate", "5"}, true},
	},
	"logs": {
		{"fixed", []string{"--workers", "4", "--rate", "1000"}, false},
		{"saturate", []string{"--workers", "32", "--rate", "1000"}, false},
	},
}

type side struct {
	name string // "vigil" or "peer"
	bin  string
}

type result struct {
	items   int64
	cpu     float64 // seconds
	hwmKiB  int64   // VmHWM: peak resident set, including the binary's mapped pages
	anonKiB int64   // peak RssAnon, sampled every 100 ms: the heap and stacks alone
	bad     int64
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	vigilBin := flag.String("vigil", "bin/vigil", "vigil binary")
	peerBin := flag.String("peer", "", "peer collector binary")
	tgBin := flag.String("telemetrygen", "", "telemetrygen binary")
	lgBin := flag.String("loadgen", "bin/bench-loadgen", "bench/loadgen binary (batched OTLP metrics)")
	configs := flag.String("configs", "bench/configs", "directory of <side>-<signal>.yaml config templates")
	signals := flag.String("signals", "traces,metrics,logs", "signals to run")
	shapes := flag.String("shapes", "fixed,saturate,batched", "load shapes to run")
	reps := flag.Int("reps", 2, "repetitions per side (runs alternate vigil, peer, vigil, peer, ...)")
	duration := flag.Duration("duration", 20*time.Second, "load duration per run")
	flag.Parse()
	if *peerBin == "" || *tgBin == "" {
		return errors.New("-peer and -telemetrygen are required")
	}

	s, err := sink.Start()
	if err != nil {
		return err
	}
	defer s.Close()

	fmt.Printf("# Vigil bench %s\n\nmachine: %s, %d CPUs, %s; Go %s; load %s per run, %d runs per side, alternating\n\n",
		time.Now().UTC().Format(time.RFC3339), cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version(), *duration, *reps)
	fmt.Println("| signal | load | side | items received (median) | items/s | CPU-s per M items | peak RSS MiB | peak anon RSS MiB | runs |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---|")
	var ratios []string
	for _, sig := range strings.Split(*signals, ",") {
		for _, sh := range loads[sig] {
			if !slices.Contains(strings.Split(*shapes, ","), sh.name) {
				continue
			}
			res := map[string][]result{}
			sides := []side{{"vigil", *vigilBin}, {"peer", *peerBin}}
			for rep := 0; rep < *reps; rep++ {
				for _, sd := range sides {
					gen := *tgBin
					if sh.loadgen {
						gen = *lgBin
					}
					r, err := runOne(s, sd, sig, sh, *configs, gen, *duration)
					if err != nil {
						return fmt.Errorf("%s %s %s: %w", sd.name, sig, sh.name, err)
					}
					res[sd.name] = append(res[sd.name], r)
				}
			}
			med := map[string]result{}
			for _, sd := range sides {
				m := median(res[sd.name])
				med[sd.name] = m
				fmt.Printf("| %s | %s | %s | %d | %.0f | %.2f | %.1f | %.1f | %s |\n", sig, sh.name, sd.name, m.items,
					float64(m.items)/duration.Seconds(), m.cpu/float64(max(m.items, 1))*1e6, float64(m.hwmKiB)/1024,
					float64(m.anonKiB)/1024, runsString(res[sd.name]))
			}
			v, p := med["vigil"], med["peer"]
			ratios = append(ratios, fmt.Sprintf("| %s | %s | %.2f | %.2f | %.2f | %.2f |", sig, sh.name,
				float64(v.items)/float64(max(p.items, 1)), v.perCPU()/p.perCPU(), float64(v.hwmKiB)/float64(max(p.hwmKiB, 1)),
				float64(v.anonKiB)/float64(max(p.anonKiB, 1))))
		}
	}
	fmt.Println("\nRatios vigil/peer (medians): items received, items per CPU-second (higher is better), peak RSS and peak anon RSS (lower is better)")
	fmt.Println()
	fmt.Println("| signal | load | items | items per CPU-s | peak RSS | peak anon RSS |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	for _, r := range ratios {
		fmt.Println(r)
	}
	return nil
}

func runsString(rs []result) string {
	var parts []string
	for _, r := range rs {
		p := fmt.Sprintf("%d items/%.1fs CPU/%dMiB", r.items, r.cpu, r.hwmKiB/1024)
		if r.bad > 0 {
			p += fmt.Sprintf("/%d bad", r.bad)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// median picks the run with the median items per CPU-second, so the figures
// of one row come from one run.
func median(rs []result) result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.perCPU(), b.perCPU()) })
	return sorted[(len(sorted)-1)/2]
}

func (r result) perCPU() float64 { return float64(r.items) / max(r.cpu, 1e-9) }

func runOne(s *sink.Sink, sd side, sig string, sh shape, configs, tg string, d time.Duration) (result, error) {
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(2)
	if err != nil {
		return result{}, err
	}
	otlp := "127.0.0.1:" + ports[0]
	cfg, err := render(filepath.Join(configs, sd.name+"-"+sig+".yaml"), map[string]string{
		"SinkGRPC": s.GRPCAddr, "SinkHTTP": "http://" + s.HTTPAddr, "OTLPGRPC": otlp,
		"MetricsPort": ports[1], "StorageDir": dir,
	})
	if err != nil {
		return result{}, err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return result{}, err
	}
	var logBuf bytes.Buffer
	cmd := exec.Command(sd.bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	if err := waitTCP(otlp, exited, 60*time.Second); err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, tailString(logBuf.String(), 20))
	}
	s.Reset()
	stopSampling := make(chan struct{})
	peakAnon := make(chan int64, 1)
	go func() { peakAnon <- sampleAnon(cmd.Process.Pid, stopSampling) }()
	cpu0, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	args := append([]string{sig, "--otlp-endpoint", otlp, "--otlp-insecure", "--duration", d.String(),
		"--allow-export-failures"}, sh.args...)
	if sh.loadgen {
		args = append([]string{"--otlp-endpoint", otlp, "--duration", d.String()}, sh.args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, tg, args...).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("%s %v: %w\n%s", filepath.Base(tg), args, err, tailString(string(out), 10))
	}
	// Wait until the sink has seen everything the collector will send: no
	// change for 3 s (batch timeouts and retries are shorter than that).
	last, stable := s.Counts(), time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && time.Since(stable) < 3*time.Second; {
		time.Sleep(250 * time.Millisecond)
		if c := s.Counts(); c != last {
			last, stable = c, time.Now()
		}
	}
	cpu1, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	close(stopSampling)
	anon := <-peakAnon
	hwm, err := kiBField(cmd.Process.Pid, "VmHWM:")
	if err != nil {
		return result{}, err
	}
	c := s.Counts()
	items := map[string]int64{"traces": c.Spans, "metrics": c.Points, "logs": c.LogRecords}[sig]
	return result{items: items, cpu: cpu1 - cpu0, hwmKiB: hwm, anonKiB: anon, bad: c.Bad}, nil
}

func render(path string, data map[string]string) ([]byte, error) {
	tpl, err := template.ParseFiles(path)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tpl.Option("missingkey=error").Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

func kiBField(pid int, key string) (int64, error) {
	v, err := procStatusField(fmt.Sprintf("/proc/%d/status", pid), key)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
}

// sampleAnon returns the largest RssAnon seen every 100 ms until stop. The
// kernel keeps a high-water mark only for the whole RSS, which also counts
// the binary's mapped pages; a bigger binary (Vigil links more components)
// raises that without using more memory for data.
func sampleAnon(pid int, stop <-chan struct{}) int64 {
	var peak int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, err := kiBField(pid, "RssAnon:"); err == nil {
			peak = max(peak, v)
		}
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}

func procStatusField(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("%s: no %s", path, key)
}

func cpuModel() string {
	v, err := procStatusField("/proc/cpuinfo", "model name")
	if err != nil {
		return "unknown CPU"
	}
	return strings.TrimSpace(strings.TrimPrefix(v, ":"))
}

func memTotal() string {
	v, err := procStatusField("/proc/meminfo", "MemTotal:")
	if err != nil {
		return "unknown memory"
	}
	kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
}

func freePorts(n int) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}

func waitTCP(addr string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("collector exited during start: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("collector not listening on %s after %s", addr, timeout)
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
