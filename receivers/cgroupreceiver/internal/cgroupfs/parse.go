// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package cgroupfs reads the cgroup file system: it finds the cgroup v1 and
// v2 hierarchies in mountinfo and parses the controller files the cgroup
// receiver reports (flat-keyed files such as cpu.stat, single-value files
// such as memory.current, and pressure stall information). The parsers never
// panic on malformed input; they return an error instead.
package cgroupfs // import "github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/cgroupfs"

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"math"
)

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed cgroup file")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ParseUint parses a single-value file such as memory.current,
// memory.usage_in_bytes or cpuacct.usage: one unsigned decimal number,
// optionally followed by a newline.
func ParseUint(data []byte) (uint64, error) {
	s := bytes.TrimRight(data, "\n")
	if len(s) == 0 {
		return 0, malformed("empty value")
	}
	v, ok := parseUint(s)
	if !ok {
		return 0, malformed("value %q is not an unsigned integer", truncate(s))
	}
	return v, nil
}

// nonEmptyLines yields data's lines without their newline, skipping blank
// ones.
func nonEmptyLines(data []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			var line []byte
			line, data, _ = bytes.Cut(data, []byte{'\n'})
			if len(line) > 0 && !yield(line) {
				return
			}
		}
	}
}

// ParseFlatKeyed parses a flat-keyed file ("key value" per line, as
// cgroup-v2.rst calls it: cpu.stat, memory.events, and v1's cpu.stat and
// memory.oom_control) and calls fn for every line. Blank lines are skipped;
// a line that is not a key, one space and an unsigned integer is an error,
// returned after the well-formed lines were passed to fn.
func ParseFlatKeyed(data []byte, fn func(key []byte, value uint64)) error {
	var firstErr error
	for line := range nonEmptyLines(data) {
		key, val, ok := bytes.Cut(line, []byte{' '})
		if !ok || len(key) == 0 {
			if firstErr == nil {
				firstErr = malformed("line %q is not \"key value\"", truncate(line))
			}
			continue
		}
		v, ok := parseUint(val)
		if !ok {
			if firstErr == nil {
				firstErr = malformed("value of %q is not an unsigned integer: %q", truncate(key), truncate(val))
			}
			continue
		}
		fn(key, v)
	}
	return firstErr
}

// Pressure is the content of a pressure file (cpu.pressure, memory.pressure,
// io.pressure in a cgroup v2 directory, or /proc/pressure/<resource>): the
// cumulative stall time in microseconds of the "some" and "full" lines. A
// line the file does not have is reported as absent (HasFull false for
// /proc/pressure/cpu before Linux 5.13).
type Pressure struct {
	SomeTotal uint64
	FullTotal uint64
	HasSome   bool
	HasFull   bool
}

// ParsePressure parses a PSI file (Documentation/accounting/psi.rst):
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// Only the totals are kept: the averages are the kernel's own smoothing,
// which a time series store can recompute from the totals. Fields other than
// total are not validated, so that fields added later do not break it.
func ParsePressure(data []byte) (Pressure, error) {
	var p Pressure
	for line := range nonEmptyLines(data) {
		kind, rest, _ := bytes.Cut(line, []byte{' '})
		var total uint64
		found := false
		for len(rest) > 0 {
			var field []byte
			field, rest, _ = bytes.Cut(rest, []byte{' '})
			if v, ok := bytes.CutPrefix(field, []byte("total=")); ok {
				n, ok := parseUint(v)
				if !ok {
					return Pressure{}, malformed("pressure total %q is not an unsigned integer", truncate(v))
				}
				total, found = n, true
			}
		}
		if !found {
			return Pressure{}, malformed("pressure line %q has no total", truncate(line))
		}
		switch string(kind) {
		case "some":
			p.SomeTotal, p.HasSome = total, true
		case "full":
			p.FullTotal, p.HasFull = total, true
		default:
			return Pressure{}, malformed("pressure line starts with %q, not some or full", truncate(kind))
		}
	}
	if !p.HasSome && !p.HasFull {
		return Pressure{}, malformed("pressure file has no line")
	}
	return p, nil
}

// parseUint parses an unsigned decimal number without allocating (the
// files are read on every scrape of every cgroup).
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// truncate bounds what a malformed file puts into an error message.
func truncate(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
