// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package cgroupreceiver implements the `cgroup` receiver: per-container CPU
// usage and throttling, memory usage, peak and OOM kills, and pressure stall
// information, read from the cgroup files (v2 unified, or v1 and hybrid
// hierarchies found in mountinfo) on a scrape interval, attributed to the
// container and pod like the kernel receiver's TCP signals, plus the node's
// pressure from /proc/pressure.
package cgroupreceiver // import "github.com/vigil-otel/vigil/receivers/cgroupreceiver"
