#!/usr/bin/env bash
# test.sh (also `make test`) is what CI runs: it installs what the tests need
# (backends are cached under ~/.cache/vigil, keyed by version), then runs the
# static checks, the unit tests with -race, and the end-to-end suite against
# real Jaeger, Prometheus and Loki on loopback. It prints how long each phase
# took, so CI's 90-minute budget stays visible.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

declare -a summary=()
status=0
phase() { # name cmd...
  local name=$1; shift
  local t0=$SECONDS
  echo "=== phase $name: $*"
  if "$@"; then
    summary+=("$(printf '%-10s %5ds  ok' "$name" $((SECONDS - t0)))")
  else
    summary+=("$(printf '%-10s %5ds  FAILED' "$name" $((SECONDS - t0)))")
    status=1
  fi
}

phase backends bash scripts/backends.sh install
phase helm bash scripts/helm.sh install
phase k8s bash scripts/k8s.sh install
phase toolchain bash scripts/ebpf-toolchain.sh install
phase checks bash scripts/check.sh
phase unit go test -race -count=1 ./...
phase e2e go test -tags e2e -count=1 -v -timeout 45m ./test/e2e/

echo
echo "=== phase timings"
printf '%s\n' "${summary[@]}"
exit $status
