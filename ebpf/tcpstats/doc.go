// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package tcpstats loads the tcpstats eBPF programs (tcpstats.c), attaches
// them to the kernel's TCP tracepoints and reads the in-kernel aggregates:
// per-peer retransmitted segments, resets, connect outcomes and latency, RTT,
// open connections by state, and the counters of what the kernel side had to
// drop or fold because a map was full.
package tcpstats
