#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# check.sh: gofmt, the licence header, go vet, that the committed generated code matches its
# sources (components.go from builder-config.yaml; mdatagen output from each
# metadata.yaml; bpf2go output from the C sources), and the licence and
# version gate (check-licenses.sh: no AGPL, GPL or SSPL module in vigil or in
# what the scripts build, THIRD_PARTY.md current, README's versions = pins).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
unformatted=$(git ls-files '*.go' | grep -v '_bpfel.go$' | xargs gofmt -l)
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
# every hand-written source file carries the licence header (generated files
# carry their generator's "Code generated ... DO NOT EDIT." line instead)
noheader=$(git ls-files '*.go' '*.c' '*.h' '*.sh' | grep -v '_bpfel.go$\|/headers/' \
  | xargs grep -L 'Code generated .* DO NOT EDIT' | xargs grep -L '^\(//\|#\) Copyright The Vigil Authors$' || true)
if [ -n "$noheader" ]; then echo "licence header (Copyright + SPDX lines) missing:"; echo "$noheader"; exit 1; fi
# vet with the shipped binary's flags (their compiles are the build's), and
# the e2e suite with go test's defaults (their compiles are the e2e run's).
bash scripts/build.sh --vet ./...
go vet -tags e2e ./test/e2e/
# The generators rewrite files in place. scripts/test.sh compiles the module
# beside this script, and a compile once read components.go half written
# ("package statement must be first"), so they run in a snapshot of the
# tree (tracked and untracked files, as they are now) with its own git index.
snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null \
  | tar -xf - -C "$snap"
(cd "$snap" && git init -q && git add -A && git -c user.name=check -c user.email=check@localhost \
  commit -q --no-gpg-sign -m snapshot)
(
  cd "$snap"
  bash scripts/gen-components.sh >/dev/null
  git diff --exit-code -- cmd/gateway/components.go || { echo "components.go is stale: run make generate-components"; exit 1; }
  bash scripts/check-mdatagen.sh
  bash scripts/check-bpf2go.sh
)
bash scripts/check-licenses.sh
echo "checks ok"
