// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package cgroupfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirHandle is an O_PATH descriptor of a cgroup directory.
type dirHandle int

func openDir(path string) (dirHandle, error) {
	fd, err := retryEINTR(func() (int, error) {
		return unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return dirHandle(fd), nil
}

func closeDir(h dirHandle) {
	if h >= 0 {
		_ = syscall.Close(int(h))
	}
}

// readFileAt reads the file name of directory h into buf until EOF or buf
// is full, with plain system calls: openat, read until 0, close. os.Open
// would add an fstat and an *os.File with its cleanup for each of the
// several files read per cgroup per scrape.
func readFileAt(h dirHandle, dir, name string, buf []byte) (int, error) {
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Openat(int(h), name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dir + "/" + name, Err: err}
	}
	defer func() { _ = syscall.Close(fd) }()
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("reading %s/%s: %w", dir, name, err)
		}
		if m <= 0 {
			break
		}
		n += m
	}
	return n, nil
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		fd, err := f()
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
}

// Inode returns the inode number of path: for a cgroup2 directory, its
// cgroup id.
func Inode(path string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// InodeOf returns the inode number in a FileInfo from the walk.
func InodeOf(info os.FileInfo) (uint64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}
