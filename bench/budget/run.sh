#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh measures the whole agent's budget: the embedded default config of
# two vigil binaries, alternated, idle and at a mixed load (OTLP traces,
# metrics and logs at fixed rates, pod log files written, a scrape target),
# CPU-seconds and RSS from /proc (bench/budget/main.go). Build both binaries
# the same way (bash scripts/build.sh: CGO_ENABLED=0 -trimpath).
# Usage: bash bench/budget/run.sh BEFORE_BIN AFTER_BIN [budget flags...]
#   e.g. bash bench/budget/run.sh /tmp/vigil-before bin/vigil -reps 3
# The after side gets the scrape target as a second job of the prometheus
# receiver (a binary without that receiver cannot take the job).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
before=$1; after=$2; shift 2
cd "$root"
go build -o bin/bench-loadgen ./bench/loadgen
go build -o bin/bench-budget ./bench/budget
exec ./bin/bench-budget -loadgen bin/bench-loadgen -side "before=$before" -side "after=$after,scrape-app" "$@"
