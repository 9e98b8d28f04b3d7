// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupfs

import (
	"errors"
	"fmt"
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

// Dir is an open cgroup directory whose files are read by name, so that
// the kernel resolves the cgroup's long path once per cgroup rather than
// once per file.
type Dir struct {
	path string
	h    dirHandle
}

// OpenDir opens a cgroup directory. A directory that does not exist (a
// cgroup removed since it was listed) gives an error matching
// os.ErrNotExist.
func (r *Reader) OpenDir(path string) (Dir, error) {
	h, err := openDir(path)
	if err != nil {
		return Dir{}, err
	}
	return Dir{path: path, h: h}, nil
}

// Close releases the directory.
func (d Dir) Close() { closeDir(d.h) }

// Path is the directory's path.
func (d Dir) Path() string { return d.path }

// Read returns the content of the file name in d. A file that does not
// exist (a cgroup removed meanwhile, a file this kernel does not have)
// gives an error matching os.ErrNotExist; a file larger than 8 KiB gives
// ErrMalformed.
func (r *Reader) Read(d Dir, name string) ([]byte, error) {
	n, err := readFileAt(d.h, d.path, name, r.buf)
	if errors.Is(err, syscall.ENODEV) {
		// cgroupfs answers ENODEV when the cgroup was removed between
		// open and read: it is gone.
		return nil, fmt.Errorf("reading %s/%s: %w", d.path, name, os.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if n > maxFileSize {
		return nil, malformed("%s/%s is larger than %d bytes", d.path, name, maxFileSize)
	}
	return r.buf[:n], nil
}
