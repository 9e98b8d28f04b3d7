#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh measures the kernel receiver's CPU overhead on loopback TCP
# (request/response, connect/close, bulk), receiver off vs on, alternating,
# medians. Needs root (it loads the eBPF programs). Extra flags go to the
# program: bash bench/kernel/run.sh -rounds 9 -reqresp 100000
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [[ $(id -u) -ne 0 ]]; then
  echo "bench/kernel/run.sh: needs root to load eBPF programs" >&2
  exit 1
fi
go build -o "${TMPDIR:-/tmp}/vigil-kernelbench" ./bench/kernel
exec "${TMPDIR:-/tmp}/vigil-kernelbench" "$@"
