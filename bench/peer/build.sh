#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# build.sh builds the bench peer (bench/peer/builder-config.yaml) with the
# collector builder into the cache, keyed by the config's hash, and prints
# the binary's path.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/versions.sh
. "$root/scripts/versions.sh"
ocb=$(bash "$root/scripts/toolchain.sh" path ocb)
hash=$(sha256sum "$root/bench/peer/builder-config.yaml" | cut -c1-12)
dir=${VIGIL_CACHE:-$HOME/.cache/vigil}/peer-$OCB_VERSION-$hash
if [ ! -x "$dir/_build/otelcol-peer" ]; then
  mkdir -p "$dir"
  cp "$root/bench/peer/builder-config.yaml" "$dir/"
  echo "building the bench peer in $dir" >&2
  (cd "$dir" && "$ocb" --config builder-config.yaml >&2)
fi
echo "$dir/_build/otelcol-peer"
