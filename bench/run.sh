#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh is `make bench`: the same load through vigil and through the peers
# (the upstream collector, bench/peer/builder-config.yaml, and the Prometheus
# agent), alternating, medians and ratios. Arguments are passed to
# bench/runner (e.g. -signals metrics -shapes saturate -reps 3 -duration 30s;
# issue 17's comparison: -sides vigil,vigil-durable,peer,peer-durable,prom-agent
# -shapes batched,batched-http). The report is printed and saved under
# bench/results/ with its JSON, and bench/chart draws the JSON as a PNG.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/backends.sh install telemetrygen prometheus >&2
eval "$(bash scripts/backends.sh env)"
peer=$(bash bench/peer/build.sh)
bash scripts/build.sh # CGO_ENABLED=0, as ocb builds the peer
go build -o bin/bench-runner ./bench/runner
go build -o bin/bench-loadgen ./bench/loadgen
mkdir -p bench/results
out=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
./bin/bench-runner -vigil bin/vigil -peer "$peer" -prometheus "$VIGIL_PROMETHEUS_BIN" \
  -telemetrygen "$VIGIL_TELEMETRYGEN_BIN" -json "$out.json" "$@" | tee "$out.md"
go run ./bench/chart -in "$out.json" -out "$out.png"
echo "saved $out.md, $out.json, $out.png" >&2
