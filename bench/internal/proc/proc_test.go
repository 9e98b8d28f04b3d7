// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package proc

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	for _, key := range []string{"VmRSS:", "RssAnon:", "RssFile:", "VmHWM:"} {
		v, err := StatusKiB(pid, key)
		if err != nil || v <= 0 {
			t.Errorf("StatusKiB(%s) = %d, %v; want > 0", key, v, err)
		}
	}
	if _, err := StatusKiB(pid, "NoSuchKey:"); err == nil {
		t.Error("StatusKiB of a missing key: no error")
	}
	// Burn a little CPU so that at least one tick is counted.
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	if s, err := CPUSeconds(pid); err != nil || s <= 0 {
		t.Errorf("CPUSeconds = %v, %v (x=%d); want > 0", s, err, x)
	}
}

func TestWaitTCP(t *testing.T) {
	ports, err := FreePorts(2)
	if err != nil || len(ports) != 2 || ports[0] == ports[1] {
		t.Fatalf("FreePorts(2) = %v, %v", ports, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+ports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := WaitTCP(l.Addr().String(), nil, time.Second); err != nil {
		t.Errorf("WaitTCP on a listener: %v", err)
	}
	exited := make(chan error, 1)
	exited <- errors.New("exit status 1")
	if err := WaitTCP("127.0.0.1:"+ports[1], exited, time.Minute); err == nil {
		t.Error("WaitTCP after the process exited: no error")
	}
}

func TestStartCollector(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A process that runs until stopped ("listening": l is the test's).
	c, err := StartCollector(exec.Command("sleep", "60"), l.Addr().String(), time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop() // SIGTERM ends sleep; a kill would wait a minute first
	if c.Cmd.ProcessState == nil || c.Cmd.ProcessState.Success() {
		t.Errorf("after Stop: %v, want ended by SIGTERM", c.Cmd.ProcessState)
	}
	// A process that exits during start: the error carries its output, and
	// the stop that follows does not wait for the grace period.
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = StartCollector(exec.Command("sh", "-c", "echo bad config; exit 1"), "127.0.0.1:"+ports[0], time.Minute, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "exited during start") || !strings.HasSuffix(err.Error(), "\nbad config") {
		t.Errorf("StartCollector of a process that exits: %v", err)
	}
	if _, err := StartCollector(exec.Command("/nonexistent/binary"), "127.0.0.1:1", time.Second, time.Second); err == nil {
		t.Error("StartCollector of a missing binary: no error")
	}
	if got := Tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("Tail = %q, want %q", got, "b\nc")
	}
}
