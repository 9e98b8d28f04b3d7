// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package proc reads a process's CPU time and memory from /proc, for the
// bench tools that measure whole processes (bench/runner, bench/budget).
package proc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-otel/vigil/internal/syncbuf"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Vigil builds for.
const clockTicks = 100

// CPUSeconds returns the user plus system CPU time the process has used.
func CPUSeconds(pid int) (float64, error) {
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

// StatusKiB returns one "kB" field of /proc/PID/status, key with its colon
// ("VmRSS:", "RssAnon:", "RssFile:", "VmHWM:").
func StatusKiB(pid int, key string) (int64, error) {
	v, err := Field(fmt.Sprintf("/proc/%d/status", pid), key)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
}

// Field returns the rest of the first line of the file at path that starts
// with key, trimmed (for /proc/PID/status, /proc/meminfo, /proc/cpuinfo).
func Field(path, key string) (string, error) {
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

// PeakAnon returns the largest RssAnon seen every 100 ms until stop. The
// kernel keeps a high-water mark only for the whole RSS, which also counts
// the binary's mapped pages; a bigger binary (Vigil links more components)
// raises that without using more memory for data.
func PeakAnon(pid int, stop <-chan struct{}) int64 {
	var peak int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, err := StatusKiB(pid, "RssAnon:"); err == nil {
			peak = max(peak, v)
		}
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
	}
}

// FreePorts returns n loopback TCP ports that were free a moment ago.
func FreePorts(n int) ([]string, error) {
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

// WaitTCP waits until addr accepts a connection, the started process
// reports its exit on exited, or timeout passes.
func WaitTCP(addr string, exited <-chan error, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			return fmt.Errorf("the collector exited during start: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the collector is not listening on %s after %s", addr, timeout)
}

// Collector is a collector process started by StartCollector.
type Collector struct {
	Cmd *exec.Cmd
	out syncbuf.Buffer // stdout and stderr
	// done is closed once the process has exited.
	done  chan struct{}
	grace time.Duration
}

// StartCollector starts cmd, keeping its output, and waits until it listens
// on addr (see WaitTCP). If it does not within timeout, or exits, the
// process is stopped and the error carries the last 20 lines of its output.
// Stop waits up to grace for the process to exit after SIGTERM.
func StartCollector(cmd *exec.Cmd, addr string, timeout, grace time.Duration) (*Collector, error) {
	c := &Collector{Cmd: cmd, done: make(chan struct{}), grace: grace}
	cmd.Stdout, cmd.Stderr = &c.out, &c.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		close(c.done)
	}()
	if err := WaitTCP(addr, exited, timeout); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, Tail(c.Output(), 20))
	}
	return c, nil
}

// Output is what the process has written so far.
func (c *Collector) Output() string { return c.out.String() }

// Stop sends SIGTERM, waits up to the grace period for the exit and kills
// the process after that. It returns once the process is gone.
func (c *Collector) Stop() {
	_ = c.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(c.grace):
		_ = c.Cmd.Process.Kill()
		<-c.done
	}
}

// Tail returns the last n lines of s, for a child's output in an error.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
