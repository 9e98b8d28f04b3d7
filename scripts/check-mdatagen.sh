#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# check-mdatagen.sh regenerates every component's mdatagen output (the
# //go:generate line of each doc.go that calls scripts/mdatagen.sh: the
# internal/metadata package, generated_*.go, documentation.md) with the pinned
# mdatagen (scripts/versions.sh) and fails if it differs from what is
# committed, i.e. if someone changed a metadata.yaml without regenerating, or
# hand-edited generated code.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mapfile -t docs < <(git ls-files '*.go' | xargs grep -l '^//go:generate bash .*scripts/mdatagen.sh' | sort)
[ ${#docs[@]} -gt 0 ] || { echo "check-mdatagen: no //go:generate line calls scripts/mdatagen.sh" >&2; exit 1; }
dirs=()
for doc in "${docs[@]}"; do
  dirs+=("$(dirname "$doc")")
  (cd "$(dirname "$doc")" && go generate "./$(basename "$doc")")
done
if ! git diff --exit-code --stat -- "${dirs[@]}"; then
  echo "check-mdatagen: mdatagen output differs from the committed files; run go generate on the components above and commit" >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- "${dirs[@]}")
if [[ -n $untracked ]]; then
  echo "check-mdatagen: generated files not committed: $untracked" >&2
  exit 1
fi
echo "check-mdatagen: committed mdatagen output matches ${#dirs[@]} metadata.yaml files"
