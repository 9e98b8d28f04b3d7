#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# test.sh (also `make test`) is what CI runs: it installs what the tests need
# (the toolchain and the backends, each install step its own phase; Go builds
# are cached under ~/.cache/vigil, keyed by version), then runs the static
# checks, the unit tests with -race, and the end-to-end suite against real
# Jaeger, Prometheus and VictoriaLogs (the logs backend, through Loki's push
# API) on loopback. It prints how long each phase took, so CI's 90-minute
# budget stays visible, and go test's own ok/FAIL lines.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=versions.sh
. scripts/versions.sh

declare -a summary=()
status=0
phase() { # name cmd...
  local name=$1; shift
  local t0=$SECONDS
  echo "=== phase $name: $*"
  if "$@"; then
    summary+=("$(printf '%-22s %5ds  ok' "$name" $((SECONDS - t0)))")
  else
    summary+=("$(printf '%-22s %5ds  FAILED' "$name" $((SECONDS - t0)))")
    status=1
  fi
}

for step in "${TOOLCHAIN_STEPS[@]}"; do phase "toolchain:$step" bash scripts/toolchain.sh install "$step"; done
for step in "${BACKEND_STEPS[@]}"; do phase "backends:$step" bash scripts/backends.sh install "$step"; done
phase k8s bash scripts/k8s.sh install
phase checks bash scripts/check.sh
phase unit go test -race -count=1 ./...
# The 5-minute soak (TestSoak; scripts/soak.sh runs the hour) is part of the suite.
phase e2e env VIGIL_SOAK_DURATION="${VIGIL_SOAK_DURATION:-5m}" VIGIL_SOAK_RESTART_EVERY="${VIGIL_SOAK_RESTART_EVERY:-1m}" \
  go test -tags e2e -count=1 -v -timeout 60m ./test/e2e/

echo
echo "=== phase timings"
printf '%s\n' "${summary[@]}"
exit $status
