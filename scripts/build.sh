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
# `build.sh --compile-only` compiles every package of that build into Go's
# build cache without linking (scripts/test.sh does it while the backends
# build, so that the e2e suite's build only links).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CGO_ENABLED=0
flags=(-trimpath -tags remove_all_sd,enable_kubernetes_sd,enable_dns_sd)
if [ "${1:-}" = --compile-only ]; then
  exec go list "${flags[@]}" -export -deps -f '{{with .Error}}{{.}}{{end}}' ./cmd/gateway
fi
exec go build "${flags[@]}" -o "${1:-bin/vigil}" ./cmd/gateway
