#!/usr/bin/env bash
# gen-components.sh regenerates cmd/gateway/components.go from
# cmd/gateway/builder-config.yaml with the collector builder (ocb). Only the
# component list is kept: main.go is Vigil's own (embedded default config).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/backends.sh" install ocb
eval "$("$root/scripts/backends.sh" env)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp "$root/cmd/gateway/builder-config.yaml" "$out/"
(cd "$out" && "$VIGIL_OCB_BIN" --config builder-config.yaml --skip-compilation --skip-get-modules >/dev/null 2>&1) \
  || { echo "ocb failed" >&2; exit 1; }
gofmt "$out/_build/components.go" >"$root/cmd/gateway/components.go"
echo "wrote cmd/gateway/components.go"
