#!/usr/bin/env bash
# mdatagen.sh runs the collector's metadata generator on a component's
# metadata.yaml (called by `go generate` from each component's doc.go, in the
# component's directory). mdatagen v0.160.0 and later cannot be built from the
# module proxy here, so backends.sh builds v0.159.0 into the cache.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/backends.sh" install mdatagen >/dev/null 2>&1 || "$root/scripts/backends.sh" install mdatagen
eval "$("$root/scripts/backends.sh" env)"
exec "$VIGIL_MDATAGEN_BIN" "$@"
