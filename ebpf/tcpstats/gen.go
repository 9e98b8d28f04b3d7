// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package tcpstats

// The BPF toolchain is pinned here and only here: Debian bookworm's clang-14
// and llvm-strip-14 (installed by scripts/ebpf-toolchain.sh). The output,
// tcpstats_bpfel.go and tcpstats_bpfel.o, is committed so that building Vigil
// needs no clang; scripts/check-bpf2go.sh regenerates it and fails on a diff.
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -cflags "-O2 -g -Wall -Werror -Wpadded -mcpu=v3" -tags linux -target bpfel -type peer_key -type peer_stats -type sock_bucket -type cgroup_path -type drop_reason tcpstats tcpstats.c -- -I../headers
