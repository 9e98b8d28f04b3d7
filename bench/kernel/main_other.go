// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !linux

// Command kernelbench measures the kernel receiver's overhead; it needs
// Linux (see main.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kernelbench: Linux only")
	os.Exit(1)
}
