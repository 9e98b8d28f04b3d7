// SPDX-License-Identifier: Apache-2.0

package cgroupfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxFileSize bounds what is read of one controller file. The files the
// receiver reads are a few hundred bytes; a larger one is malformed.
const maxFileSize = 8 << 10

// Reader reads small cgroup files into one reused buffer. It is not safe
// for concurrent use; the slice a Read returns is valid until the next Read.
type Reader struct {
	buf []byte
}

// NewReader returns a Reader.
func NewReader() *Reader {
	return &Reader{buf: make([]byte, maxFileSize+1)}
}

// Read returns the content of the file at path. A file that does not exist
// (a cgroup removed since it was listed, a file this kernel does not have)
// gives an error matching os.ErrNotExist; a file larger than 8 KiB gives
// ErrMalformed.
func (r *Reader) Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := 0
	for n < len(r.buf) {
		m, err := f.Read(r.buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, syscall.ENODEV) {
			// cgroupfs answers ENODEV when the cgroup was removed
			// between open and read: it is gone.
			return nil, fmt.Errorf("reading %s: %w", path, os.ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if m == 0 {
			break
		}
	}
	if n > maxFileSize {
		return nil, malformed("%s is larger than %d bytes", path, maxFileSize)
	}
	return r.buf[:n], nil
}
