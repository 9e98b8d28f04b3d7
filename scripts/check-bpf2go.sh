#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# check-bpf2go.sh regenerates the committed bpf2go output (ebpf/**/*_bpfel.go
# and *_bpfel.o) with the pinned toolchain and fails if it differs from what
# is committed, i.e. if someone changed a C source or header without
# regenerating, or hand-edited generated code.
#
# Needs: scripts/ebpf-toolchain.sh install (clang-14, llvm-14, libbpf-dev).
# ebpf/headers/vmlinux.h is committed (see ebpf/README.md) so the result does
# not depend on the CI machine's kernel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/ebpf-toolchain.sh install >/dev/null
for gen in $(grep -rl --include='*.go' 'go:generate go tool bpf2go' ebpf); do
  (cd "$(dirname "$gen")" && go generate "./$(basename "$gen")")
done
if ! git diff --exit-code --stat -- ebpf; then
  echo "check-bpf2go: generated eBPF output differs from the committed files; run go generate ./ebpf/... and commit" >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- 'ebpf/*_bpfel.*' 'ebpf/**/*_bpfel.*')
if [[ -n $untracked ]]; then
  echo "check-bpf2go: generated files not committed: $untracked" >&2
  exit 1
fi
echo "check-bpf2go: committed bpf2go output matches the C sources"
