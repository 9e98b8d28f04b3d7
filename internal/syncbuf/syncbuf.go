// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package syncbuf provides Buffer, a bytes.Buffer that one goroutine may
// write while another reads it: the output of a child process (vigil
// started by a test or a bench tool), read while the process runs.
package syncbuf // import "github.com/vigil-otel/vigil/internal/syncbuf"

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent Write and String. The zero
// value is an empty buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
