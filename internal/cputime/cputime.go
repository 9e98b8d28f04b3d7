// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package cputime reads the process's CPU time, what the in-process
// benchmarks report per op: on a busy machine wall time per op loses its
// meaning, and this counts the garbage collector's work too.
package cputime // import "github.com/vigil-otel/vigil/internal/cputime"

import (
	"syscall"
	"time"
)

// Process is the CPU time (user and system) the process has used so far
// (getrusage); zero if it cannot be read.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
