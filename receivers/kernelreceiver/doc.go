// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:generate bash ../../scripts/mdatagen.sh metadata.yaml

// Package kernelreceiver implements the `kernel` receiver: TCP health signals
// that only the kernel sees (retransmitted segments, resets, connect attempts,
// failures and latency, RTT, open connections by state), aggregated in eBPF
// maps by the programs of ebpf/tcpstats and turned into cumulative OTel
// metrics on an interval, attributed to the socket's container and pod
// through its cgroup.
package kernelreceiver // import "github.com/vigil-otel/vigil/receivers/kernelreceiver"
