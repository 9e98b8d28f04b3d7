// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !(linux || darwin || freebsd)

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

// freeBytes cannot tell the free space here: the low-space guard is off.
func freeBytes(string) (uint64, bool, error) { return 0, false, nil }
