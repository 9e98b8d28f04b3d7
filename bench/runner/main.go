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
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/vigil-otel/vigil/bench/internal/proc"
	"github.com/vigil-otel/vigil/bench/internal/sink"
)

type shape struct {
	name string
	args []string // load generator arguments, before --duration
	// loadgen selects bench/loadgen (batched OTLP, many items per request)
	// instead of telemetrygen (one item per request).
	loadgen bool
	// http sends OTLP/HTTP instead of gRPC (bench/loadgen only). The
	// Prometheus agent takes only OTLP/HTTP, so it runs only in these.
	http bool
}

// loads are the load shapes per signal: a fixed rate both sides sustain, and
// a saturating one (many workers at telemetrygen's per-worker ceiling).
// telemetrygen's --rate is per worker and tops out near 1k/s; unthrottled
// trace generation drops spans inside telemetrygen, so traces stay throttled.
var loads = map[string][]shape{
	"traces": {
		{"fixed", []string{"--workers", "4", "--rate", "250", "--child-spans", "3"}, false, false},
		{"saturate", []string{"--workers", "16", "--rate", "1000", "--child-spans", "3"}, false, false},
		// SDK batches: 4 clients × 5 requests/s × 512 spans with
		// attributes, an event each and links.
		{"batched", []string{"--workers", "4", "--rate", "5"}, true, false},
		{"batched-http", []string{"--workers", "4", "--rate", "5"}, true, true},
	},
	"metrics": {
		{"fixed", []string{"--workers", "4", "--rate", "1000", "--unique-timeseries"}, false, false},
		{"saturate", []string{"--workers", "32", "--rate", "1000", "--unique-timeseries"}, false, false},
		// 4 clients × 5 requests/s × 2,350 data points (5,350 remote-write
		// samples): what an exporter does per point, not per request.
		{"batched", []string{"--workers", "4", "--rate", "5"}, true, false},
		{"batched-http", []string{"--workers", "4", "--rate", "5"}, true, true},
		// A fifth of batched-http (2 clients × 2 requests/s): every side
		// keeps up even on a busy machine, where the closed-loop clients
		// would otherwise send each side a different amount.
		{"batched-http-light", []string{"--workers", "2", "--rate", "2"}, true, true},
	},
	// All three signals at once into one process (bench/loadgen, gRPC):
	// metrics 2 clients × 2 requests/s × 2,350 points, traces 2 × 5 × 512
	// spans, logs 2 × 5 × 1,000 records (about 24k items/s).
	"mixed": {
		{"mixed", nil, true, false},
	},
	"logs": {
		{"fixed", []string{"--workers", "4", "--rate", "1000"}, false, false},
		{"saturate", []string{"--workers", "32", "--rate", "1000"}, false, false},
		// SDK batches: 4 clients × 5 requests/s × 1,000 records.
		{"batched", []string{"--workers", "4", "--rate", "5"}, true, false},
		{"batched-http", []string{"--workers", "4", "--rate", "5"}, true, true},
	},
}

// side is one collector under test. Its configuration for a signal is the
// template <name>-<signal>.yaml in -configs; a side without one for a
// signal does not run it.
type side struct {
	name string // vigil, vigil-durable, peer, peer-durable, prom-agent; "-base" appended: -vigil-base's binary
	cfg  string // the config template's side name: name without "-base"
	bin  string
	prom bool // the Prometheus agent: flags instead of a collector config
	// defaultConfig runs vigil without --config: its embedded default
	// configuration, with every endpoint pointed at the sink through the
	// config's environment variables (kernel and cgroup receivers, span
	// metrics and baselines included).
	defaultConfig bool
}

// mixedLoads are the loadgen arguments of the mixed load, per signal.
var mixedLoads = map[string][]string{
	"metrics": {"--workers", "2", "--rate", "2"},
	"traces":  {"--workers", "2", "--rate", "5"},
	"logs":    {"--workers", "2", "--rate", "5"},
}

type result struct {
	items    int64
	cpu      float64 // seconds
	hwmKiB   int64   // VmHWM: peak resident set, including the binary's mapped pages
	anonKiB  int64   // peak RssAnon, sampled every 100 ms: the heap and stacks alone
	fileKiB  int64   // RssFile at the end of the run: the binary's mapped pages (and mapped files)
	idleAnon int64   // RssAnon and RssFile after start, before any load
	idleFile int64
	genCPU   float64 // the load generator's CPU-seconds while sending
	bad      int64
	lost     int64 // spans or log records loadgen sent that the sink did not receive
}

// row is one side's median for the JSON report that bench/chart draws.
type row struct {
	Signal       string  `json:"signal"`
	Load         string  `json:"load"`
	Side         string  `json:"side"`
	Items        int64   `json:"items"`
	CPUPerMItems float64 `json:"cpu_s_per_million_items"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	PeakAnonMiB  float64 `json:"peak_anon_mib"`
	IdleAnonMiB  float64 `json:"idle_anon_mib"`
	IdleFileMiB  float64 `json:"idle_file_mib"`
	GenCPUPerM   float64 `json:"generator_cpu_s_per_million_items"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	vigilBin := flag.String("vigil", "bin/vigil", "vigil binary")
	baseBin := flag.String("vigil-base", "", "a second vigil binary (e.g. of the base commit) for the sides named <vigil side>-base, to A/B a change in one run")
	peerBin := flag.String("peer", "", "peer collector binary")
	promBin := flag.String("prometheus", "", "Prometheus 3 binary, run as the agent (side prom-agent)")
	tgBin := flag.String("telemetrygen", "", "telemetrygen binary")
	lgBin := flag.String("loadgen", "bin/bench-loadgen", "bench/loadgen binary (batched OTLP)")
	configs := flag.String("configs", "bench/configs", "directory of <side>-<signal>.yaml config templates")
	signals := flag.String("signals", "traces,metrics,logs", "signals to run (mixed: all three at once, see mixedLoads)")
	shapes := flag.String("shapes", "fixed,saturate,batched", "load shapes to run")
	sideNames := flag.String("sides", "vigil,peer", "sides to run, in this order within each repetition: vigil, vigil-durable, vigil-default (mixed only), peer, peer-durable, prom-agent")
	reps := flag.Int("reps", 2, "repetitions per side (runs alternate between the sides)")
	duration := flag.Duration("duration", 20*time.Second, "load duration per run")
	jsonOut := flag.String("json", "", "also write the medians as JSON to this file (bench/chart draws it)")
	pprofDir := flag.String("pprof", "", "write a CPU profile of each vigil run into this directory (enables the pprof extension in the run's config)")
	flag.Parse()
	if *peerBin == "" && strings.Contains(*sideNames, "peer") {
		return errors.New("-peer is required for the peer sides")
	}
	if *promBin == "" && strings.Contains(*sideNames, "prom-agent") {
		return errors.New("-prometheus is required for the prom-agent side")
	}

	s, err := sink.Start()
	if err != nil {
		return err
	}
	defer s.Close()

	var allSides []side
	for _, n := range strings.Split(*sideNames, ",") {
		if base, ok := strings.CutSuffix(n, "-base"); ok && strings.HasPrefix(n, "vigil") {
			if *baseBin == "" {
				return fmt.Errorf("side %s needs -vigil-base", n)
			}
			allSides = append(allSides, side{name: n, cfg: base, bin: *baseBin})
			continue
		}
		switch {
		case n == "vigil-default":
			allSides = append(allSides, side{name: n, cfg: n, bin: *vigilBin, defaultConfig: true})
		case strings.HasPrefix(n, "vigil"):
			allSides = append(allSides, side{name: n, cfg: n, bin: *vigilBin})
		case strings.HasPrefix(n, "peer"):
			allSides = append(allSides, side{name: n, cfg: n, bin: *peerBin})
		case n == "prom-agent":
			allSides = append(allSides, side{name: n, cfg: n, bin: *promBin, prom: true})
		default:
			return fmt.Errorf("unknown side %q", n)
		}
	}

	fmt.Printf("# Vigil bench %s\n\nmachine: %s, %d CPUs, %s; Go %s; load %s per run, %d runs per side, alternating\n\n",
		time.Now().UTC().Format(time.RFC3339), cpuModel(), runtime.NumCPU(), memTotal(), runtime.Version(), *duration, *reps)
	fmt.Println("| signal | load | side | items received (median) | items/s | CPU-s per M items | peak RSS MiB | peak anon RSS MiB | idle anon / file MiB | generator CPU-s per M items | runs |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
	var ratios []string
	var rows []row
	for _, sig := range strings.Split(*signals, ",") {
		for _, sh := range loads[sig] {
			if !slices.Contains(strings.Split(*shapes, ","), sh.name) {
				continue
			}
			var sides []side
			for _, sd := range allSides {
				_, err := os.Stat(filepath.Join(*configs, sd.cfg+"-"+sig+".yaml"))
				if err != nil && !(sd.defaultConfig && sig == "mixed") {
					continue
				}
				if sd.prom && !sh.http {
					continue
				}
				sides = append(sides, sd)
			}
			res := map[string][]result{}
			for rep := 0; rep < *reps; rep++ {
				for _, sd := range sides {
					gen := *tgBin
					if sh.loadgen {
						gen = *lgBin
					}
					if gen == "" {
						return errors.New("-telemetrygen is required for the telemetrygen loads")
					}
					prof := ""
					if *pprofDir != "" && strings.HasPrefix(sd.name, "vigil") {
						prof = filepath.Join(*pprofDir, fmt.Sprintf("%s-%s-%s-%d.pprof", sd.name, sig, sh.name, rep))
					}
					r, err := runOne(s, sd, sig, sh, *configs, gen, *duration, prof)
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
				perM := func(cpu float64) float64 { return cpu / float64(max(m.items, 1)) * 1e6 }
				fmt.Printf("| %s | %s | %s | %d | %.0f | %.2f | %.1f | %.1f | %.1f / %.1f | %.2f | %s |\n", sig, sh.name, sd.name, m.items,
					float64(m.items)/duration.Seconds(), perM(m.cpu), mib(m.hwmKiB), mib(m.anonKiB),
					mib(m.idleAnon), mib(m.idleFile), perM(m.genCPU), runsString(res[sd.name]))
				rows = append(rows, row{Signal: sig, Load: sh.name, Side: sd.name, Items: m.items, CPUPerMItems: perM(m.cpu),
					PeakRSSMiB: mib(m.hwmKiB), PeakAnonMiB: mib(m.anonKiB), IdleAnonMiB: mib(m.idleAnon),
					IdleFileMiB: mib(m.idleFile), GenCPUPerM: perM(m.genCPU)})
			}
			for _, a := range sides {
				if !strings.HasPrefix(a.name, "vigil") {
					continue
				}
				for _, b := range sides {
					if strings.HasPrefix(b.name, "vigil") {
						continue
					}
					v, p := med[a.name], med[b.name]
					ratios = append(ratios, fmt.Sprintf("| %s | %s | %s / %s | %.2f | %.2f | %.2f | %.2f |", sig, sh.name, a.name, b.name,
						float64(v.items)/float64(max(p.items, 1)), v.perCPU()/p.perCPU(), float64(v.hwmKiB)/float64(max(p.hwmKiB, 1)),
						float64(v.anonKiB)/float64(max(p.anonKiB, 1))))
				}
			}
		}
	}
	fmt.Println("\nRatios (medians): items received, items per CPU-second (higher is better for the first side), peak RSS and peak anon RSS (lower is better for the first side)")
	fmt.Println()
	fmt.Println("| signal | load | sides | items | items per CPU-s | peak RSS | peak anon RSS |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|")
	for _, r := range ratios {
		fmt.Println(r)
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sentItems adds up what bench/loadgen reports as sent ("loadgen: N
// <signal> sent, ..."); 0 for telemetrygen.
func sentItems(out string) int64 {
	var n int64
	for _, l := range strings.Split(out, "\n") {
		var k int64
		var sig string
		if _, err := fmt.Sscanf(l, "loadgen: %d %s sent", &k, &sig); err == nil {
			n += k
		}
	}
	return n
}

// sendCPU is bench/loadgen's CPU while sending ("loadgen: send CPU X s"),
// without its start-up and encoding.
func sendCPU(out string) (float64, bool) {
	for _, l := range strings.Split(out, "\n") {
		var c float64
		if _, err := fmt.Sscanf(l, "loadgen: send CPU %f s", &c); err == nil {
			return c, true
		}
	}
	return 0, false
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func runsString(rs []result) string {
	var parts []string
	for _, r := range rs {
		p := fmt.Sprintf("%d items/%.1fs CPU/%dMiB", r.items, r.cpu, r.hwmKiB/1024)
		if r.bad > 0 {
			p += fmt.Sprintf("/%d bad", r.bad)
		}
		if r.lost > 0 {
			p += fmt.Sprintf("/%d NOT RECEIVED", r.lost)
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

func runOne(s *sink.Sink, sd side, sig string, sh shape, configs, gen string, d time.Duration, profile string) (result, error) {
	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	ports, err := proc.FreePorts(4)
	if err != nil {
		return result{}, err
	}
	otlp, otlpHTTP := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[2]
	data := map[string]string{
		"SinkGRPC": s.GRPCAddr, "SinkHTTP": "http://" + s.HTTPAddr, "OTLPGRPC": otlp, "OTLPHTTP": otlpHTTP,
		"MetricsPort": ports[1], "StorageDir": dir, "Extensions": "", "ExtensionConfig": "", "ExtensionList": "",
	}
	pprofAddr := "127.0.0.1:" + ports[3]
	if profile != "" {
		data["Extensions"], data["ExtensionList"] = ", pprof", "pprof"
		data["ExtensionConfig"] = "  pprof:\n    endpoint: " + pprofAddr
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	args := []string{"--config", cfgPath}
	var env []string
	if sd.defaultConfig {
		args = nil
		env = append(os.Environ(), "VIGIL_STORAGE_DIR="+dir, "VIGIL_OTLP_GRPC_ENDPOINT="+otlp,
			"VIGIL_OTLP_HTTP_ENDPOINT="+otlpHTTP, "VIGIL_HEALTH_ENDPOINT=127.0.0.1:"+ports[3],
			"VIGIL_TELEMETRY_PORT="+ports[1], "VIGIL_JAEGER_ENDPOINT="+s.GRPCAddr,
			"VIGIL_PROMETHEUS_RW_ENDPOINT=http://"+s.HTTPAddr+"/api/v1/write",
			"VIGIL_LOKI_ENDPOINT=http://"+s.HTTPAddr+"/loki/api/v1/push")
	} else {
		cfg, err := render(filepath.Join(configs, sd.cfg+"-"+sig+".yaml"), data)
		if err != nil {
			return result{}, err
		}
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			return result{}, err
		}
	}
	wait := otlp
	if sd.prom {
		args = []string{"--agent", "--web.enable-otlp-receiver", "--config.file", cfgPath,
			"--storage.agent.path", filepath.Join(dir, "wal"), "--web.listen-address", otlpHTTP}
		wait = otlpHTTP
	}
	cmd := exec.Command(sd.bin, args...)
	cmd.Env = env
	collector, err := proc.StartCollector(cmd, wait, 60*time.Second, 20*time.Second)
	if err != nil {
		return result{}, err
	}
	defer collector.Stop()
	pid := cmd.Process.Pid
	// Idle footprint: after start-up has settled, before any load.
	time.Sleep(2 * time.Second)
	idleAnon, err1 := proc.StatusKiB(pid, "RssAnon:")
	idleFile, err2 := proc.StatusKiB(pid, "RssFile:")
	if err := errors.Join(err1, err2); err != nil {
		return result{}, err
	}
	s.Reset()
	stopSampling := make(chan struct{})
	peakAnon := make(chan int64, 1)
	go func() { peakAnon <- proc.PeakAnon(pid, stopSampling) }()
	cpu0, err := proc.CPUSeconds(pid)
	if err != nil {
		return result{}, err
	}
	var profDone chan error
	if profile != "" {
		profDone = make(chan error, 1)
		go func() { profDone <- fetchProfile("http://"+pprofAddr, profile, d) }()
	}
	var gens []*exec.Cmd
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	switch {
	case sig == "mixed":
		for _, g := range []string{"metrics", "traces", "logs"} {
			gens = append(gens, exec.CommandContext(ctx, gen, append([]string{"--signal", g, "--otlp-endpoint", otlp,
				"--duration", d.String()}, mixedLoads[g]...)...))
		}
	case sh.loadgen:
		ep, proto, path := otlp, "grpc", ""
		if sh.http {
			ep, proto = otlpHTTP, "http"
		}
		if sd.prom {
			path = "/api/v1/otlp/v1/metrics"
		}
		gens = append(gens, exec.CommandContext(ctx, gen, append([]string{"--signal", sig, "--protocol", proto,
			"--otlp-endpoint", ep, "--http-path", path, "--duration", d.String()}, sh.args...)...))
	default:
		gens = append(gens, exec.CommandContext(ctx, gen, append([]string{sig, "--otlp-endpoint", otlp, "--otlp-insecure",
			"--duration", d.String(), "--allow-export-failures"}, sh.args...)...))
	}
	outs := make([]bytes.Buffer, len(gens))
	for i, g := range gens {
		g.Stdout, g.Stderr = &outs[i], &outs[i]
		if err := g.Start(); err != nil {
			return result{}, err
		}
	}
	var genCPU float64
	var out string
	for i, g := range gens {
		err := g.Wait()
		out += outs[i].String()
		if err != nil {
			return result{}, fmt.Errorf("%s %v: %w\n%s", filepath.Base(gen), g.Args, err, proc.Tail(outs[i].String(), 10))
		}
		if c, ok := sendCPU(outs[i].String()); ok {
			genCPU += c
		} else {
			genCPU += (g.ProcessState.UserTime() + g.ProcessState.SystemTime()).Seconds()
		}
	}
	// Wait until the sink has seen everything the collector will send:
	// for spans and log records every item loadgen sent (and no change for
	// 1 s), otherwise no change for 5 s (batch timeouts and retries are
	// shorter than that; a starved process on a contended machine may pause
	// for seconds).
	sent := sentItems(out)
	countable := sig == "traces" || sig == "logs"
	itemsOf := func(c sink.Counts) int64 {
		return map[string]int64{"traces": c.Spans, "metrics": c.Points, "logs": c.LogRecords,
			"mixed": c.Spans + c.Points + c.LogRecords}[sig]
	}
	last, stable := s.Counts(), time.Now()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		if since := time.Since(stable); since >= 5*time.Second ||
			(countable && sent > 0 && itemsOf(last) >= sent && since >= time.Second) {
			break
		}
		time.Sleep(250 * time.Millisecond)
		if c := s.Counts(); c != last {
			last, stable = c, time.Now()
		}
	}
	cpu1, err := proc.CPUSeconds(pid)
	if err != nil {
		return result{}, err
	}
	close(stopSampling)
	anon := <-peakAnon
	hwm, err1 := proc.StatusKiB(pid, "VmHWM:")
	file, err2 := proc.StatusKiB(pid, "RssFile:")
	if err := errors.Join(err1, err2); err != nil {
		return result{}, err
	}
	if profDone != nil {
		if err := <-profDone; err != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", err)
		}
	}
	c := s.Counts()
	items := itemsOf(c)
	if items == 0 {
		return result{}, fmt.Errorf("the sink received nothing\n%s\n%s", proc.Tail(out, 5), proc.Tail(collector.Output(), 20))
	}
	lost := int64(0)
	if countable && sent > items {
		lost = sent - items
	}
	return result{items: items, lost: lost, cpu: cpu1 - cpu0, hwmKiB: hwm, anonKiB: anon, fileKiB: file,
		idleAnon: idleAnon, idleFile: idleFile, genCPU: genCPU, bad: c.Bad}, nil
}

// fetchProfile saves a CPU profile of d from the pprof extension at base.
func fetchProfile(base, path string, d time.Duration) error {
	client := &http.Client{Timeout: d + time.Minute}
	resp, err := client.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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

func cpuModel() string {
	v, err := proc.Field("/proc/cpuinfo", "model name")
	if err != nil {
		return "unknown CPU"
	}
	return strings.TrimSpace(strings.TrimPrefix(v, ":"))
}

func memTotal() string {
	v, err := proc.Field("/proc/meminfo", "MemTotal:")
	if err != nil {
		return "unknown memory"
	}
	kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
}
