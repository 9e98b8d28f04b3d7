// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package proc

import (
	"errors"
	"net"
	"os"
	"os/exec"
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

func TestStart(t *testing.T) {
	// A process that runs until stopped: stop ends it with SIGTERM.
	cmd := exec.Command("sleep", "60")
	exited, stop, err := Start(cmd, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-exited; err == nil {
		t.Error("sleep stopped by SIGTERM: exit status nil")
	}
	// A process that exits at once, its status read (as WaitTCP does) before
	// stop: stop returns without waiting for the grace period.
	exited, stop, err = Start(exec.Command("false"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitTCP("127.0.0.1:1", exited, time.Minute); err == nil {
		t.Error("WaitTCP after the process exited: no error")
	}
	stop()
	if _, _, err := Start(exec.Command("/nonexistent/binary"), time.Second); err == nil {
		t.Error("Start of a missing binary: no error")
	}
	if got := Tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("Tail = %q, want %q", got, "b\nc")
	}
}
