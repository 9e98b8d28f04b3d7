#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# check-licenses.sh is the licence and version gate (run by scripts/check.sh,
# so in CI). It fails when
#   - a Go module linked into vigil (./cmd/gateway, the go.mod tools such as
#     bpf2go, every direct requirement of go.mod) or into a program these
#     scripts build (the list below, from scripts/versions.sh and the
#     control-plane pins of scripts/k8s.sh) is under the
#     AGPL, GPL or SSPL, or under a licence outside the allowed set that is
#     not in scripts/licenses-reviewed.tsv;
#   - THIRD_PARTY.md (module, version, licence, used by) is stale;
#   - a version README.md documents differs from its pin in versions.sh or
#     go.mod, or a pin is not documented.
# It prints the licence table. Nothing is compiled but the gate itself: each
# program's modules are resolved from its own go.mod (go list -deps), as
# `go install pkg@version` resolves them, so the gate can run before the
# builds. See internal/cmd/licensegate.
#
# Usage: scripts/check-licenses.sh [-write]   (-write regenerates THIRD_PARTY.md)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=versions.sh
. scripts/versions.sh
# As scripts/backends.sh derives it: Prometheus 3.x.y is module v0.3xx.y.
IFS=. read -r prom_major prom_minor prom_patch <<<"$PROMETHEUS_VERSION"
prometheus_module_version=$(printf 'v0.%d%02d.%d' "$prom_major" "$prom_minor" "$prom_patch")

# The control plane's pins live in scripts/k8s.sh (its defaults).
kube_version=$(sed -n 's/^KUBE_VERSION=${VIGIL_KUBE_VERSION:-\([^}]*\)}.*/\1/p' scripts/k8s.sh)
etcd_version=$(sed -n 's/^ETCD_VERSION=${VIGIL_ETCD_VERSION:-\([^}]*\)}.*/\1/p' scripts/k8s.sh)
[ -n "$kube_version" ] && [ -n "$etcd_version" ] || { echo "check-licenses: no KUBE_VERSION/ETCD_VERSION pin in scripts/k8s.sh" >&2; exit 1; }

targets=$(mktemp)
trap 'rm -f "$targets"' EXIT
# name module version packages [build tags] [staging=VERSION]: what
# scripts/toolchain.sh, scripts/helm.sh, scripts/backends.sh and
# scripts/k8s.sh build (staging: the version of Kubernetes' staging modules,
# which k8s.sh's wrapper module substitutes for kubernetes' ./staging
# replacements). Add a line here with every
# new program a script builds.
cat >"$targets" <<TARGETS
ocb          go.opentelemetry.io/collector/cmd/builder                             v$OCB_VERSION             .
mdatagen     go.opentelemetry.io/collector/cmd/mdatagen                            v$MDATAGEN_VERSION        .
helm         helm.sh/helm/v${HELM_VERSION%%.*}                                     v$HELM_VERSION            ./cmd/helm
jaeger       github.com/jaegertracing/jaeger                                       v$JAEGER_MODULE_VERSION   ./cmd/jaeger
prometheus   github.com/prometheus/prometheus                                      $prometheus_module_version ./cmd/prometheus,./cmd/promtool remove_all_sd
victorialogs github.com/VictoriaMetrics/VictoriaLogs                               v$VICTORIALOGS_VERSION    ./app/victoria-logs
telemetrygen github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen v$TELEMETRYGEN_VERSION .
etcd         go.etcd.io/etcd/server/v3                                             v$etcd_version            .
kubernetes   k8s.io/kubernetes                                                     v$kube_version            ./cmd/kube-apiserver,./cmd/kubectl staging=v0.${kube_version#*.}
TARGETS

args=(-targets "$targets" -reviewed scripts/licenses-reviewed.tsv -third-party THIRD_PARTY.md -readme README.md -versions scripts/versions.sh)
if [ "${1:-}" = -write ]; then args+=(-write); fi
go run ./internal/cmd/licensegate "${args[@]}"
