#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# soak.sh runs the end-to-end soak (TestSoak in test/e2e/soak_test.go)
# against the real backends: the embedded default configuration under a
# steady mixed load (logs, metrics, traces with their span metrics and
# baselines, the kernel and cgroup receivers), one backend restarted in
# turn every RESTART_EVERY, then exact counts of what was acknowledged
# against what is stored, and RSS, goroutines and open file descriptors
# every 5 s in OUT/soak.csv (the test log in OUT/soak.log).
#
# Usage: scripts/soak.sh [DURATION [RESTART_EVERY [OUT]]]
#        defaults: 1h, 10m, ./soak-out   (CI runs the 5m/1m version)
# It takes the machine's e2e lock like the suite does (backends listen on
# fixed ports), and needs root for the kernel receiver's signals.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=${1:-1h}
every=${2:-10m}
out=$(mkdir -p "${3:-soak-out}" && cd "${3:-soak-out}" && pwd)
cd "$root"
# No go test timeout: the soak's length is the caller's choice.
VIGIL_SOAK_DURATION=$duration VIGIL_SOAK_RESTART_EVERY=$every VIGIL_E2E_ARTIFACTS=$out \
  go test -tags e2e -count=1 -v -timeout 0 -run '^TestSoak$' ./test/e2e/ 2>&1 | tee "$out/soak.log"
exit "${PIPESTATUS[0]}"
