// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package cgroupfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// dirHandle is unused off Linux: files are opened by their full path.
// cgroups are a Linux feature; this keeps the package building elsewhere.
type dirHandle struct{}

func openDir(path string) (dirHandle, error) {
	if _, err := os.Stat(path); err != nil {
		return dirHandle{}, err
	}
	return dirHandle{}, nil
}

func closeDir(dirHandle) {}

func readFileAt(_ dirHandle, dir, name string, buf []byte) (int, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s/%s: %w", dir, name, err)
	}
	return n, nil
}

// Inode reports no inode off Linux (there are no cgroup ids).
func Inode(path string) (uint64, bool) {
	_, err := os.Stat(path)
	return 0, err == nil
}

// InodeOf reports no inode off Linux.
func InodeOf(os.FileInfo) (uint64, bool) { return 0, false }
