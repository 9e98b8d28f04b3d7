#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# build.sh builds a second bench peer: vigil's own distribution (every
# component of cmd/gateway) with contrib's prometheusremotewrite exporter in
# place of vigil's. Against it, the bench compares the two exporters with the
# binary's composition held constant (bench/peer is the minimal upstream
# collector). It works on a copy of the committed tree in the cache (contrib's
# exporter is never added to vigil's go.mod), keyed by the commit, and prints
# the binary's path. Usage:
#   ./bin/bench-runner -peer "$(bash bench/peer-same/build.sh)" -signals metrics -shapes batched ...
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
contrib=v0.165.1
rev=$(git -C "$root" rev-parse --short=12 HEAD)
dir=${VIGIL_CACHE:-$HOME/.cache/vigil}/peer-same-$contrib-$rev
bin=$dir/vigil-contribprw
if [ ! -x "$bin" ]; then
  rm -rf "$dir" && mkdir -p "$dir/src"
  git -C "$root" archive HEAD | tar -x -C "$dir/src"
  cd "$dir/src"
  mkdir cmd/samepeer
  cp cmd/gateway/main.go cmd/gateway/defaultconfig.go cmd/gateway/default-config.yaml cmd/samepeer/
  sed -e 's|prwexporter "github.com/vigil-otel/vigil/exporters/prwexporter"|prwexporter "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"|' \
    -e "s|\(prwexporter.NewFactory().Type(): *\)\"[^\"]*\"|\1\"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter $contrib\"|" \
    cmd/gateway/components.go >cmd/samepeer/components.go
  grep -q prometheusremotewriteexporter cmd/samepeer/components.go || { echo "components.go: vigil's exporter import not found" >&2; exit 1; }
  echo "building the same-composition peer in $dir" >&2
  GOFLAGS=-mod=mod go get "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter@$contrib" >&2
  CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/samepeer >&2
fi
echo "$bin"
