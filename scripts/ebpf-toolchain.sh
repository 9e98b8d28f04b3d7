#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# ebpf-toolchain.sh installs the Debian packages the kernel receiver's tests
# and scripts/check-bpf2go.sh need: the `debian` step of scripts/toolchain.sh
# (the package list is in scripts/versions.sh: clang-14, llvm-14, libbpf-dev,
# bpftool for the eBPF programs; iproute2 and nftables for the netns lab; gcc
# for the race detector, since go test -race needs cgo).
#
#   scripts/ebpf-toolchain.sh install
#
# Building Vigil needs none of this: the bpf2go output (*_bpfel.go/.o) is
# committed. It is needed to regenerate that output (scripts/check-bpf2go.sh)
# and to run the receiver's root tests (network namespaces, veth, nftables).
#
# The compiler (clang-14, llvm-strip-14) and its flags are named in one place:
# the //go:generate line of ebpf/tcpstats/gen.go. Regeneration with Debian's
# clang-14 is byte-identical; another clang version produces a different .o,
# which check-bpf2go.sh reports as a diff.
set -euo pipefail
case "${1:-install}" in
  install) exec bash "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh" install debian ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
