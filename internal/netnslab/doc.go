// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package netnslab builds throw-away network labs for root tests: two
// network namespaces joined by a veth pair, sockets opened inside them, the
// kernel's own TCP counters read from inside them, and packet loss injected
// by a small TCX eBPF program (kernels here have no sch_netem), and the test
// binary re-run as a TCP client inside a namespace and a cgroup (RunClient).
// Tests of the kernel receiver and the end-to-end kernel tests share it.
// Linux only.
package netnslab
