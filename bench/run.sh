#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh is `make bench`: the same telemetrygen load through vigil and through
# the peer (upstream collector, bench/peer/builder-config.yaml), alternating,
# medians and ratios. Arguments are passed to bench/runner (e.g.
# -signals metrics -shapes saturate -reps 3 -duration 30s). The report is
# printed and saved under bench/results/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/backends.sh install telemetrygen >&2
eval "$(bash scripts/backends.sh env)"
peer=$(bash bench/peer/build.sh)
bash scripts/build.sh # CGO_ENABLED=0, as ocb builds the peer
go build -o bin/bench-runner ./bench/runner
go build -o bin/bench-loadgen ./bench/loadgen
mkdir -p bench/results
out=bench/results/$(date -u +%Y%m%dT%H%M%SZ).md
./bin/bench-runner -vigil bin/vigil -peer "$peer" -telemetrygen "$VIGIL_TELEMETRYGEN_BIN" "$@" | tee "$out"
echo "saved $out" >&2
