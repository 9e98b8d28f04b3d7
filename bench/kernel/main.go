// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Command kernelbench measures the CPU overhead of Vigil's kernel receiver
// on loopback TCP: request/response on one connection, connect/close, and a
// bulk transfer. Each round runs every workload with the receiver off and on
// (the order alternates between rounds) and measures the process's CPU time
// (user+system, getrusage) per operation; client, server and the eBPF
// programs that run in their syscall and softirq context are all charged to
// this process. The receiver runs in-process with its default collection
// interval (10s; -interval to change it), so its user-space reads are
// included at the rate a deployment pays them. Reported: the median CPU per
// operation off and on, the overhead, and the run time of the eBPF programs
// per operation as the kernel counts it (bpf_stats), in total and per
// program.
//
// Run as root: bash bench/kernel/run.sh (or go run ./bench/kernel -h).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/vigil-otel/vigil/receivers/kernelreceiver"
)

type workload struct {
	name string
	unit string
	ops  int
	run  func(n int) error
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kernelbench:", err)
		os.Exit(1)
	}
}

func run() error {
	rounds := flag.Int("rounds", 7, "rounds (each runs every workload off and on)")
	reqs := flag.Int("reqresp", 50000, "request/response exchanges per run")
	conns := flag.Int("connect", 5000, "connect/close cycles per run")
	bulkMB := flag.Int("bulk-mb", 1024, "MiB per bulk run")
	only := flag.String("workloads", "reqresp,connect_close,bulk", "comma-separated workloads to run")
	interval := flag.Duration("interval", 0, "receiver collection interval (0: the receiver's default)")
	bpfStats := flag.Bool("bpf-stats", true, "measure the programs' run time (bpf_stats); its own clock reads, ~2 per program run, add to the 'on' CPU")
	flag.Parse()

	// Kernel-side cost, measured by the kernel itself: run time and run
	// count of our programs (kernel.bpf_stats_enabled while this runs).
	if *bpfStats {
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			return fmt.Errorf("enabling BPF run-time stats: %w", err)
		}
		defer stats.Close()
	} else if b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); err == nil && strings.TrimSpace(string(b)) != "0" {
		fmt.Fprintln(os.Stderr, "warning: -bpf-stats=false but kernel.bpf_stats_enabled is on (another process enabled it)")
	}
	bpfNs := map[string][]float64{}
	bpfRuns := map[string][]float64{}
	// Per program (by name): run time and runs per operation, per round.
	progNs := map[string]map[string][]float64{}
	progRuns := map[string]map[string][]float64{}

	var ws []workload
	for _, w := range []workload{
		{"reqresp", "exchange", *reqs, reqResp},
		{"connect_close", "connection", *conns, connectClose},
		{"bulk", "MiB", *bulkMB, bulk},
	} {
		if slices.Contains(strings.Split(*only, ","), w.name) {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return fmt.Errorf("-workloads %q: no known workload (reqresp, connect_close, bulk)", *only)
	}
	cfgInterval := *interval
	if cfgInterval == 0 {
		cfgInterval = kernelreceiver.NewFactory().CreateDefaultConfig().(*kernelreceiver.Config).CollectionInterval
	}
	fmt.Fprintf(os.Stderr, "receiver collection interval: %s\n", cfgInterval)
	results := map[string]map[bool][]float64{}
	// mine: every program ID this process loaded.
	mine := map[ebpf.ProgramID]bool{}
	for _, w := range ws {
		results[w.name] = map[bool][]float64{}
		// Warm up once, untimed.
		if err := w.run(w.ops / 10); err != nil {
			return fmt.Errorf("%s warm-up: %w", w.name, err)
		}
	}
	for round := range *rounds {
		order := []bool{false, true}
		if round%2 == 1 {
			order = []bool{true, false}
		}
		for _, on := range order {
			var (
				stop func() error
				ours map[ebpf.ProgramID]bool
			)
			if on {
				before := progIDs()
				var err error
				if stop, err = startReceiver(cfgInterval); err != nil {
					return err
				}
				ours = map[ebpf.ProgramID]bool{}
				for id := range progIDs() {
					if !before[id] {
						ours[id] = true
					}
				}
				for id := range ours {
					mine[id] = true
				}
			} else {
				// Programs of an earlier "on" phase may still be listed
				// for a moment after Shutdown (the kernel frees them
				// asynchronously), but they are detached: not counted.
				others := 0
				for id := range progIDs() {
					if !mine[id] {
						others++
					}
				}
				if others > 0 {
					fmt.Fprintf(os.Stderr, "warning: %d tcpstats programs of another process are loaded; 'off' may not be off\n", others)
				}
			}
			for _, w := range ws {
				// Start from a collected heap in both modes: loading the
				// programs (BTF, verifier logs) leaves garbage whose
				// collection would otherwise land in the first "on"
				// workload; that one-time start-up cost is not a cost per
				// operation.
				runtime.GC()
				before := progStats(ours)
				cpu, err := measure(func() error { return w.run(w.ops) })
				if err != nil {
					return fmt.Errorf("%s: %w", w.name, err)
				}
				results[w.name][on] = append(results[w.name][on], float64(cpu.Nanoseconds())/float64(w.ops))
				if on {
					after := progStats(ours)
					var rt time.Duration
					var rc uint64
					if progNs[w.name] == nil {
						progNs[w.name], progRuns[w.name] = map[string][]float64{}, map[string][]float64{}
					}
					for name, a := range after {
						b := before[name]
						rt += a.rt - b.rt
						rc += a.rc - b.rc
						progNs[w.name][name] = append(progNs[w.name][name], float64((a.rt-b.rt).Nanoseconds())/float64(w.ops))
						progRuns[w.name][name] = append(progRuns[w.name][name], float64(a.rc-b.rc)/float64(w.ops))
					}
					bpfNs[w.name] = append(bpfNs[w.name], float64(rt.Nanoseconds())/float64(w.ops))
					bpfRuns[w.name] = append(bpfRuns[w.name], float64(rc)/float64(w.ops))
				}
			}
			if stop != nil {
				if err := stop(); err != nil {
					return err
				}
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", round+1, *rounds)
	}

	fmt.Printf("kernel receiver overhead, %d rounds alternating off/on, median CPU (user+sys) per operation, %d CPUs\n", *rounds, runtime.NumCPU())
	fmt.Printf("%-14s %-11s %12s %12s %9s %14s %12s %9s\n", "workload", "unit", "off ns/op", "on ns/op", "overhead", "bpf runs/op", "bpf ns/op", "bpf/off")
	for _, w := range ws {
		off, on := median(results[w.name][false]), median(results[w.name][true])
		bns := median(bpfNs[w.name])
		fmt.Printf("%-14s %-11s %12.0f %12.0f %+8.1f%% %14.1f %12.0f %8.2f%%\n", w.name, w.unit, off, on, (on-off)/off*100,
			median(bpfRuns[w.name]), bns, bns/off*100)
	}
	fmt.Println("overhead: CPU of the whole process (noisy on a shared machine); bpf ns/op: run time of the eBPF programs as counted by the kernel (bpf_stats)")
	fmt.Printf("\nper program, medians over rounds (receiver on)\n%-14s %-32s %10s %10s %10s\n", "workload", "program", "runs/op", "ns/op", "ns/run")
	for _, w := range ws {
		names := make([]string, 0, len(progNs[w.name]))
		for name := range progNs[w.name] {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			runs, ns := median(progRuns[w.name][name]), median(progNs[w.name][name])
			if runs == 0 {
				continue
			}
			fmt.Printf("%-14s %-32s %10.2f %10.0f %10.0f\n", w.name, name, runs, ns, ns/runs)
		}
	}
	return nil
}

// progIDs returns the IDs of the loaded tcpstats programs (named btf_* or
// raw_*, see ebpf/tcpstats/tcpstats_hooks.h), whoever loaded them.
func progIDs() map[ebpf.ProgramID]bool {
	ids := map[ebpf.ProgramID]bool{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return ids
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		p.Close()
		if err == nil && (strings.HasPrefix(info.Name, "btf_") || strings.HasPrefix(info.Name, "raw_")) {
			ids[id] = true
		}
	}
}

type progStat struct {
	rt time.Duration
	rc uint64
}

// progStats returns run time and run count of the programs ids, by name.
func progStats(ids map[ebpf.ProgramID]bool) map[string]progStat {
	out := map[string]progStat{}
	for id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		st, err := p.Stats()
		var name string
		if info, ierr := p.Info(); ierr == nil {
			name = info.Name
		}
		p.Close()
		if err != nil {
			continue
		}
		s := out[name]
		s.rt += st.Runtime
		s.rc += st.RunCount
		out[name] = s
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(f func() error) (time.Duration, error) {
	start := cpuTime()
	err := f()
	return cpuTime() - start, err
}

func startReceiver(interval time.Duration) (func() error, error) {
	f := kernelreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*kernelreceiver.Config)
	cfg.CollectionInterval = interval
	var r receiver.Metrics
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	if err != nil {
		return nil, err
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		return nil, fmt.Errorf("starting the kernel receiver (run as root): %w", err)
	}
	return func() error { return r.Shutdown(context.Background()) }, nil
}

// server accepts on ln and runs handle per connection until ln closes.
func server(ln net.Listener, handle func(net.Conn)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	return &wg
}

func listen() (net.Listener, error) { return net.Listen("tcp4", "127.0.0.1:0") }

// reqResp: n exchanges of 64 bytes each way on one connection.
func reqResp(n int) error {
	ln, err := listen()
	if err != nil {
		return err
	}
	wg := server(ln, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	defer wg.Wait()
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64)
	for range n {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
	}
	return nil
}

// connectClose: n connections opened, one byte answered, closed.
func connectClose(n int) error {
	ln, err := listen()
	if err != nil {
		return err
	}
	wg := server(ln, func(c net.Conn) { _, _ = c.Write([]byte{1}) })
	defer wg.Wait()
	defer ln.Close()
	b := make([]byte, 1)
	for range n {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			c.Close()
			return err
		}
		// SO_LINGER 0 would skip TIME_WAIT but also send a RST; close
		// normally like real clients do.
		c.Close()
	}
	return nil
}

// bulk: mib MiB through one connection.
func bulk(mib int) error {
	ln, err := listen()
	if err != nil {
		return err
	}
	got := make(chan int64, 1)
	wg := server(ln, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		got <- n
	})
	defer wg.Wait()
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for range mib {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return err
		}
	}
	c.Close()
	if n := <-got; n != int64(mib)<<20 {
		return errors.New("bulk: short read")
	}
	return nil
}
