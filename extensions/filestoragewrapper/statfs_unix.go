// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import "syscall"

// freeBytes returns the space available to this process on the file
// system holding dir: statfs's f_bavail, what an unprivileged process may
// use. Root may also write into a file system's reserved blocks, so for
// root the guard acts a little early, which is the safe side.
func freeBytes(dir string) (free uint64, ok bool, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true, nil //nolint:gosec // block counts and sizes are non-negative
}
