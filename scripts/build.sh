#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# build.sh builds bin/vigil (or the path given). CGO_ENABLED=0 as the
# collector builder (ocb) builds upstream distributions: Vigil needs no cgo
# (cilium/ebpf is pure Go; only net's resolver and os/user would link libc),
# and the cgo build measured ~2% more CPU per span on the same pipeline
# (issue 4 notes).
#
# Build tags: contrib's prometheus receiver registers every Prometheus
# service discovery through github.com/prometheus/prometheus/plugins, whose
# files honour Prometheus' own remove_all_sd / enable_<name>_sd tags. Vigil
# keeps kubernetes (the chart's pod discovery) and dns; static, file and
# http discovery are always built in. The cloud ones (AWS, Azure, GCE,
# Consul, ...) and their SDKs go: 183 → 146 MB. A config naming one of them
# is refused at start (and by `vigil validate`): "field ec2_sd_configs not
# found in type config.ScrapeConfig". The e2e harness builds with this
# script, so the tests run the binary that ships.
#
# `build.sh --vet PACKAGES` runs go vet with this build's flags instead
# (scripts/check.sh): go vet compiles every dependency of what it checks, and
# with the same flags those are the compiles the shipped build reuses from
# Go's build cache, so a cold CI run compiles the tree for the binary once,
# not twice (the separate compile measured 810 CPU-s cold, README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CGO_ENABLED=0
flags=(-trimpath -tags remove_all_sd,enable_kubernetes_sd,enable_dns_sd)
if [ "${1:-}" = --vet ]; then
  shift
  exec go vet "${flags[@]}" "$@"
fi
exec go build "${flags[@]}" -o "${1:-bin/vigil}" ./cmd/gateway
