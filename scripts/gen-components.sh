#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# gen-components.sh regenerates cmd/gateway/components.go from
# cmd/gateway/builder-config.yaml with the collector builder (ocb). Only the
# component list is kept: main.go is Vigil's own (embedded default config).
# ocb's own output goes to stderr; if it fails, so does this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ocb=$(bash "$root/scripts/toolchain.sh" path ocb)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp "$root/cmd/gateway/builder-config.yaml" "$out/"
if ! (cd "$out" && "$ocb" --config builder-config.yaml --skip-compilation --skip-get-modules) >&2; then
  echo "gen-components: ocb failed (its output is above)" >&2
  exit 1
fi
gofmt "$out/_build/components.go" >"$root/cmd/gateway/components.go"
echo "wrote cmd/gateway/components.go"
