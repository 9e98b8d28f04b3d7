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
#
# On a cold machine the installs dominate: Jaeger, Prometheus, Helm, etcd and
# kube-apiserver are built from the module proxy, and one cold `go build`
# leaves a core idle while it fetches modules and links. So up to
# VIGIL_CI_JOBS of the installs and the checks (default 3) run at once, each
# as soon as the phases it needs have passed (the checks after clang, ocb and
# mdatagen), and each phase's output is printed whole when it ends. The unit
# tests and then the end-to-end suite run without the installs: the kernel
# tests compare the receiver's counts with the kernel's own, and the suites
# should measure Vigil, not a machine busy compiling. Only the soak, which
# mostly waits, shares the machine (with the unit tests).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=versions.sh
. scripts/versions.sh

slots=${VIGIL_CI_JOBS:-3}
logs=$(mktemp -d "${TMPDIR:-/tmp}/vigil-ci.XXXXXX")
trap 'rm -rf "$logs"' EXIT

# The phases, in the order they start when free to: the longest builds
# first, but the short ocb and mdatagen builds before the others, so that the
# checks (1,325 CPU-s cold: go vet compiles the whole module) start early; then
# compile:race, which puts the unit tests' -race packages in Go's build
# cache while the backends build (`go list -export` compiles without
# linking), so that the unit phase, which runs alone, mostly links and tests
# (cold, 2026-12-05, README: 1,074 s → 284 s). Every phase is CPU-bound on
# 2 cores, so what shortens a cold run is less work: go vet runs with the
# shipped build's flags (scripts/build.sh --vet), which makes its compiles
# the ones the e2e suite's build of vigil reuses, where a third compile of
# the tree (810 CPU-s) used to be.
names=()
declare -A needs=() cmd=() shown=() state=() t_start=() t_wall=() byjob=()
phase() { # name "needed phases" cmd...
  local n=$1; names+=("$n"); needs[$n]=$2; shift 2
  cmd[$n]=$(printf '%q ' "$@"); shown[$n]="$*"; state[$n]=wait
}
phase toolchain:debian "" bash scripts/toolchain.sh install debian
phase backends:debian "" bash scripts/backends.sh install debian
phase k8s "" bash scripts/k8s.sh install
phase toolchain:ocb "" bash scripts/toolchain.sh install ocb
phase toolchain:mdatagen "" bash scripts/toolchain.sh install mdatagen
phase checks "toolchain:debian toolchain:ocb toolchain:mdatagen" bash scripts/check.sh
phase backends:jaeger "" bash scripts/backends.sh install jaeger
phase compile:race "toolchain:debian" go list -race -export -deps -test -f '{{with .Error}}{{.}}{{end}}' ./...
phase toolchain:helm "" bash scripts/toolchain.sh install helm
phase backends:prometheus "" bash scripts/backends.sh install prometheus
phase backends:victorialogs "" bash scripts/backends.sh install victorialogs
phase backends:telemetrygen "" bash scripts/backends.sh install telemetrygen
# Every install step is in one list of versions.sh or the other: a step
# added there and not here would never run.
for step in "${TOOLCHAIN_STEPS[@]}"; do [ -n "${state[toolchain:$step]:-}" ] || { echo "test.sh: no phase for toolchain step $step" >&2; exit 2; }; done
for step in "${BACKEND_STEPS[@]}"; do [ -n "${state[backends:$step]:-}" ] || { echo "test.sh: no phase for backends step $step" >&2; exit 2; }; done

running=0
start() { # name
  local n=$1
  echo "=== phase $n: ${shown[$n]}"
  t_start[$n]=$SECONDS
  # bash's time keyword reports the CPU of every process the phase waited for.
  ( TIMEFORMAT='%U %S'; { time bash -c "${cmd[$n]}" >"$logs/$n.log" 2>&1; } 2>"$logs/$n.cpu" ) &
  byjob[$!]=$n; state[$n]=run; running=$((running + 1))
}
finish() { # pid status
  local n=${byjob[$1]}
  t_wall[$n]=$((SECONDS - t_start[$n]))
  if [ "$2" -eq 0 ]; then state[$n]=ok; else state[$n]=FAILED; fi
  echo "=== phase $n output"
  cat "$logs/$n.log"
  echo "=== phase $n ${state[$n]} after ${t_wall[$n]}s"
  running=$((running - 1))
}
while :; do
  pending=0
  for n in "${names[@]}"; do
    [ "${state[$n]}" = wait ] || continue
    ready=1
    for d in ${needs[$n]}; do
      case ${state[$d]} in
        ok) ;;
        FAILED | skipped) state[$n]=skipped; echo "=== phase $n skipped: $d failed"; ready=0; break ;;
        *) ready=0 ;;
      esac
    done
    [ "${state[$n]}" = wait ] || continue
    pending=1
    if [ $ready = 1 ] && [ $running -lt "$slots" ]; then start "$n"; fi
  done
  [ $running -gt 0 ] || { [ $pending = 0 ] && break; echo "test.sh: phases wait on each other" >&2; exit 2; }
  wait -n -p done_pid; rc=$?
  finish "$done_pid" "$rc"
done

# Then, one at a time, the unit tests (they need gcc for -race, Helm and
# promtool) and the end-to-end suite (every install); the 5-minute soak,
# TestSoak, runs beside the unit tests (below; scripts/soak.sh runs the hour).
alone() { # name "needed phases" cmd...
  local n=$1 d; names+=("$n"); state[$n]=skipped
  for d in $2; do
    [ "${state[$d]}" = ok ] || { echo "=== phase $n skipped: $d did not pass"; return; }
  done
  shift 2
  echo "=== phase $n: $*"
  t_start[$n]=$SECONDS
  TIMEFORMAT='%U %S'
  if { time "$@" 2>&1 | tee "$logs/$n.out"; } 2>"$logs/$n.cpu"; then state[$n]=ok; else state[$n]=FAILED; fi
  t_wall[$n]=$((SECONDS - t_start[$n]))
  [ "${state[$n]}" = ok ] || failures "$n" <"$logs/$n.out"
}
# failures prints, after a failed test phase, each failed test with the last
# lines its test files logged (t.Errorf, t.Fatalf, t.Logf: "  x_test.go:N:
# ..."), so that the reason is next to the summary and not 10,000 lines up.
# go test -v names the running test in its "=== RUN/CONT/NAME" lines;
# without -v a failed test's messages follow its "--- FAIL" line.
failures() { # phase <output
  echo "=== phase $1: failed tests and their last test-file messages"
  awk '
    after > 0 && /^[ \t]/ { print; after--; next }
    { after = 0 }
    /^=== (RUN|CONT|NAME) / { cur = $3; next }
    /^[ \t]+[A-Za-z0-9_]+_test\.go:[0-9]+: / {
      if (cur == "") next
      i = n[cur]++ % 8; msg[cur, i] = substr($0, 1, 600); next
    }
    /^[ \t]*--- FAIL: / {
      name = $3; print $0
      k = n[name]; for (j = (k > 8 ? k - 8 : 0); j < k; j++) print "    " msg[name, j % 8]
      after = 20 # without -v, the messages follow the --- FAIL line
    }
    /^(FAIL|panic:)/ { print }
  '
}
installs=()
for n in "${names[@]}"; do case $n in toolchain:* | backends:* | k8s) installs+=("$n") ;; esac; done

# The soak (TestSoak: 5 minutes of steady load through every pipeline, then
# resource checks) mostly waits: 302 s of the e2e suite's 1,428 s wall and
# little of its CPU. So it runs while the unit tests do, in a network
# namespace of its own (the backends listen on fixed loopback ports) with its
# own backends and temp dirs, and the rest of the e2e suite skips it. Where
# unshare cannot make a namespace (not root) it runs after the suite.
soak_cmd=(env VIGIL_SOAK_DURATION="${VIGIL_SOAK_DURATION:-5m}" VIGIL_SOAK_RESTART_EVERY="${VIGIL_SOAK_RESTART_EVERY:-1m}"
  go test -tags e2e -count=1 -v -timeout 30m -run '^TestSoak$' ./test/e2e/)
soak_pid= soak_ready=1
for d in "${installs[@]}"; do [ "${state[$d]}" = ok ] || soak_ready=; done
if [ -n "$soak_ready" ] && unshare -n true 2>/dev/null; then
  echo "=== phase soak (alongside the unit tests, in its own network namespace): ${soak_cmd[*]}"
  mkdir -p "$logs/soak-tmp" "$logs/soak-run"
  names+=(soak); t_start[soak]=$SECONDS; state[soak]=run; soak_t0=$(date +%s)
  ( TIMEFORMAT='%U %S'
    { time unshare -n bash -c 'ip link set lo up && exec "$@"' soak \
      env TMPDIR="$logs/soak-tmp" VIGIL_RUN="$logs/soak-run" "${soak_cmd[@]}" >"$logs/soak.out" 2>&1; } 2>"$logs/soak.cpu"
    rc=$?; date +%s >"$logs/soak.end"; exit $rc ) &
  soak_pid=$!
fi
alone unit "toolchain:debian toolchain:helm backends:prometheus" go test -race -count=1 ./...
if [ -n "$soak_pid" ]; then
  alone e2e "${installs[*]}" go test -tags e2e -count=1 -v -timeout 60m -skip '^TestSoak$' ./test/e2e/
  if wait "$soak_pid"; then state[soak]=ok; else state[soak]=FAILED; fi
  t_wall[soak]=$(($(cat "$logs/soak.end" 2>/dev/null || date +%s) - soak_t0))
  echo "=== phase soak output (it ran alongside the unit tests)"
  cat "$logs/soak.out"
  echo "=== phase soak ${state[soak]} after ${t_wall[soak]}s"
  [ "${state[soak]}" = ok ] || failures soak <"$logs/soak.out"
else
  alone e2e "${installs[*]}" "${soak_cmd[@]:0:3}" go test -tags e2e -count=1 -v -timeout 60m ./test/e2e/
fi

echo
echo "=== phase timings (start: seconds after test.sh began; CPU: user + system seconds of the phase's processes)"
printf '%-22s %6s %6s %8s  %s\n' phase start wall CPU status
status=0
for n in "${names[@]}"; do
  cpu=-
  if [ -s "$logs/$n.cpu" ]; then read -r u s <"$logs/$n.cpu" && cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", u + s }'); fi
  printf '%-22s %6s %6s %8s  %s\n' "$n" "${t_start[$n]:--}" "${t_wall[$n]:--}" "$cpu" "${state[$n]}"
  [ "${state[$n]}" = ok ] || status=1
done
echo "total                  $SECONDS s wall ($slots phases at once until the unit tests)"
exit $status
